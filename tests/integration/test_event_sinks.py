"""Event sinks against a real file system and a real SQS endpoint."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from botocore.exceptions import EndpointConnectionError

from roomserver.domain.event_envelope import Event, encode_event
from roomserver.events.sinks import (
    SQS_BATCH_SIZE,
    SQS_MAX_BYTES,
    JsonLinesSink,
    SqsSink,
    open_sqs_sink,
    region_of,
    sqs_client,
)
from tests.support.services import free_tcp_port

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import MessageTypeDef


def make_event(
    number: int, tournament_id: str | None = "t-1", player_id: str | None = None
) -> Event:
    """A distinct event with a non-trivial payload."""
    return Event(
        event_id=f"ev-{number:04d}",
        event_type="player.score.updated",
        schema_version=1,
        occurred_at="2025-01-02T03:04:05.678Z",
        trace_id=f"trace-{number}",
        tournament_id=tournament_id,
        player_id=player_id,
        payload=msgspec.Raw(json.dumps({"score": number, "name": "Zoë"}).encode()),
    )


def decode_lines(path: Path) -> list[Event]:
    """The events of a JSON Lines file, checking each line is one JSON object."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends with a newline"
    events = []
    for line in lines[:-1]:
        assert isinstance(json.loads(line), dict)
        events.append(msgspec.json.decode(line, type=Event))
    return events


async def test_json_lines_sink_writes_one_line_per_event(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "events.jsonl"
    events = [make_event(1), make_event(2, tournament_id=None, player_id="p-9"), make_event(3)]
    sink = JsonLinesSink(path)
    try:
        assert await sink.publish([]) == {}
        assert not path.exists(), "an empty batch touches nothing"
        assert await sink.publish(events) == {}
    finally:
        await sink.close()

    assert decode_lines(path) == events


async def test_json_lines_sink_appends_across_sinks(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first, second = [make_event(1), make_event(2)], [make_event(3)]
    sink = JsonLinesSink(path)
    try:
        await sink.publish(first)
    finally:
        await sink.close()
    sink = JsonLinesSink(path)
    try:
        await sink.publish(second)
        await sink.publish(first)  # a re-publish appends again: delivery is at least once
    finally:
        await sink.close()

    assert decode_lines(path) == first + second + first


async def test_json_lines_sink_refuses_after_close(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    await sink.close()
    with pytest.raises(OSError, match="closed"):
        await sink.publish([make_event(1)])


async def test_json_lines_sink_raises_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = JsonLinesSink(blocker / "events.jsonl")
    try:
        with pytest.raises(FileExistsError):
            await sink.publish([make_event(1)])
    finally:
        await sink.close()


async def test_sqs_sink_delivers_every_event_in_group_order(
    sqs_endpoint_url: str, sqs_queue_url: str
) -> None:
    events = [make_event(number, tournament_id=f"t-{number % 2}") for number in range(25)]
    sink = await open_sqs_sink(sqs_queue_url, sqs_endpoint_url)
    try:
        assert await sink.publish(events) == {}
    finally:
        await sink.close()

    messages = await drain(sqs_endpoint_url, sqs_queue_url)

    received = [msgspec.json.decode(message["Body"], type=Event) for message in messages]
    assert sorted(received, key=lambda event: event.event_id) == events
    for group in ("t-0", "t-1"):
        sent = [event for event in events if event.group_id == group]
        assert [event for event in received if event.group_id == group] == sent
    for message, event in zip(messages, received, strict=True):
        attributes = message.get("Attributes", {})
        assert attributes.get("MessageGroupId") == event.tournament_id
        assert attributes.get("MessageDeduplicationId") == event.event_id


async def test_sqs_sink_groups_wallet_events_by_player(
    sqs_endpoint_url: str, sqs_queue_url: str
) -> None:
    event = make_event(1, tournament_id=None, player_id="p-7")
    sink = await open_sqs_sink(sqs_queue_url, sqs_endpoint_url)
    try:
        await sink.publish([event])
    finally:
        await sink.close()

    [message] = await drain(sqs_endpoint_url, sqs_queue_url)
    assert message.get("Attributes", {}).get("MessageGroupId") == "player:p-7"


async def test_sqs_sink_republish_is_delivered_once(
    sqs_endpoint_url: str, sqs_queue_url: str
) -> None:
    events = [make_event(number) for number in range(5)]
    sink = await open_sqs_sink(sqs_queue_url, sqs_endpoint_url)
    try:
        await sink.publish(events[:3])
        # As after a crash between sending and marking published.
        assert await sink.publish(events) == {}
    finally:
        await sink.close()

    messages = await drain(sqs_endpoint_url, sqs_queue_url)
    assert [msgspec.json.decode(message["Body"], type=Event) for message in messages] == events


async def test_sqs_sink_fails_fast_when_unreachable() -> None:
    endpoint_url = f"http://127.0.0.1:{free_tcp_port()}"
    sink = await open_sqs_sink(f"{endpoint_url}/123456789012/gone.fifo", endpoint_url)
    try:
        started = time.monotonic()
        with pytest.raises(EndpointConnectionError):
            await sink.publish([make_event(1)])
        assert time.monotonic() - started < 5
    finally:
        await sink.close()


def completed_event(number: int, players: int) -> Event:
    """A tournament's completion with `players` standings, as complete_tournament writes it."""
    standings = [
        {
            "rank": rank,
            "player_id": f"player-{rank:05d}",
            "name": f"Player Number {rank}",
            "score": 1_000_000 - rank,
            "prize": 100 if rank <= 100 else 0,
        }
        for rank in range(1, players + 1)
    ]
    payload = {
        "tournament_id": "t-big",
        "status": "completed",
        "currency": "EUR",
        "server_seed": "ab" * 32,
        "server_seed_hash": "cd" * 32,
        "prize_pool": 10_000,
        "prizes_paid": 10_000,
        "standings": standings,
    }
    return Event(
        event_id=f"ev-{number:04d}",
        event_type="room.tournament.completed",
        schema_version=1,
        occurred_at="2025-01-02T03:04:05.678Z",
        trace_id=f"trace-{number}",
        tournament_id="t-big",
        payload=msgspec.Raw(json.dumps(payload).encode()),
    )


@contextlib.asynccontextmanager
async def recording_sqs_sink(
    endpoint_url: str, queue_url: str
) -> AsyncIterator[tuple[SqsSink, list[list[Any]]]]:
    """A sink whose client records the entries of every SendMessageBatch it sends."""
    batches: list[list[Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        batches.append(list(params["Entries"]))

    stack = contextlib.AsyncExitStack()
    client = await stack.enter_async_context(sqs_client(region_of(queue_url), endpoint_url))
    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    sink = SqsSink(client, queue_url, stack)
    try:
        yield sink, batches
    finally:
        await sink.close()


async def test_sqs_batches_stay_within_the_size_limit_and_a_huge_event_is_cut(
    sqs_endpoint_url: str,
) -> None:
    async with sqs_client(region_of(sqs_endpoint_url), sqs_endpoint_url) as client:
        # A queue that refuses messages over SQS's standard 256 KiB, as AWS queues did by default.
        created = await client.create_queue(
            QueueName=f"rs-test-{secrets.token_hex(6)}.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "false",
                "MaximumMessageSize": str(SQS_MAX_BYTES),
            },
        )
        queue_url = created["QueueUrl"]
        try:
            big = completed_event(100, players=10_000)
            assert len(encode_event(big)) > 3 * SQS_MAX_BYTES
            # 40 KB events: seven of them are over the limit, though fewer than ten messages.
            middling = [
                msgspec.structs.replace(
                    make_event(number),
                    payload=msgspec.Raw(json.dumps({"note": "x" * 40_000}).encode()),
                )
                for number in range(12)
            ]
            events = [*middling[:5], big, *middling[5:], make_event(200)]
            async with recording_sqs_sink(sqs_endpoint_url, queue_url) as (sink, batches):
                assert await sink.publish(events) == {}
            messages = await drain(sqs_endpoint_url, queue_url)
        finally:
            await client.delete_queue(QueueUrl=queue_url)

    for batch in batches:
        assert len(batch) <= SQS_BATCH_SIZE
        assert sum(len(entry["MessageBody"].encode()) for entry in batch) <= SQS_MAX_BYTES
    assert [len(batch) for batch in batches] == [5, 1, 6, 2]
    received = {
        event.event_id: event
        for event in (msgspec.json.decode(m["Body"], type=Event) for m in messages)
    }
    assert sorted(received) == sorted(event.event_id for event in events)
    for message in messages:
        assert len(message["Body"].encode()) <= SQS_MAX_BYTES
    cut = json.loads(bytes(received[big.event_id].payload))
    whole = json.loads(bytes(big.payload))
    kept = cut["truncated"]["standings"]["kept"]
    assert cut["truncated"] == {"standings": {"kept": kept, "total": 10_000}}
    assert 1000 < kept < 10_000
    assert cut["standings"] == whole["standings"][:kept]
    assert {k: v for k, v in cut.items() if k not in {"standings", "truncated"}} == {
        k: v for k, v in whole.items() if k != "standings"
    }
    for event in middling:
        assert received[event.event_id] == event


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-3.amazonaws.com/123456789012/events.fifo", "eu-west-3"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/events.fifo", "cn-north-1"),
        ("http://127.0.0.1:4566/000000000000/events.fifo", "ap-south-1"),
    ],
)
def test_region_of_queue_url(url: str, region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert region_of(url) == region


def test_region_of_defaults_to_us_east_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert region_of("http://localhost:9324/queue/events.fifo") == "us-east-1"


async def drain(endpoint_url: str, queue_url: str, max_receives: int = 50) -> list[MessageTypeDef]:
    """Receives and deletes messages until the queue has none left."""
    messages: list[MessageTypeDef] = []
    async with sqs_client(region_of(queue_url), endpoint_url) as client:
        for _ in range(max_receives):
            response = await client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            batch = response.get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)
            # Deleting releases the FIFO group for its next messages.
            await client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(batch)
                ],
            )
    raise AssertionError(f"queue not drained after {max_receives} receives")
