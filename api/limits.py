"""Bounds on what a request may carry: its headers, its body's size and its JSON nesting.

Over a bound, the request is answered with the one error body: 431 for the headers, 413 for the
body's size and 400 for its nesting.
"""

import asyncio
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from api.errors import ApiError, ErrorBody
from api.tracing import trace_id_of

# A refused request's remaining body is read and dropped, up to these bounds, before the answer:
# closing a connection with unread data makes TCP reset it, and the client may then lose the
# answer.
_DRAIN_MAX_BYTES: Final = 4 * 1024 * 1024
_DRAIN_MAX_S: Final = 2.0

_OPEN: Final = frozenset(b"[{")
_CLOSE: Final = frozenset(b"]}")
_QUOTE: Final = ord('"')
_BACKSLASH: Final = ord("\\")


class JsonDepth:
    """Tracks how deep a JSON text fed in pieces nests arrays and objects.

    Brackets inside strings do not count. Malformed text is not judged here (the decoder
    refuses it); this only keeps the decoder from recursing without bound.
    """

    def __init__(self, limit: int) -> None:
        """Start before the text's first byte, allowing `limit` levels of nesting."""
        self._limit = limit
        self._depth = 0
        self._in_string = False
        self._escaped = False
        # Until the text holds more opening brackets than the limit it cannot nest too deep,
        # so the pieces are only kept, not scanned.
        self._opens = 0
        self._pending: list[bytes] | None = []

    def exceeded_by(self, piece: bytes) -> bool:
        """Add the next piece of the text; whether the text now nests deeper than the limit."""
        if self._pending is not None:
            self._pending.append(piece)
            self._opens += piece.count(b"[") + piece.count(b"{")
            if self._opens <= self._limit:
                return False
            piece = b"".join(self._pending)
            self._pending = None
        return self._scan(piece)

    def _scan(self, piece: bytes) -> bool:
        depth, in_string, escaped = self._depth, self._in_string, self._escaped
        for byte in piece:
            if in_string:
                if escaped:
                    escaped = False
                elif byte == _BACKSLASH:
                    escaped = True
                elif byte == _QUOTE:
                    in_string = False
            elif byte == _QUOTE:
                in_string = True
            elif byte in _OPEN:
                depth += 1
                if depth > self._limit:
                    return True
            elif byte in _CLOSE:
                depth -= 1
        self._depth, self._in_string, self._escaped = depth, in_string, escaped
        return False


def limit_body(request: Request[Any, Any, Any], max_bytes: int, max_depth: int) -> None:
    """Bound the body `request` will read, judging it as it arrives.

    Over `max_bytes` is 413, nested deeper than `max_depth` is 400, both with the error body.

    The depth is judged first on the bytes within the size limit, so a deeply nested body is a
    400 however long it is; only the first `max_bytes` (and one more chunk) are ever read.
    """
    receive = request.receive
    depth = JsonDepth(max_depth)
    received = 0

    async def bounded_receive() -> ReceiveMessage:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            piece: bytes = message.get("body", b"")
            within = piece[: max(0, max_bytes - received)]
            received += len(piece)
            refusal = None
            if depth.exceeded_by(within):
                message_text = f"the JSON body is nested deeper than {max_depth}"
                refusal = ApiError("BAD_REQUEST", message_text, status=400)
            elif received > max_bytes:
                message_text = f"the request body is over {max_bytes} bytes"
                refusal = ApiError("PAYLOAD_TOO_LARGE", message_text)
            if refusal is not None:
                if message.get("more_body", False):
                    await drain_body(receive)
                raise refusal
        return message

    request.receive = bounded_receive


async def drain_body(receive: Receive) -> None:
    """Read and drop the rest of a request body, within bounds of size and time."""
    drained = 0
    try:
        async with asyncio.timeout(_DRAIN_MAX_S):
            while drained <= _DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


class HeaderLimit:
    """ASGI wrapper that refuses a request whose headers are too large.

    A request whose headers (names and values together) exceed `max_bytes` is answered 431 with
    the error body before any routing, authentication or parsing.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap `app`, allowing `max_bytes` of header names and values."""
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, or refuse its headers."""
        if scope["type"] == ScopeType.HTTP:
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self._max_bytes:
                await drain_body(receive)
                await self._refuse(scope, send)
                return
        await self._app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = ApiError(
            "HEADERS_TOO_LARGE", f"the request headers are over {self._max_bytes} bytes"
        )
        trace_id = trace_id_of(scope)
        body = msgspec.json.encode(
            ErrorBody(code=error.code, message=error.message, retryable=False, trace_id=trace_id)
        )
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-trace-id", trace_id.encode()),
                    # The body (possibly large) is not read; the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
