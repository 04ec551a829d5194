"""Trace ids: `X-Trace-Id` honoured when sane, else generated; echoed on every response."""

import re
import uuid
from collections.abc import MutableMapping
from typing import Any, Final

from litestar.types import Message, Scope

_SCOPE_KEY: Final = "roomserver.trace_id"
_VALID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def trace_id_of(scope: Scope | MutableMapping[str, Any]) -> str:
    """The request's trace id (the caller's when well-formed, else a new one), fixed per request."""
    store: MutableMapping[str, Any] = scope  # type: ignore[assignment]
    trace_id = store.get(_SCOPE_KEY)
    if trace_id is None:
        trace_id = uuid.uuid4().hex
        for name, value in store.get("headers", ()):
            if name == b"x-trace-id":
                candidate = value.decode("latin-1")
                if _VALID.match(candidate):
                    trace_id = candidate
                break
        store[_SCOPE_KEY] = trace_id
    return str(trace_id)


async def echo_trace_id(message: Message, scope: Scope) -> None:
    """`before_send` hook: add `X-Trace-Id` to every response."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers") or [])
        headers.append((b"x-trace-id", trace_id_of(scope).encode()))
        message["headers"] = headers
