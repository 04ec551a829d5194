"""Keeps player tokens out of logs: `?token=...` and `Bearer ...` are masked in every record.

websockets logs request lines and headers at DEBUG; the filter sits on the handlers so no
logger, ours or a library's, can write a token.
"""

import logging
import re
from typing import Final

_TOKEN: Final = re.compile(r"(token=|Bearer\s+)[^\s&\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """The text with every token replaced by `[redacted]`."""
    return _TOKEN.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites each record's message, once its arguments are merged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message; always keep the record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str) -> None:
    """Root logging to stderr with token redaction on the handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
