"""Domain errors and their one mapping to the wire: an `error` frame or a close code.

Nothing else decides what a failure looks like to a client.
"""

import logging
from typing import Final

from protocol.codec import DecodeFailure, encode, format_ts
from protocol.codes import CloseCode, ErrorCode
from protocol.messages import Error, ErrorPayload

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


class RequestError(Exception):
    """A request failed for a reason the client is told; the connection stays open."""

    def __init__(self, code: ErrorCode, message: str | None = None, path: str | None = None):
        super().__init__(message or _MESSAGES.get(code, code.value))
        self.code = code
        self.message = message or _MESSAGES.get(code, code.value)
        self.path = path


class DomainError(Exception):
    """A side-API operation was refused; `code` names why (the HTTP layer maps it)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message  # None: the HTTP layer's message for the code


class CloseConnection(Exception):
    """The connection must be closed with this code."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def error_code_from_ledger(status: str) -> ErrorCode:
    """The wire code for a ledger function's refusal status (an ErrorCode name)."""
    try:
        return ErrorCode(status)
    except ValueError:
        log.error("ledger returned unknown status %r", status)
        return ErrorCode.INTERNAL


def error_frame(
    failure: BaseException, *, rid: str | None, room: str | None, now_s: float
) -> bytes:
    """The encoded `error` frame for any failure; unexpected ones become `INTERNAL`, unexplained."""
    if isinstance(failure, RequestError):
        payload = ErrorPayload(
            code=failure.code,
            message=failure.message,
            retryable=failure.code in _RETRYABLE,
            path=failure.path,
        )
    elif isinstance(failure, DecodeFailure):
        payload = ErrorPayload(
            code=failure.code, message=failure.message, retryable=False, path=failure.path
        )
        rid = failure.rid
    else:
        log.error("request failed", exc_info=failure)
        payload = ErrorPayload(
            code=ErrorCode.INTERNAL, message=_MESSAGES[ErrorCode.INTERNAL], retryable=True
        )
    return encode(Error(rid=rid, room=room, ts=format_ts(now_s), payload=payload))
