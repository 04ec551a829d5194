"""The one error body of the side API, and the one mapping from failure to HTTP status."""

import logging
from collections.abc import Mapping
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from api.tracing import trace_id_of
from roomserver.domain.refusal import Refusal, Refused

log = logging.getLogger(__name__)


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error response: what failed, whether to retry unchanged, and the trace id."""

    code: str
    message: str
    retryable: bool
    trace_id: str


# The HTTP answer to each refusal of the domain and the ledger: its status, and the message
# when the refusal comes without one. The code in the body is the refusal's own name.
HTTP_OF_REFUSAL: Final[Mapping[Refusal, tuple[int, str | None]]] = {
    Refusal.NOT_FOUND: (404, "not found"),
    Refusal.PLAYER_NOT_FOUND: (404, "no such player"),
    Refusal.NOT_REGISTERED: (404, "the player is not registered in this tournament"),
    Refusal.BET_NOT_FOUND: (404, "no authorized bet with this id"),
    Refusal.RG_BLOCKED: (403, "blocked by responsible-gaming limits"),
    Refusal.DUPLICATE: (409, None),
    Refusal.ROOM_FULL: (409, "the tournament is full"),
    Refusal.TOURNAMENT_NOT_RUNNING: (409, "the tournament is not open for this"),
    Refusal.TOURNAMENT_RUNNING: (409, "a running scheduled tournament cannot be left"),
    Refusal.TOURNAMENT_FINISHED: (409, "the tournament is completing or over"),
    Refusal.TRANSACTION_ROLLED_BACK: (
        409,
        "this transaction id was rolled back; the bet is refused",
    ),
    Refusal.ROUND_SETTLED: (409, "the round is settled; its bets cannot be rolled back"),
    Refusal.ALREADY_SETTLED: (409, "the bet is settled; it cannot be rolled back"),
    Refusal.ALREADY_ROLLED_BACK: (409, "the bet is rolled back; it cannot be settled"),
    Refusal.IDEMPOTENCY_MISMATCH: (
        422,
        "this id or idempotency key was used for a different request",
    ),
    Refusal.INSUFFICIENT_FUNDS: (422, "balance too low"),
    Refusal.CURRENCY_MISMATCH: (422, "the player's account is in another currency"),
    Refusal.ROUND_MISMATCH: (422, "round_id differs from the authorized bet's"),
    Refusal.UNKNOWN_GAME: (422, None),
    Refusal.NOT_IN_ROOM: (422, None),
    Refusal.STAKE_OUT_OF_RANGE: (422, None),
    Refusal.TOURNAMENT_NOT_ENDED: (422, None),
    Refusal.RATE_LIMITED: (429, None),
    Refusal.NONCE_TAKEN: (409, None),
    Refusal.KEY_TAKEN: (409, None),
}

# The HTTP edge's own codes (credentials, limits, malformed requests), by status.
_STATUS_OF_EDGE_CODE: Final[Mapping[str, int]] = {
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "BAD_SIGNATURE": 401,
    "TOKEN_INVALID": 401,
    "TOKEN_EXPIRED": 401,
    "FORBIDDEN": 403,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "UNPROCESSABLE": 422,
    "RATE_LIMITED": 429,
    "HEADERS_TOO_LARGE": 431,
    "INTERNAL": 500,
    "NOT_READY": 503,
}

_RETRYABLE: Final = frozenset({"RATE_LIMITED", "INTERNAL", "NOT_READY"})


def _status_and_message(code: str) -> tuple[int, str | None]:
    """The status of a code (422 when unknown), and its message, if it has one of its own."""
    if code in Refusal.__members__:
        return HTTP_OF_REFUSAL.get(Refusal(code), (422, None))
    return _STATUS_OF_EDGE_CODE.get(code, 422), None


class ApiError(Exception):
    """A request failed with a status, a code and a message for the caller."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        """A failure with `code`, a `Refusal` or an edge code; status and message follow it."""
        default_status, default_message = _status_and_message(code)
        self.code = str(code)
        self.status = status or default_status
        self.message = message or default_message or code.replace("_", " ").lower()
        self.headers = headers or {}
        # By default only transient failures are worth retrying unchanged.
        self.retryable = code in _RETRYABLE if retryable is None else retryable
        super().__init__(self.message)

    @classmethod
    def from_refused(cls, refused: Refused) -> "ApiError":
        """The HTTP form of a refusal from the domain or the ledger."""
        return cls(refused.refusal, refused.message)


ERROR_STATUSES: Final = (400, 401, 403, 404, 409, 413, 422, 429, 500)


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route may answer with."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[status])
        for status in statuses or ERROR_STATUSES
    }


_DESCRIPTIONS: Final = {
    400: "Malformed request",
    401: "Unauthenticated: bad API key, signature or token",
    403: "Forbidden: missing scope, or blocked by responsible gaming",
    404: "Not found",
    409: "Conflict with the current state, or a request with this idempotency key in flight",
    413: "The request body is too large",
    422: "Refused by a business rule",
    429: "Rate limited; see Retry-After",
    431: "The request headers are too large",
    500: "Internal error",
    503: "Not ready",
}


def _error_response(request: Request[Any, Any, Any], error: ApiError) -> Response[ErrorBody]:
    body = ErrorBody(
        code=error.code,
        message=error.message,
        retryable=error.retryable,
        trace_id=trace_id_of(request.scope),
    )
    return Response(body, status_code=error.status, headers=error.headers)


def handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorBody]:
    """ApiError -> the error body."""
    return _error_response(request, exc)


def handle_refused(request: Request[Any, Any, Any], exc: Refused) -> Response[ErrorBody]:
    """A refusal from the domain or the ledger -> the error body."""
    return _error_response(request, ApiError.from_refused(exc))


def handle_http_exception(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[ErrorBody]:
    """The framework's own errors (validation, unknown route, method) -> the error body."""
    if isinstance(exc, ValidationException):
        message = _validation_message(exc)
        return _error_response(request, ApiError("BAD_REQUEST", message, status=400))
    status = exc.status_code
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(status)
    if status >= 500 or (code is None and status not in _DESCRIPTIONS):
        return handle_unexpected(request, exc)
    headers = dict(exc.headers or {})
    return _error_response(
        request, ApiError(code or "BAD_REQUEST", str(exc.detail), status=status, headers=headers)
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """Anything else: logged with its trace id, answered without details."""
    log.error("request failed (trace_id=%s)", trace_id_of(request.scope), exc_info=exc)
    return _error_response(request, ApiError("INTERNAL", "internal error", status=500))


def _validation_message(exc: ValidationException) -> str:
    extra = exc.extra
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        first = extra[0]
        key = first.get("key")
        message = first.get("message", "invalid value")
        return f"{message} (at {key})" if key else str(message)
    return str(exc.detail) or "malformed request"
