"""SQS messages and batches within SQS's limits: ten messages and 256 KiB per batch and message."""

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from roomserver.domain.event_envelope import Event, encode_event
from roomserver.events.sinks import SQS_BATCH_SIZE, SQS_MAX_BYTES, sqs_batches, sqs_body


def event(number: int, payload: Any, event_type: str = "room.tournament.completed") -> Event:
    return Event(
        event_id=f"ev-{number:05d}",
        event_type=event_type,
        schema_version=1,
        occurred_at="2025-01-02T03:04:05.678Z",
        trace_id=f"trace-{number}",
        tournament_id="t-1",
        payload=msgspec.Raw(msgspec.json.encode(payload)),
    )


def standings(players: int) -> list[dict[str, Any]]:
    return [
        {"rank": rank, "player_id": f"p-{rank}", "name": f"Zoë {rank}", "score": 10 * rank}
        for rank in range(1, players + 1)
    ]


def payload_of(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(body)["payload"]
    return decoded


def with_bodies(sizes: list[int]) -> list[tuple[Event, bytes]]:
    return [(event(n, {}), b"x" * size) for n, size in enumerate(sizes)]


def test_batches_hold_at_most_ten_messages() -> None:
    batches = list(sqs_batches(with_bodies([100] * 25)))
    assert [len(batch) for batch in batches] == [10, 10, 5]


def test_batches_hold_at_most_256_kib() -> None:
    sizes = [100_000, 100_000, 100_000, SQS_MAX_BYTES, 1, 200_000, 62_144, 62_145]
    batches = list(sqs_batches(with_bodies(sizes)))
    assert [[len(body) for _, body in batch] for batch in batches] == [
        [100_000, 100_000],
        [100_000],
        [SQS_MAX_BYTES],
        [1, 200_000],
        [62_144, 62_145],
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=SQS_MAX_BYTES), max_size=40))
def test_batches_keep_order_and_limits_and_are_full(sizes: list[int]) -> None:
    bodies = with_bodies(sizes)
    batches = list(sqs_batches(bodies))
    assert [entry for batch in batches for entry in batch] == bodies
    for index, batch in enumerate(batches):
        assert 1 <= len(batch) <= SQS_BATCH_SIZE
        total = sum(len(body) for _, body in batch)
        assert total <= SQS_MAX_BYTES
        if index + 1 < len(batches):
            # Greedy: the next message did not fit.
            following = len(batches[index + 1][0][1])
            assert len(batch) == SQS_BATCH_SIZE or total + following > SQS_MAX_BYTES


def test_an_event_that_fits_is_sent_whole() -> None:
    small = event(1, {"standings": standings(10)})
    assert sqs_body(small) == encode_event(small)


def test_a_huge_completion_keeps_the_top_of_its_standings() -> None:
    whole: dict[str, Any] = {
        "status": "completed",
        "prize_pool": 5000,
        "standings": standings(10_000),
    }
    huge = event(1, whole)
    assert len(encode_event(huge)) > SQS_MAX_BYTES
    body = sqs_body(huge)
    assert body is not None
    assert len(body) <= SQS_MAX_BYTES
    cut = payload_of(body)
    kept = cut["truncated"]["standings"]["kept"]
    assert cut["truncated"] == {"standings": {"kept": kept, "total": 10_000}}
    assert cut["standings"] == whole["standings"][:kept]
    assert (cut["status"], cut["prize_pool"]) == ("completed", 5000)
    # The same event is always cut the same way, so a resend deduplicates.
    assert sqs_body(huge) == body


def test_the_cut_keeps_as_many_entries_as_fit() -> None:
    huge = event(1, {"standings": standings(300), "refunds": [{"player_id": "p"}] * 3})
    size = len(encode_event(huge))
    for limit in range(size - 2000, size, 37):
        body = sqs_body(huge, limit)
        assert body is not None
        assert len(body) <= limit
        cut = payload_of(body)
        kept = cut["truncated"]["standings"]["kept"]
        assert cut["refunds"] == [{"player_id": "p"}] * 3
        one_more = {
            **cut,
            "standings": standings(kept + 1),
            "truncated": {"standings": {"kept": kept + 1, "total": 300}},
        }
        assert len(encode_event(event(1, one_more))) > limit


def test_the_longest_lists_go_first_and_others_too_when_needed() -> None:
    payload = {"standings": standings(5000), "refunds": standings(2000)}
    body = sqs_body(event(1, payload))
    assert body is not None
    cut = payload_of(body)["truncated"]
    assert list(cut) == ["standings"]
    assert cut["standings"]["kept"] < 5000
    body = sqs_body(event(1, payload), max_bytes=2000)
    assert body is not None
    assert len(body) <= 2000
    cut = payload_of(body)["truncated"]
    assert cut["standings"]["kept"] == 0 and cut["refunds"]["kept"] < 2000


def test_a_payload_with_nothing_to_shorten_is_replaced_by_its_size() -> None:
    huge = event(1, {"note": "é" * SQS_MAX_BYTES}, event_type="bet.settled")
    body = sqs_body(huge)
    assert body is not None
    assert payload_of(body) == {"truncated": {"payload_bytes": len(huge.payload)}}
    assert json.loads(body)["event_id"] == huge.event_id


def test_an_envelope_too_large_by_itself_is_not_sent() -> None:
    huge = msgspec.structs.replace(event(1, {}), trace_id="t" * SQS_MAX_BYTES)
    assert sqs_body(huge) is None
