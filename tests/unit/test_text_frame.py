"""A pre-framed broadcast is byte for byte the frame websockets would have built."""

import pytest
from websockets.frames import Frame, Opcode

from protocol.framing import text_frame


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000])
def test_text_frame_matches_the_library_at_every_length_boundary(length: int) -> None:
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected
