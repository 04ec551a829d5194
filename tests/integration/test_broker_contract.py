"""The `Broker` contract, run against every implementation (`broker_kind` picks one)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import msgspec
import pytest

from protocol.codec import decode_server, encode
from protocol.messages import (
    LeaderboardUpdated,
    LeaderboardUpdatedPayload,
    PlayerConnected,
    PresencePayload,
    ServerMessage,
)
from roomserver.cluster.broker import Broker, FrameTemplate, StreamPosition
from roomserver.cluster.broker_local import LocalBroker
from roomserver.cluster.broker_redis import RedisBroker
from tests.support.redis import shared_redis_client

HISTORY = 5


@pytest.fixture(params=["local", "redis", "redis-cluster"])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def broker(broker_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if broker_kind == "local":
        yield LocalBroker(HISTORY)
        return
    async with shared_redis_client(request, broker_kind) as client:
        # Keys of their own, so tests sharing the server never see each other's rooms.
        tag = secrets.token_hex(4)
        redis_broker = RedisBroker(client, HISTORY, node_id=f"n-{tag}", key_prefix=f"t{tag}:")
        await redis_broker.start()
        try:
            yield redis_broker
        finally:
            await redis_broker.close()


def message(count: int) -> ServerMessage:
    return PlayerConnected(
        room="r", ts="2026-01-01T00:00:00.000Z", payload=PresencePayload(players_online=count)
    )


def seq_of(frame: bytes) -> int | None:
    return decode_server(frame).seq


class Recorder:
    """A subscriber that keeps what it was given."""

    def __init__(self) -> None:
        self.got: list[tuple[StreamPosition, bytes]] = []

    def __call__(self, position: StreamPosition, frame: bytes) -> None:
        self.got.append((position, frame))

    async def until(self, count: int) -> None:
        """Wait until `count` frames arrived (a shared broker delivers asynchronously)."""
        async with asyncio.timeout(5.0):
            while len(self.got) < count:
                await asyncio.sleep(0.005)


async def test_publish_assigns_consecutive_offsets_in_one_epoch(broker: Broker) -> None:
    top = await broker.position("r")
    positions = [await broker.publish("r", message(n)) for n in range(3)]
    assert [p.offset for p in positions] == [top.offset + 1, top.offset + 2, top.offset + 3]
    assert {p.epoch for p in positions} == {top.epoch}
    assert await broker.position("r") == positions[-1]


async def test_offsets_start_from_the_clock(broker: Broker) -> None:
    import time

    top = await broker.position("fresh")
    assert top.offset >= time.time_ns() // 1000 - 10_000_000
    assert top.offset < 2**53


async def test_rooms_are_separate_streams(broker: Broker) -> None:
    a = await broker.publish("a", message(1))
    b = await broker.publish("b", message(1))
    assert a.epoch != b.epoch
    assert await broker.history("a", StreamPosition(a.offset - 1, a.epoch)) is not None
    assert await broker.history("b", StreamPosition(a.offset - 1, a.epoch)) is None


async def test_the_frame_carries_its_offset_and_the_message_is_unchanged(broker: Broker) -> None:
    top = await broker.position("r")
    sent = message(7)
    position = await broker.publish("r", sent)
    assert sent.seq is None
    (frame,) = await broker.history("r", top) or []
    assert frame == encode(msgspec.structs.replace(sent, seq=position.offset))


async def test_a_sequenced_message_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match="seq"):
        await broker.publish("r", msgspec.structs.replace(message(1), seq=5))


async def test_history_since_a_position_returns_exactly_the_later_frames(broker: Broker) -> None:
    positions = [await broker.publish("r", message(n)) for n in range(4)]
    frames = await broker.history("r", positions[0])
    assert frames is not None
    assert [seq_of(frame) for frame in frames] == [p.offset for p in positions[1:]]
    assert await broker.history("r", positions[-1]) == []


async def test_history_of_another_epoch_or_ahead_is_none(broker: Broker) -> None:
    position = await broker.publish("r", message(1))
    assert await broker.history("r", StreamPosition(position.offset, "another")) is None
    assert await broker.history("r", StreamPosition(position.offset + 1, position.epoch)) is None
    assert await broker.history("never-used", StreamPosition(1, position.epoch)) is None


async def test_history_older_than_the_window_is_none(broker: Broker) -> None:
    top = await broker.position("r")
    positions = [await broker.publish("r", message(n)) for n in range(HISTORY + 2)]
    assert await broker.history("r", top) is None
    assert await broker.history("r", positions[0]) is None
    oldest_covered = positions[1]  # the window holds positions[2:]
    frames = await broker.history("r", oldest_covered)
    assert frames is not None and len(frames) == HISTORY


async def test_subscribers_get_every_frame_in_order(broker: Broker) -> None:
    first, second = Recorder(), Recorder()
    await broker.subscribe("r", first)
    await broker.subscribe("r", second)
    positions = [await broker.publish("r", message(n)) for n in range(5)]
    for recorder in (first, second):
        await recorder.until(5)
        assert [position for position, _ in recorder.got] == positions
        assert [seq_of(frame) for _, frame in recorder.got] == [p.offset for p in positions]
    frames = await broker.history("r", StreamPosition(positions[0].offset - 1, positions[0].epoch))
    assert frames == [frame for _, frame in first.got]


async def test_unsubscribe_stops_delivery(broker: Broker) -> None:
    recorder, other_room, staying = Recorder(), Recorder(), Recorder()
    await broker.subscribe("r", recorder)
    await broker.subscribe("r", staying)
    await broker.subscribe("s", other_room)
    await broker.publish("r", message(1))
    await recorder.until(1)
    await broker.unsubscribe("r", recorder)
    await broker.unsubscribe("r", recorder)  # twice is harmless
    await broker.publish("r", message(2))
    await staying.until(2)  # delivered in order: the second frame has been handed out
    assert len(recorder.got) == 1
    assert other_room.got == []


async def test_a_subscriber_gets_only_what_is_published_after_it_subscribed(
    broker: Broker,
) -> None:
    await broker.publish("r", message(1))
    recorder = Recorder()
    await broker.subscribe("r", recorder)
    position = await broker.publish("r", message(2))
    await recorder.until(1)
    await asyncio.sleep(0.05)
    assert [p for p, _ in recorder.got] == [position]
    await broker.unsubscribe("r", recorder)


def test_frame_template_renders_the_encoded_frame() -> None:
    update = LeaderboardUpdated(
        room="r",
        ts="2026-01-01T00:00:00.000Z",
        payload=LeaderboardUpdatedPayload(entries=[], changed=[]),
    )
    template = FrameTemplate.of(update)
    for offset in (0, 7, 1_790_000_000_000_000):
        assert template.render(offset) == encode(msgspec.structs.replace(update, seq=offset))


async def test_a_forwarded_note_reaches_every_listening_subscriber_and_is_not_a_frame(
    broker: Broker,
) -> None:
    frames = Recorder()
    notes: list[bytes] = []
    await broker.subscribe("r", frames, notes.append)
    silent = Recorder()
    await broker.subscribe("r", silent)  # listens to frames only
    top = await broker.position("r")
    await broker.forward("r", b'{"changed":[]}')
    await broker.publish("r", message(1))
    await frames.until(1)
    async with asyncio.timeout(5.0):
        while not notes:
            await asyncio.sleep(0.005)
    assert notes == [b'{"changed":[]}']
    # Not sequenced, not kept: the stream moved by the one frame only.
    assert [position.offset for position, _ in frames.got] == [top.offset + 1]
    assert await broker.history("r", top) == [frames.got[0][1]]
    await broker.unsubscribe("r", frames)
    await broker.forward("r", b"after")
    await broker.publish("r", message(2))
    await silent.until(2)
    assert notes == [b'{"changed":[]}']
    await broker.unsubscribe("r", silent)


async def test_a_frame_with_an_idempotency_key_is_published_once(broker: Broker) -> None:
    got = Recorder()
    await broker.subscribe("r", got)
    first = await broker.publish("r", message(1), once="announcement:7")
    again = await broker.publish("r", message(1), once="announcement:7")
    other = await broker.publish("r", message(2), once="announcement:8")
    assert again == first
    assert other.offset == first.offset + 1
    await got.until(2)
    await asyncio.sleep(0.05)
    assert [position for position, _ in got.got] == [first, other]
    await broker.unsubscribe("r", got)
