"""A room writes the frames of one event-loop turn to each member in one write, each frame once.

The room runs for real on the in-process broker; the members are recording fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest

from protocol.codes import CloseReason
from protocol.framing import text_frame
from protocol.messages import Pong
from roomserver.cluster.broker_local import LocalBroker
from roomserver.cluster.presence_local import LocalPresence
from roomserver.cluster.ticker import LocalTickers
from roomserver.config import RoomsConfig
from roomserver.rooms.room import Room
from tests.unit.test_room_state import tournament

pytestmark = pytest.mark.timeout(30)


class RecordingMember:
    """A member that keeps every write: (frames, wire) per write."""

    def __init__(self, player_id: str) -> None:
        self.player_id = player_id
        self.display_name = player_id.upper()
        self.writes: list[tuple[list[bytes], bytes | None]] = []

    def send(self, frame: bytes, wire: bytes | None = None) -> bool:
        self.writes.append(([frame], wire))
        return True

    def send_batch(self, frames: Sequence[bytes], wire: bytes) -> bool:
        self.writes.append((list(frames), wire))
        return True

    def left_room(self, room_id: str) -> None:
        pass

    def close(self, reason: CloseReason) -> None:
        pass

    def seqs(self) -> list[int]:
        """The seq of every room frame written, in order."""
        return [
            seq
            for frames, _ in self.writes
            for frame in frames
            if (seq := msgspec.json.decode(frame).get("seq")) is not None
        ]


@contextlib.asynccontextmanager
async def running_room() -> AsyncIterator[tuple[Room, LocalBroker]]:
    broker = LocalBroker(64)
    room = Room(
        tournament(),
        [],
        broker,
        LocalPresence(),
        RoomsConfig(),
        tickers=LocalTickers("node-1"),
        on_closed=lambda room: None,
    )
    task = asyncio.create_task(room.run())
    try:
        yield room, broker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bench_frame(n: int) -> Pong:
    """A frame to publish: any server message will do for the fan-out."""
    return Pong(ts=f"2026-12-03T10:00:00.{n:03d}Z")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_of_one_turn_reach_each_member_in_one_write() -> None:
    async with running_room() as (room, broker):
        members = [RecordingMember(f"p{n}") for n in range(3)]
        for member in members:
            await room.join(member, None, 0, None)
        await asyncio.sleep(0.05)
        before = {member.player_id: len(member.writes) for member in members}
        top = (await broker.position(room.room_id)).offset
        # Three publishes with no await that yields in between: one turn of the loop.
        for n in range(3):
            await broker.publish(room.room_id, bench_frame(n))
        await settle()
        for member in members:
            new = member.writes[before[member.player_id] :]
            assert len(new) == 1, new
            frames, wire = new[0]
            assert [msgspec.json.decode(f)["seq"] for f in frames] == [top + 1, top + 2, top + 3]
            assert wire == b"".join(text_frame(f) for f in frames)


async def test_a_frame_alone_goes_as_one_frame() -> None:
    async with running_room() as (room, broker):
        member = RecordingMember("p1")
        await room.join(member, None, 0, None)
        await asyncio.sleep(0.05)
        count = len(member.writes)
        await broker.publish(room.room_id, bench_frame(1))
        await settle()
        (frames, wire), *rest = member.writes[count:]
        assert rest == []
        assert len(frames) == 1
        assert wire == text_frame(frames[0])


async def test_a_member_joining_while_frames_wait_gets_each_once_in_order() -> None:
    async with running_room() as (room, broker):
        first = RecordingMember("p1")
        await room.join(first, None, 0, None)
        await asyncio.sleep(0.05)
        late = RecordingMember("p2")
        joining = asyncio.create_task(room.join(late, None, 0, None))
        # Frames delivered while the join is under way and before the turn ends.
        for n in range(4):
            await broker.publish(room.room_id, bench_frame(n))
            await asyncio.sleep(0)
        await joining
        for n in range(4, 6):
            await broker.publish(room.room_id, bench_frame(n))
        await settle()
        top = (await broker.position(room.room_id)).offset
        for member in (first, late):
            seqs = member.seqs()
            assert seqs == sorted(set(seqs)), seqs  # in order, none twice
            assert seqs[-1] == top
        # The late member's snapshot covers what came before it; what followed, it got.
        snapshot_seq = msgspec.json.decode(late.writes[0][0][0])["payload"]["seq"]
        assert late.seqs() == [s for s in range(snapshot_seq + 1, top + 1)]
