"""How a failure looks to a WebSocket client: the one mapping to an `error` frame or a close.

A refusal from the services or the rooms (`Refused`) becomes the error code of the table below;
the gateway's own failures (`RequestError`) carry their code; a malformed frame carries the
codec's; anything else is `INTERNAL`, logged and unexplained. Nothing else decides what a failure
looks like to a client. Likewise, the close code for each reason the server closes a connection
for is chosen in `CLOSE_CODE_OF_REASON` alone.
"""

import logging
from collections.abc import Mapping
from typing import Final

from protocol.codec import DecodeFailure, encode, format_ts
from protocol.codes import CloseCode, CloseReason, ErrorCode
from protocol.messages import Error, ErrorPayload
from roomserver.domain.refusal import Refusal, Refused

log = logging.getLogger(__name__)

# Codes a client may retry unchanged (with the same idempotency key).
_RETRYABLE: Final = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.DRAINING, ErrorCode.INTERNAL})

_MESSAGES: Final = {
    ErrorCode.NOT_FOUND: "no such room",
    ErrorCode.NOT_IN_ROOM: "join the room first",
    ErrorCode.ROOM_FULL: "the tournament is full",
    ErrorCode.TOURNAMENT_NOT_RUNNING: "the tournament is not running",
    ErrorCode.STAKE_OUT_OF_RANGE: "stake outside the room's min_stake..max_stake",
    ErrorCode.INSUFFICIENT_FUNDS: "balance too low for this stake",
    ErrorCode.RG_BLOCKED: "blocked by responsible-gaming limits",
    ErrorCode.RATE_LIMITED: "too many messages; slow down",
    ErrorCode.IDEMPOTENCY_MISMATCH: "idempotency_key was used for a different request",
    ErrorCode.TOKEN_EXPIRED: "token expired",
    ErrorCode.DRAINING: "the server is shutting down; reconnect, to any node",
    ErrorCode.INTERNAL: "internal error",
}

# The wire's code for each refusal a player's request can meet. A refusal missing here never
# should reach a player: it is answered `INTERNAL` and logged.
WIRE_CODE_OF_REFUSAL: Final[Mapping[Refusal, ErrorCode]] = {
    Refusal.NOT_FOUND: ErrorCode.NOT_FOUND,
    Refusal.NOT_IN_ROOM: ErrorCode.NOT_IN_ROOM,
    Refusal.ROOM_FULL: ErrorCode.ROOM_FULL,
    Refusal.TOURNAMENT_NOT_RUNNING: ErrorCode.TOURNAMENT_NOT_RUNNING,
    Refusal.STAKE_OUT_OF_RANGE: ErrorCode.STAKE_OUT_OF_RANGE,
    Refusal.INSUFFICIENT_FUNDS: ErrorCode.INSUFFICIENT_FUNDS,
    Refusal.RG_BLOCKED: ErrorCode.RG_BLOCKED,
    Refusal.IDEMPOTENCY_MISMATCH: ErrorCode.IDEMPOTENCY_MISMATCH,
    Refusal.RATE_LIMITED: ErrorCode.RATE_LIMITED,
    # Races a spin lost more often than it retries: the same request may be sent again.
    Refusal.NONCE_TAKEN: ErrorCode.INTERNAL,
    Refusal.KEY_TAKEN: ErrorCode.INTERNAL,
}


# The close code for each reason the server closes a connection (PROTOCOL.md, close codes).
CLOSE_CODE_OF_REASON: Final[Mapping[CloseReason, CloseCode]] = {
    CloseReason.NOT_AUTHENTICATED: CloseCode.INTERNAL_ERROR,
    CloseReason.TOKEN_EXPIRED: CloseCode.TOKEN_EXPIRED,
    CloseReason.SELF_EXCLUDED: CloseCode.FORBIDDEN,
    CloseReason.MESSAGE_RATE: CloseCode.POLICY_VIOLATION,
    CloseReason.SLOW_CONSUMER: CloseCode.TRY_AGAIN_LATER,
    CloseReason.REPLACED: CloseCode.REPLACED,
    CloseReason.RESTARTING: CloseCode.SERVICE_RESTART,
    CloseReason.STREAM_BROKEN: CloseCode.SERVICE_RESTART,
    CloseReason.INTERNAL_ERROR: CloseCode.INTERNAL_ERROR,
    CloseReason.KEEPALIVE_TIMEOUT: CloseCode.INTERNAL_ERROR,
}


class RequestError(Exception):
    """A request failed at the gateway for a reason the client is told; the connection stays."""

    def __init__(self, code: ErrorCode, message: str | None = None, path: str | None = None):
        """A failure with its code, and a message other than the code's usual one."""
        super().__init__(message or _MESSAGES.get(code, code.value))
        self.code = code
        self.message = message or _MESSAGES.get(code, code.value)
        self.path = path


def wire_code(failure: BaseException) -> ErrorCode:
    """The error code a failure is answered with."""
    if isinstance(failure, RequestError | DecodeFailure):
        return failure.code
    if isinstance(failure, Refused):
        return WIRE_CODE_OF_REFUSAL.get(failure.refusal, ErrorCode.INTERNAL)
    return ErrorCode.INTERNAL


def error_frame(
    failure: BaseException, *, rid: str | None, room: str | None, now_s: float
) -> bytes:
    """The encoded `error` frame for any failure; unexpected ones become `INTERNAL`, unexplained."""
    code = wire_code(failure)
    if isinstance(failure, RequestError):
        payload = ErrorPayload(
            code=code, message=failure.message, retryable=code in _RETRYABLE, path=failure.path
        )
    elif isinstance(failure, DecodeFailure):
        payload = ErrorPayload(
            code=code, message=failure.message, retryable=False, path=failure.path
        )
        rid = failure.rid
    elif isinstance(failure, Refused) and failure.refusal in WIRE_CODE_OF_REFUSAL:
        message = _MESSAGES[code] if code == ErrorCode.INTERNAL else failure.message
        payload = ErrorPayload(
            code=code, message=message or _MESSAGES[code], retryable=code in _RETRYABLE
        )
    else:
        if isinstance(failure, Refused):
            log.error("refusal %s has no wire error code", failure.refusal)
        else:
            log.error("request failed", exc_info=failure)
        payload = ErrorPayload(
            code=ErrorCode.INTERNAL, message=_MESSAGES[ErrorCode.INTERNAL], retryable=True
        )
    return encode(Error(rid=rid, room=room, ts=format_ts(now_s), payload=payload))
