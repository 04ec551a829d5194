"""msgspec against orjson on our own frames: encode a server frame, decode a client frame.

The frames are the protocol's structs (protocol/messages.py), as the node holds them. msgspec
encodes a struct directly; orjson cannot (it knows dataclasses, not msgspec structs), so its
encode is measured twice: from the struct (`msgspec.to_builtins` first, what using orjson here
would cost) and from plain dicts and lists already built (its best case, which no code of ours
has). Decoding a client frame: msgspec's typed decoder (parse and validate in one pass) against
`orjson.loads` to dicts (parse only; the validation would still be to write). Run from the
project root, with the dev extras installed (orjson is one):

    .venv/bin/python bench/codecs.py
"""

import functools
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocol.codec import decode_client, encode
from protocol.messages import (
    AnyClientMessage,
    FairnessPayload,
    LeaderboardEntry,
    LeaderboardUpdated,
    LeaderboardUpdatedPayload,
    RankChange,
    SpinOutcomePayload,
    SpinResult,
    SpinResultPayload,
)

TS = "2026-12-03T10:00:00.123Z"

SPIN_RESULT = SpinResult(
    rid="r12",
    room="t_09f6ea2069a0df9e0c62f5c0",
    ts=TS,
    payload=SpinResultPayload(
        spin_id="0b8e6f1c-5d7a-4c1e-9a3b-2f4d6e8a0c1b",
        round_id="0b8e6f1c-5d7a-4c1e-9a3b-2f4d6e8a0c1b",
        stake=100,
        win=250,
        balance=99_750,
        currency="EUR",
        score=1_250,
        rank=3,
        outcome=SpinOutcomePayload(
            symbols=["cherry", "cherry", "bell"],
            stops=[3, 17, 9],
            multiplier=2,
            rule="two_cherries",
            features=[],
        ),
        fairness=FairnessPayload(
            server_seed_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            client_seed="a1b2c3d4e5f60718",
            nonce=42,
            math_version="fruit-3/1",
        ),
    ),
)

LEADERBOARD = LeaderboardUpdated(
    room="t_09f6ea2069a0df9e0c62f5c0",
    seq=1_733_220_000_123,
    ts=TS,
    payload=LeaderboardUpdatedPayload(
        entries=[
            LeaderboardEntry(f"lt-{n:06d}", f"Player {n}", 10_000 - 100 * n, n)
            for n in range(1, 11)
        ],
        changed=[RankChange("lt-000004", 6, 4), RankChange("lt-000006", 4, 6)],
    ),
)

CLIENT_SPIN = (
    b'{"type":"spin","rid":"r12","room":"t_09f6ea2069a0df9e0c62f5c0","stake":100,'
    b'"idempotency_key":"0b8e6f1c-5d7a-4c1e-9a3b-2f4d6e8a0c1b","client_seed":"a1b2c3d4e5f60718"}'
)


CLIENT_DECODER = msgspec.json.Decoder(AnyClientMessage)


def _orjson_from_struct(frame: msgspec.Struct) -> bytes:
    return orjson.dumps(msgspec.to_builtins(frame))


def per_call_us(function: Callable[[], object], number: int = 20_000) -> tuple[float, float, float]:
    """Median, min and max of 5 runs, in microseconds per call."""
    runs = [timeit.timeit(function, number=number) / number * 1e6 for _ in range(5)]
    return statistics.median(runs), min(runs), max(runs)


def main() -> None:
    """Print a Markdown table of microseconds per call."""
    cases: list[tuple[str, Callable[[], object]]] = []
    for name, frame in (("spin.result", SPIN_RESULT), ("leaderboard.updated (10)", LEADERBOARD)):
        builtins = msgspec.to_builtins(frame)
        assert orjson.loads(orjson.dumps(builtins)) == msgspec.json.decode(encode(frame))
        cases += [
            (f"encode {name}: msgspec, from the struct", functools.partial(encode, frame)),
            (
                f"encode {name}: orjson, from the struct (to_builtins + dumps)",
                functools.partial(_orjson_from_struct, frame),
            ),
            (f"encode {name}: orjson, from ready dicts", functools.partial(orjson.dumps, builtins)),
        ]
    cases += [
        ("decode client spin: msgspec, typed and validated", lambda: decode_client(CLIENT_SPIN)),
        (
            "decode client spin: msgspec's typed decoder alone (no nesting pre-check)",
            lambda: CLIENT_DECODER.decode(CLIENT_SPIN),
        ),
        (
            "decode client spin: orjson.loads, dicts, not validated",
            lambda: orjson.loads(CLIENT_SPIN),
        ),
    ]
    python = sys.version.split()[0]
    print(f"msgspec {msgspec.__version__}, orjson {orjson.__version__}, Python {python}")
    print("\n| job | µs per call, median of 5 (min-max) |\n|---|---|")
    for name, function in cases:
        median, low, high = per_call_us(function)
        print(f"| {name} | {median:.2f} ({low:.2f}-{high:.2f}) |")


if __name__ == "__main__":
    main()
