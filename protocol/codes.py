"""Error codes (in `error.payload.code`) and WebSocket close codes of protocol v1."""

from enum import IntEnum, StrEnum
from typing import Final

SUBPROTOCOL: Final = "roomserver.v1"


class ErrorCode(StrEnum):
    """Why a request failed; sent in an `error` frame, the connection stays open."""

    BAD_MESSAGE = "BAD_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    NOT_FOUND = "NOT_FOUND"
    NOT_IN_ROOM = "NOT_IN_ROOM"
    ROOM_FULL = "ROOM_FULL"
    TOURNAMENT_NOT_RUNNING = "TOURNAMENT_NOT_RUNNING"
    STAKE_OUT_OF_RANGE = "STAKE_OUT_OF_RANGE"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    RG_BLOCKED = "RG_BLOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    DRAINING = "DRAINING"
    INTERNAL = "INTERNAL"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    INVALID_DATA = 1007
    """A text frame that is not valid UTF-8 (RFC 6455, section 8.1)."""
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    TOKEN_EXPIRED = 4001
    FORBIDDEN = 4003
    REPLACED = 4009


class CloseReason(StrEnum):
    """Why the server closes a connection; the value is the close frame's reason text.

    `roomserver.gateway.wire_errors` gives each its close code, in one table.
    """

    NOT_AUTHENTICATED = "not authenticated"
    TOKEN_EXPIRED = "token expired"
    SELF_EXCLUDED = "self-excluded"
    MESSAGE_RATE = "message rate limit exceeded"
    SLOW_CONSUMER = "slow consumer"
    REPLACED = "replaced by a newer connection"
    RESTARTING = "server restarting"
    STREAM_BROKEN = "room stream interrupted; rejoin to resume"
    INTERNAL_ERROR = "internal error"
    KEEPALIVE_TIMEOUT = "keepalive ping timeout"
