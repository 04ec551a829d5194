"""Tokens never reach the logs."""

import logging

import pytest

from roomserver.ops.log_redaction import RedactTokens, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /ws?token=eyJ.abc.def HTTP/1.1", "GET /ws?token=[redacted] HTTP/1.1"),
        ("GET /ws?a=1&token=eyJ.abc&b=2", "GET /ws?a=1&token=[redacted]&b=2"),
        ("Authorization: Bearer eyJ.abc.def", "Authorization: Bearer [redacted]"),
        ("authorization: bearer eyJ.x", "authorization: bearer [redacted]"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_the_filter_masks_tokens_in_formatted_arguments() -> None:
    record = logging.LogRecord(
        "websockets.server",
        logging.DEBUG,
        __file__,
        1,
        "< GET %s HTTP/1.1",
        ("/ws?token=s3cret",),
        None,
    )
    assert RedactTokens().filter(record) is True
    assert record.getMessage() == "< GET /ws?token=[redacted] HTTP/1.1"
    assert "s3cret" not in record.getMessage()
