"""Tests for the wire codec: client decoding, error classification, server encoding."""

from __future__ import annotations

import contextlib
import json
import random
import re
from typing import Any, get_args

import msgspec
import pytest

from protocol.codec import (
    MAX_NESTING_DEPTH,
    DecodeFailure,
    decode_client,
    decode_server,
    encode,
    format_ts,
)
from protocol.codes import ErrorCode
from protocol.messages import (
    AnyClientMessage,
    AnyServerMessage,
    Balance,
    BalanceGet,
    BalancePayload,
    BenchPublish,
    BenchUpdate,
    DrainingPayload,
    Error,
    ErrorPayload,
    FairnessPayload,
    LeaderboardEntry,
    LeaderboardUpdated,
    LeaderboardUpdatedPayload,
    Ping,
    PlayerConnected,
    PlayerDisconnected,
    PlayerScoreUpdated,
    Pong,
    PongPayload,
    PresencePayload,
    PrizePayload,
    RankChange,
    RealityCheck,
    RealityCheckPayload,
    RoomConfig,
    RoomJoin,
    RoomLeave,
    RoomLeft,
    RoomResumed,
    RoomResumedPayload,
    RoomSnapshot,
    RoomSnapshotPayload,
    ScorePayload,
    ServerDraining,
    Spin,
    SpinOutcomePayload,
    SpinResult,
    SpinResultPayload,
    TournamentCompleted,
    TournamentCompletedPayload,
    TournamentStarted,
    TournamentStartedPayload,
    You,
)

TS = "2026-11-21T10:00:00.123Z"


def frame(**fields: Any) -> bytes:
    """One client frame as the browser would send it."""
    return json.dumps(fields).encode()


def failure_of(data: bytes | str) -> DecodeFailure:
    """The DecodeFailure that decoding `data` must raise."""
    with pytest.raises(DecodeFailure) as caught:
        decode_client(data)
    return caught.value


def spin_frame(**overrides: Any) -> bytes:
    """A valid spin frame with some fields replaced (or removed when the value is None)."""
    fields: dict[str, Any] = {
        "type": "spin",
        "rid": "c-1",
        "room": "t-100",
        "stake": 100,
        "idempotency_key": "spin-1",
    }
    fields.update(overrides)
    return frame(**{key: value for key, value in fields.items() if value is not None})


# ---------------------------------------------------------------- client messages decode


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (frame(type="room.join", rid="r1", room="t-100"), RoomJoin(rid="r1", room="t-100")),
        (
            frame(type="room.join", rid="r2", room="t-100", since_seq=17),
            RoomJoin(rid="r2", room="t-100", since_seq=17),
        ),
        (frame(type="room.leave", rid="r3", room="t-100"), RoomLeave(rid="r3", room="t-100")),
        (
            frame(type="spin", rid="r4", room="t-100", stake=100, idempotency_key="k-1"),
            Spin(rid="r4", room="t-100", stake=100, idempotency_key="k-1"),
        ),
        (
            frame(
                type="spin",
                rid="r5",
                room="t-100",
                stake=10**12,
                idempotency_key="k" * 128,
                client_seed="lucky",
            ),
            Spin(
                rid="r5",
                room="t-100",
                stake=10**12,
                idempotency_key="k" * 128,
                client_seed="lucky",
            ),
        ),
        (frame(type="balance.get", rid="r6", room="t-100"), BalanceGet(rid="r6", room="t-100")),
        (frame(type="ping", rid="r7"), Ping(rid="r7")),
        (frame(type="ping", rid="r8", t=1234.5), Ping(rid="r8", t=1234.5)),
        (
            b'{"type":"bench.publish","rid":"r9","room":"t-100","payload": {"a" : [1, 2]}}',
            BenchPublish(rid="r9", room="t-100", payload=msgspec.Raw(b'{"a" : [1, 2]}')),
        ),
    ],
    ids=[
        "join",
        "join-since-seq",
        "leave",
        "spin",
        "spin-client-seed",
        "balance",
        "ping",
        "ping-t",
        "bench-publish-raw",
    ],
)
def test_every_client_message_decodes(data: bytes, expected: AnyClientMessage) -> None:
    message = decode_client(data)
    assert type(message) is type(expected)
    assert message == expected


def test_decode_accepts_text_frames_too() -> None:
    assert decode_client('{"type":"ping","rid":"x"}') == Ping(rid="x")


def test_rid_is_optional() -> None:
    message = decode_client(frame(type="room.leave", room="t-1"))
    assert message == RoomLeave(room="t-1")
    assert message.rid is None


# ---------------------------------------------------------------- decode failures


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe\x00garbage", b"not json", b"", b'{"type": "ping"', b'"ping"', b"42", b"null"],
)
def test_unparseable_or_non_object_frame_is_bad_message_at_root(data: bytes) -> None:
    failure = failure_of(data)
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == "$"
    assert failure.rid is None


def test_json_array_is_bad_message() -> None:
    failure = failure_of(b'[{"type": "ping", "rid": "r"}]')
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == "$"


def test_unknown_type_echoes_rid() -> None:
    failure = failure_of(frame(type="spin.everything", rid="c-9", room="t-1"))
    assert failure.code is ErrorCode.UNKNOWN_TYPE
    assert failure.rid == "c-9"
    assert failure.path == "$.type"
    assert "spin.everything" in failure.message


def test_server_type_sent_by_a_client_is_unknown() -> None:
    """Server frame types are not requests: a client cannot send `pong`."""
    failure = failure_of(frame(type="pong", rid="c-1"))
    assert failure.code is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (spin_frame(stake=0), "$.stake"),
        (spin_frame(stake=-5), "$.stake"),
        (spin_frame(stake=10**12 + 1), "$.stake"),
        (spin_frame(stake="100"), "$.stake"),
        (spin_frame(stake=1.5), "$.stake"),
        (spin_frame(idempotency_key="k" * 129), "$.idempotency_key"),
        (spin_frame(idempotency_key=""), "$.idempotency_key"),
        (spin_frame(client_seed=""), "$.client_seed"),
        (spin_frame(room="t 100"), "$.room"),
        (spin_frame(room=""), "$.room"),
        (spin_frame(room="r" * 65), "$.room"),
        (frame(type="room.join", rid="c-1", room="t-1", since_seq=-1), "$.since_seq"),
        (frame(type="ping", rid="c-1", t="now"), "$.t"),
    ],
    ids=[
        "stake-0",
        "stake-negative",
        "stake-too-big",
        "stake-string",
        "stake-float",
        "key-129",
        "key-empty",
        "seed-empty",
        "room-space",
        "room-empty",
        "room-65",
        "since-seq-negative",
        "t-string",
    ],
)
def test_schema_violation_is_bad_message_with_path(data: bytes, path: str) -> None:
    failure = failure_of(data)
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == path
    assert failure.rid == "c-1"
    assert len(failure.message) <= 256


def test_missing_required_field_is_bad_message_naming_it() -> None:
    failure = failure_of(frame(type="room.join", rid="c-1"))
    assert failure.code is ErrorCode.BAD_MESSAGE
    # msgspec reports a missing field at the object that lacks it.
    assert failure.path == "$"
    assert "`room`" in failure.message
    assert failure.rid == "c-1"


def test_missing_type_is_bad_message() -> None:
    failure = failure_of(frame(rid="c-1", room="t-1"))
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.rid == "c-1"


def test_non_string_type_is_bad_message_not_unknown() -> None:
    failure = failure_of(frame(type=7, rid="c-1"))
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == "$.type"


@pytest.mark.parametrize("rid", [5, 1.5, True, ["r"], {"r": 1}, "r" * 65])
def test_rid_that_is_not_a_short_string_is_not_echoed(rid: object) -> None:
    """Echoing arbitrary JSON back as `rid` would break the reply's own schema."""
    failure = failure_of(frame(type="nope", rid=rid))
    assert failure.code is ErrorCode.UNKNOWN_TYPE
    assert failure.rid is None


def test_unknown_type_name_is_truncated_in_message() -> None:
    failure = failure_of(frame(type="x" * 10_000, rid="c-1"))
    assert failure.code is ErrorCode.UNKNOWN_TYPE
    assert len(failure.message) < 200


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"idempotency_key": "k\x00"}, "$.idempotency_key"),
        ({"idempotency_key": "\x00"}, "$.idempotency_key"),
        ({"idempotency_key": "k\n1"}, "$.idempotency_key"),
        ({"idempotency_key": "k\x1b[2J"}, "$.idempotency_key"),
        ({"idempotency_key": "k\x7f"}, "$.idempotency_key"),
        ({"idempotency_key": "k\x85"}, "$.idempotency_key"),
        ({"idempotency_key": "k-1\n"}, "$.idempotency_key"),
        ({"room": "t\x00100"}, "$.room"),
        ({"room": "t-100\n"}, "$.room"),
        ({"room": "t\t100"}, "$.room"),
    ],
    ids=[
        "key-nul",
        "key-only-nul",
        "key-newline",
        "key-escape",
        "key-del",
        "key-c1",
        "key-final-newline",
        "room-nul",
        "room-newline",
        "room-tab",
    ],
)
def test_control_characters_in_ids_are_bad_message(fields: dict[str, str], path: str) -> None:
    """Never INTERNAL later, from the database refusing a NUL byte."""
    failure = failure_of(spin_frame(**fields))
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == path
    assert failure.rid == "c-1"


def test_printable_unicode_idempotency_key_is_accepted() -> None:
    message = decode_client(spin_frame(idempotency_key="spin-é-✓-9f1c"))
    assert isinstance(message, Spin)
    assert message.idempotency_key == "spin-é-✓-9f1c"


def nested(depth: int, opening: str = '{"a":', closing: str = "}") -> str:
    return opening * depth + "1" + closing * depth


@pytest.mark.parametrize(
    "data",
    [
        '{"type": "ping", "rid": "p", "extra": ' + nested(2_500) + "}",
        '{"type": "ping", "rid": "p", "extra": ' + nested(100_000, "[", "]") + "}",
        '{"type": "ping", "rid": "p", "extra": ' + nested(32) + "}",
        '{"type": ' + nested(5_000) + "}",
        nested(50_000, "[", "]"),
        "[" * 50_000,
        '{"type": "dance", "rid": "p", "extra": ' + nested(2_500) + "}",
    ],
    ids=["ping-2500", "ping-arrays-100k", "ping-33", "type-5000", "arrays", "unclosed", "unknown"],
)
@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "str"])
def test_frames_nested_past_the_bound_are_bad_message(data: str, as_bytes: bool) -> None:
    """Refused before decoding: a deep frame never reaches the decoder's recursion."""
    failure = failure_of(data.encode() if as_bytes else data)
    assert failure.code is ErrorCode.BAD_MESSAGE
    assert failure.path == "$"
    assert str(MAX_NESTING_DEPTH) in failure.message


def test_nesting_up_to_the_bound_is_accepted() -> None:
    # The frame's own object is the first level.
    data = '{"type": "ping", "rid": "p", "extra": ' + nested(MAX_NESTING_DEPTH - 1) + "}"
    assert decode_client(data) == Ping(rid="p")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    data = frame(type="ping", rid="p", extra="{[" * 1_000 + '\\"[[[' + "]")
    assert decode_client(data) == Ping(rid="p")
    assert decode_client(data.decode()) == Ping(rid="p")


def test_random_frames_only_ever_raise_decode_failure() -> None:
    rng = random.Random(20261122)
    alphabet = '{}[]":,\\ 0123456789.-+eE truefalsnl\x00\xff"type""ping""spin"'
    for _ in range(2_000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        for form in (data, data.encode("utf-8", "surrogatepass")):
            with contextlib.suppress(DecodeFailure):
                decode_client(form)


# ---------------------------------------------------------------- server messages encode


def decoded_json(message: msgspec.Struct) -> dict[str, Any]:
    """The encoded frame parsed back as plain JSON."""
    result: dict[str, Any] = json.loads(encode(message))
    return result


def test_error_frame_omits_absent_optional_fields() -> None:
    error = Error(
        ts=TS,
        payload=ErrorPayload(code=ErrorCode.NOT_FOUND, message="no such room", retryable=False),
    )
    assert decoded_json(error) == {
        "type": "error",
        "ts": TS,
        "payload": {"code": "NOT_FOUND", "message": "no such room", "retryable": False},
    }


def test_present_optional_fields_are_encoded() -> None:
    error = Error(
        rid="c-1",
        room="t-1",
        ts=TS,
        payload=ErrorPayload(
            code=ErrorCode.BAD_MESSAGE, message="bad", retryable=False, path="$.stake"
        ),
    )
    body = decoded_json(error)
    assert body["rid"] == "c-1"
    assert body["room"] == "t-1"
    assert "seq" not in body
    assert body["payload"]["path"] == "$.stake"


def test_broadcast_frame_carries_seq_and_empty_payload_is_absent() -> None:
    body = decoded_json(RoomLeft(room="t-1", ts=TS, seq=0))
    assert body == {"type": "room.left", "room": "t-1", "seq": 0, "ts": TS}


def test_pong_without_t_has_no_payload() -> None:
    body = decoded_json(Pong(rid="p", ts=TS))
    assert body == {"type": "pong", "rid": "p", "ts": TS}


def test_pong_echoes_an_integer_t_as_an_integer() -> None:
    body = decoded_json(Pong(rid="p", ts=TS, payload=PongPayload(t=12345)))
    assert body["payload"] == {"t": 12345}
    assert isinstance(body["payload"]["t"], int)


def test_leaderboard_entry_is_a_json_array() -> None:
    entry = LeaderboardEntry(player_id="p1", name="Ann", score=1200, rank=1)
    assert json.loads(encode(entry)) == ["p1", "Ann", 1200, 1]
    change = RankChange(player_id="p1", previous_rank=None, rank=3)
    assert json.loads(encode(change)) == ["p1", None, 3]


def test_leaderboard_updated_entries_are_arrays_in_the_frame() -> None:
    message = LeaderboardUpdated(
        room="t-1",
        seq=118,
        ts=TS,
        payload=LeaderboardUpdatedPayload(
            entries=[
                LeaderboardEntry(player_id="p1", name="Ann", score=9, rank=1),
                LeaderboardEntry(player_id="p2", name="Bob", score=4, rank=2),
            ],
            changed=[RankChange(player_id="p2", previous_rank=1, rank=2)],
        ),
    )
    body = decoded_json(message)
    assert body["payload"]["entries"] == [["p1", "Ann", 9, 1], ["p2", "Bob", 4, 2]]
    assert body["payload"]["changed"] == [["p2", 1, 2]]


def _you() -> You:
    return You(player_id="p1", balance=99_900, score=250, rank=2)


def _standings() -> list[LeaderboardEntry]:
    return [
        LeaderboardEntry(player_id="p2", name="Bob", score=500, rank=1),
        LeaderboardEntry(player_id="p1", name="Ann", score=250, rank=2),
    ]


def _config(ends_at: str | None = None) -> RoomConfig:
    return RoomConfig(
        name="Demo",
        kind="hop_on_off",
        game_id="fruit",
        currency="EUR",
        buy_in=0,
        starting_chips=100_000,
        min_stake=10,
        max_stake=10_000,
        scoring="total_win",
        leaderboard_size=10,
        ends_at=ends_at,
    )


SERVER_SAMPLES: list[AnyServerMessage] = [
    RoomSnapshot(
        rid="c-1",
        room="demo",
        ts=TS,
        payload=RoomSnapshotPayload(
            status="running",
            config=_config(ends_at=TS),
            server_seed_hash="ab" * 32,
            you=_you(),
            leaderboard=_standings(),
            players_online=3,
            seq=41,
            recovered=False,
        ),
    ),
    RoomResumed(
        rid="c-2",
        room="demo",
        ts=TS,
        payload=RoomResumedPayload(
            status="running",
            config=_config(),
            server_seed_hash="ab" * 32,
            you=_you(),
            leaderboard=_standings(),
            players_online=3,
            seq=44,
            replayed=3,
        ),
    ),
    RoomLeft(rid="c-3", room="demo", ts=TS),
    SpinResult(
        rid="c-4",
        room="demo",
        ts=TS,
        payload=SpinResultPayload(
            spin_id="s-1",
            round_id="r-1",
            stake=100,
            win=500,
            balance=100_400,
            currency="EUR",
            score=500,
            outcome=SpinOutcomePayload(
                symbols=["A", "A", "A"], stops=[1, 2, 3], multiplier=5, rule="AAA", features=[]
            ),
            fairness=FairnessPayload(
                server_seed_hash="ab" * 32, client_seed="lucky", nonce=7, math_version="1"
            ),
            rank=1,
        ),
    ),
    LeaderboardUpdated(
        room="demo",
        seq=45,
        ts=TS,
        payload=LeaderboardUpdatedPayload(
            entries=_standings(), changed=[RankChange(player_id="p1", previous_rank=3, rank=2)]
        ),
    ),
    PlayerScoreUpdated(room="demo", ts=TS, payload=ScorePayload(score=250, rank=None)),
    PlayerConnected(
        room="demo", seq=46, ts=TS, payload=PresencePayload(players_online=4, player_id="p4")
    ),
    PlayerDisconnected(room="demo", seq=47, ts=TS, payload=PresencePayload(players_online=3)),
    TournamentStarted(
        room="demo",
        seq=1,
        ts=TS,
        payload=TournamentStartedPayload(status="running", server_seed_hash="cd" * 32),
    ),
    TournamentCompleted(
        room="demo",
        seq=99,
        ts=TS,
        payload=TournamentCompletedPayload(
            status="completed",
            standings=_standings(),
            prizes=[PrizePayload(player_id="p2", rank=1, amount=5_000, currency="EUR")],
            server_seed="ef" * 32,
        ),
    ),
    Balance(rid="c-5", room="demo", ts=TS, payload=BalancePayload(balance=100, currency="USD")),
    RealityCheck(
        ts=TS, payload=RealityCheckPayload(session_s=3600, net_result=-2_500, currency="EUR")
    ),
    ServerDraining(ts=TS, payload=DrainingPayload(reconnect_after_ms=1000)),
    Pong(rid="c-6", ts=TS, payload=PongPayload(t=12.5)),
    Error(
        rid="c-7",
        room="demo",
        ts=TS,
        payload=ErrorPayload(
            code=ErrorCode.RATE_LIMITED, message="slow down", retryable=True, path=None
        ),
    ),
    BenchUpdate(room="demo", seq=48, ts=TS, payload=msgspec.Raw(b'{"entries": [["p1", 3]]}')),
]


def test_samples_cover_every_server_message_type() -> None:
    assert {type(sample) for sample in SERVER_SAMPLES} == set(get_args(AnyServerMessage))


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda m: type(m).__name__)
def test_server_message_round_trips(message: AnyServerMessage) -> None:
    data = encode(message)
    assert json.loads(data)["type"] == message.__struct_config__.tag
    decoded = decode_server(data)
    assert type(decoded) is type(message)
    assert decoded == message


def test_encode_output_is_compact_utf8_json() -> None:
    data = encode(Balance(ts=TS, payload=BalancePayload(balance=1, currency="EUR")))
    assert isinstance(data, bytes)
    assert b"\n" not in data
    assert b": " not in data


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("epoch_s", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1.2345, "1970-01-01T00:00:01.234Z"),
        (59.999, "1970-01-01T00:00:59.999Z"),
        # Truncated, not rounded: rounding 999.6 ms would print four digits.
        (1.9996, "1970-01-01T00:00:01.999Z"),
        (1_795_255_200.123, "2026-11-21T10:00:00.123Z"),
        (951_782_400, "2000-02-29T00:00:00.000Z"),
    ],
)
def test_format_ts(epoch_s: float, expected: str) -> None:
    assert format_ts(epoch_s) == expected


def test_format_ts_always_has_the_wire_shape() -> None:
    shape = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    rng = random.Random(7)
    for _ in range(1000):
        epoch_s = rng.uniform(0, 4_102_444_800)  # up to 2100
        assert shape.match(format_ts(epoch_s)), epoch_s
