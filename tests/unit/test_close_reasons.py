"""Every reason the server closes a connection for has its close code in one table."""

import re
from pathlib import Path

from protocol.codes import CloseReason
from roomserver.gateway.wire_errors import CLOSE_CODE_OF_REASON

ROOMSERVER = Path(__file__).parents[2] / "roomserver"


def test_every_close_reason_has_a_close_code() -> None:
    assert set(CLOSE_CODE_OF_REASON) == set(CloseReason)


def test_close_codes_are_chosen_only_in_the_wire_errors_table() -> None:
    choosing = [
        f"{path.relative_to(ROOMSERVER)}:{number}"
        for path in ROOMSERVER.rglob("*.py")
        if path.name != "wire_errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bCloseCode\.", line)
    ]
    assert choosing == []


def test_a_reason_text_fits_a_close_frame() -> None:
    # RFC 6455 5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
    for reason in CloseReason:
        assert len(reason.value.encode()) <= 123


def test_the_codes_are_the_protocols() -> None:
    codes = {reason: int(code) for reason, code in CLOSE_CODE_OF_REASON.items()}
    assert codes[CloseReason.TOKEN_EXPIRED] == 4001
    assert codes[CloseReason.SELF_EXCLUDED] == 4003
    assert codes[CloseReason.REPLACED] == 4009
    assert codes[CloseReason.SLOW_CONSUMER] == 1013
    assert codes[CloseReason.RESTARTING] == 1012
    assert codes[CloseReason.MESSAGE_RATE] == 1008
