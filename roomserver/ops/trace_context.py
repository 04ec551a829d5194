"""The trace id of the request being served, carried from the side API into the events it causes."""

from contextvars import ContextVar
from typing import Final

current_trace_id: Final[ContextVar[str | None]] = ContextVar("current_trace_id", default=None)
