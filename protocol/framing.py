"""WebSocket framing for the broadcast fast path (RFC 6455 5.2), pure."""

import struct


def text_frame(payload: bytes) -> bytes:
    """The bytes of one unfragmented, unmasked WebSocket text frame.

    A broadcast frames its payload once and writes the same bytes to every member's socket,
    instead of each connection building its own copy of the header and the data.
    """
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload
