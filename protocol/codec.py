"""The one codec of the wire: JSON text frames to and from the message Structs."""

import datetime as dt
import itertools
import re
from typing import Final

import msgspec

from protocol.codes import ErrorCode
from protocol.messages import CLIENT_TYPES, AnyClientMessage, AnyServerMessage

_client_decoder: Final[msgspec.json.Decoder[AnyClientMessage]] = msgspec.json.Decoder(
    AnyClientMessage
)
_server_decoder: Final[msgspec.json.Decoder[AnyServerMessage]] = msgspec.json.Decoder(
    AnyServerMessage
)
_encoder: Final = msgspec.json.Encoder()
_PATH_IN_ERROR: Final = re.compile(r"at `(\$[^`]*)`")

MAX_NESTING_DEPTH: Final = 32
"""The deepest nesting of objects and arrays a client frame may have. v1 messages are flat; the
bound keeps a crafted frame from driving the decoder into deep recursion."""
# A JSON string (its escapes included), to skip the brackets inside strings.
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# +1 for an opening bracket, -1 for a closing one, by byte value.
_DEPTH_STEP: Final = tuple(
    1 if byte in b"{[" else -1 if byte in b"}]" else 0 for byte in range(256)
)
_NOT_BRACKETS: Final = bytes(byte for byte in range(256) if byte not in b"{}[]")


class _Envelope(msgspec.Struct):
    """Just enough of a frame to classify a decode failure and echo its `rid`."""

    type: object = None
    rid: object = None


_envelope_decoder: Final = msgspec.json.Decoder(_Envelope)


class DecodeFailure(Exception):
    """A client frame that is not a valid v1 message."""

    def __init__(self, code: ErrorCode, message: str, path: str | None, rid: str | None) -> None:
        """A failure answered with `code` and `message`; the JSON `path` and `rid` when known."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.rid = rid


def decode_client(data: bytes | str) -> AnyClientMessage:
    """Decode one client frame.

    Raises:
        DecodeFailure: `UNKNOWN_TYPE` for a well-formed frame of a type we do not know, else
            `BAD_MESSAGE` with the JSON path of the first schema violation (also for a frame
            nested deeper than `MAX_NESTING_DEPTH`, and for anything else that fails to decode).
    """
    try:
        if _nested_too_deeply(data):
            raise DecodeFailure(
                ErrorCode.BAD_MESSAGE,
                f"frame is nested deeper than {MAX_NESTING_DEPTH} levels",
                "$",
                None,
            )
        return _client_decoder.decode(data)
    except DecodeFailure:
        raise
    except msgspec.DecodeError as exc:
        raise _classify(data, exc) from None
    except Exception:
        # Not expected once the depth is bounded; a frame must never take the connection down.
        raise DecodeFailure(
            ErrorCode.BAD_MESSAGE, "frame could not be decoded", "$", None
        ) from None


def _nested_too_deeply(data: bytes | str) -> bool:
    """Whether objects and arrays nest deeper than `MAX_NESTING_DEPTH`.

    Brackets inside strings do not count. Cheap for ordinary frames: they hold fewer brackets
    than the bound.
    """
    if isinstance(data, str):
        if data.count("{") + data.count("[") <= MAX_NESTING_DEPTH:
            return False
        data = data.encode("utf-8", "surrogatepass")
    elif data.count(b"{") + data.count(b"[") <= MAX_NESTING_DEPTH:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    # The running sum of the steps is the depth after each bracket (all of it in C).
    depths = itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets))
    return max(depths, default=0) > MAX_NESTING_DEPTH


def _classify(data: bytes | str, exc: msgspec.DecodeError) -> DecodeFailure:
    try:
        envelope = _envelope_decoder.decode(data)
    except Exception:
        return DecodeFailure(ErrorCode.BAD_MESSAGE, "frame is not a JSON object", "$", None)
    rid = envelope.rid if isinstance(envelope.rid, str) and len(envelope.rid) <= 64 else None
    if isinstance(envelope.type, str) and envelope.type not in CLIENT_TYPES:
        return DecodeFailure(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {envelope.type[:64]!r}", "$.type", rid
        )
    text = str(exc)
    match = _PATH_IN_ERROR.search(text)
    return DecodeFailure(ErrorCode.BAD_MESSAGE, text[:256], match.group(1) if match else "$", rid)


def decode_server(data: bytes | str) -> AnyServerMessage:
    """Decode one server frame (clients and tests)."""
    return _server_decoder.decode(data)


def encode(message: msgspec.Struct) -> bytes:
    """Encode a message as the UTF-8 JSON of one text frame."""
    return _encoder.encode(message)


def format_ts(epoch_s: float) -> str:
    """UTC ISO-8601 with milliseconds, e.g. `2026-11-21T10:00:00.123Z`."""
    moment = dt.datetime.fromtimestamp(epoch_s, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def binary_frame_text(data: bytes) -> str:
    """A binary frame's bytes as text: a binary frame holding UTF-8 JSON reads like a text frame.

    Raises:
        DecodeFailure: `BAD_MESSAGE` when they are not UTF-8.
    """
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise DecodeFailure(
            ErrorCode.BAD_MESSAGE, "a binary frame must hold UTF-8 JSON", "$", None
        ) from None
