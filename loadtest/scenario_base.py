"""What every scenario does inside one worker process: connect its share, time pushes, close.

Each member remembers the node it is connected to; a push is timed into the delivery histogram
of every frame and into the same-node or cross-node one (see `loadtest.plan`).
"""

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from loadtest.links import Joined, Link, LinkError, ReplyHandler, Target
from loadtest.pacer import paced
from loadtest.plan import Plan, WorkerResult
from loadtest.tracking import SeqTracker, new_histogram, record_s
from loadtest.wires import link_class


@dataclass(slots=True)
class Member:
    """One connection and what it has seen of its room."""

    index: int
    player_id: str
    room: str
    source: str | None
    node: int = 0  # the index of the node (`--url`) it is connected to
    on_origin: bool = True  # on the node whose connections cause the room's frames
    link: Link | None = None
    tracker: SeqTracker = field(default_factory=SeqTracker)
    epoch: str = ""  # the room stream's epoch, from the last join


class Scenario:
    """The shared part: open and join this worker's connections, count, close."""

    # Whether only the members on their room's origin node trigger events (they cause the
    # room's frames); otherwise every member does.
    origin_spins: ClassVar[bool] = True

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Worker `worker`'s share of `plan`, counted into `result`; nothing is connected yet."""
        self.plan = plan
        self.worker = worker
        self.result = result
        self.latency = new_histogram()
        self.replies = new_histogram()
        self.push_latency = new_histogram()
        self.same_node = new_histogram()
        self.cross_node = new_histogram()
        self.seqs_seen: dict[str, set[int]] = {}
        self.measuring = False
        self.members = [
            Member(
                index,
                player_id,
                plan.room_of(index),
                plan.source_of(index),
                node=plan.node_of(index),
                on_origin=plan.on_origin(index),
            )
            for index, player_id in plan.players(worker)
        ]
        self._targets = [plan.target_of(node) for node in range(len(plan.nodes))]
        self._link_class = link_class(plan.target.wire)
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------ connecting

    def anchors(self) -> list[Member]:
        """This worker's members that join before everyone else (see `loadtest.plan`)."""
        anchors = self.plan.anchors()
        return [member for member in self.members if member.index in anchors]

    async def connect_anchors(self) -> None:
        """Open and join the anchors, before the other workers open anything but theirs."""
        self.result.connect_started_s = time.time()
        await self.connect_members(self.anchors())

    async def connect(self) -> None:
        """Open and join every other member's connection (after `connect_anchors`)."""
        if not self.result.connect_started_s:
            self.result.connect_started_s = time.time()
        anchors = self.plan.anchors()
        await self.connect_members(m for m in self.members if m.index not in anchors)
        self.result.connect_finished_s = time.time()
        per_node = [0] * len(self.plan.nodes)
        for member in self.members:
            if member.link is not None:
                per_node[member.node] += 1
        self.result.connected_per_node = per_node

    async def connect_members(self, members: Iterable[Member]) -> None:
        """Open and join these members' connections, `connect_concurrency` at a time."""
        gate = asyncio.Semaphore(self.plan.connect_concurrency)

        async def one(member: Member) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    await self._join(member, None)
                except Exception as exc:
                    self.result.connect_failures += 1
                    self._count_error(error_code(exc))
                    return
                self.result.connected += 1
                self.on_connected(time.perf_counter() - started)

        await asyncio.gather(*(one(member) for member in members))

    def target_of(self, member: Member) -> Target:
        """Where the member connects: its node's URL."""
        return self._targets[member.node]

    async def open_and_join(
        self, member: Member, since_seq: int | None, since_epoch: str | None = None
    ) -> tuple[Joined, int]:
        """Open the member's link to its node and join its room.

        Returns:
            The join's answer, and how many frames are lost for good.
        """
        link = await self._link_class.open(self.target_of(member), member.player_id, member.source)
        member.link = link
        link.on_push = self._push_handler(member)
        link.on_replay = self._replay_handler(member)
        link.on_error = self._count_error
        member.tracker.joining()
        joined = await link.join(member.room, since_seq, since_epoch)
        member.epoch = joined.epoch
        return joined, member.tracker.joined(joined.seq, joined.resumed)

    async def _join(self, member: Member, since_seq: int | None) -> int:
        """Open the member's link and join its room; returns the frames lost for good."""
        joined, lost = await self.open_and_join(member, since_seq, member.epoch or None)
        if joined.resumed:
            self.result.resumed += 1
        elif since_seq is not None:
            self.result.not_recovered += 1
        return lost

    def _push_handler(self, member: Member) -> Callable[[str, int, float, float], None]:
        tracker = member.tracker
        latency = self.push_latency
        same_node = self.same_node
        cross_node = self.cross_node
        result = self.result
        seen = self.seqs_seen.setdefault(member.room, set())

        def on_push(room: str, seq: int, sent_s: float, received_s: float) -> None:
            tracker.push(seq)
            if self.measuring:
                result.pushes += 1
                seen.add(seq)
                delay = received_s - sent_s
                record_s(latency, delay)
                # Read at each frame: a member that moved to another node changes side.
                record_s(same_node if member.on_origin else cross_node, delay)

        return on_push

    def _replay_handler(self, member: Member) -> Callable[[str, int], None]:
        tracker = member.tracker
        result = self.result
        seen = self.seqs_seen.setdefault(member.room, set())

        def on_replay(room: str, seq: int) -> None:
            # A frame missed while away: checked and counted, but its delay is no delivery's.
            tracker.push(seq)
            if self.measuring:
                result.pushes += 1
                seen.add(seq)

        return on_replay

    def on_connected(self, seconds: float) -> None:
        """A member is connected and joined after `seconds`."""

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """The scenario proper, between the start and finish lines of all workers."""
        raise NotImplementedError

    def live(self) -> list[Member]:
        """Members whose connection is open."""
        return [m for m in self.members if m.link is not None and not m.link.closed.done()]

    async def drive(self, rate: float, duration_s: float) -> None:
        """Trigger events over the live spinners open-loop; wait for the outstanding replies.

        The spinners are the members on their room's origin node (all of them with one node,
        or without `origin_spins`); this worker sends its spinners' part of the rate.
        """
        origin_only = self.origin_spins
        members = [m for m in self.live() if m.on_origin or not origin_only]
        share = rate * self.plan.spinner_share(self.worker, origin_only=origin_only)
        if not members or share <= 0:
            await asyncio.sleep(duration_s)
            return
        loop = asyncio.get_running_loop()
        result = self.result
        prefix = f"{self.plan.run_id}-{self.worker}-"

        def fire(index: int, due: float) -> None:
            member = members[index % len(members)]
            link = member.link
            if link is None or link.closed.done():
                self._count_error("CONNECTION_CLOSED")
                return
            result.triggered += 1
            self._outstanding += 1
            self._idle.clear()
            link.trigger(member.room, prefix + str(index), self._reply_handler(loop, due))

        result.events_started_s = time.time()
        # Workers interleave their schedules instead of firing in step.
        await paced(share, duration_s, fire, offset_s=self.worker / rate)
        try:
            async with asyncio.timeout(self.plan.drain_s):
                await self._idle.wait()
        except TimeoutError:
            self._count_error("NO_REPLY", self._outstanding)

    def _reply_handler(self, loop: asyncio.AbstractEventLoop, due: float) -> ReplyHandler:
        def on_reply(code: str | None) -> None:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._idle.set()
            if code is None:
                self.result.succeeded += 1
                self.result.last_reply_s = time.time()
                record_s(self.replies, loop.time() - due)
            else:
                self._count_error(code)

        return on_reply

    async def settle(self) -> None:
        """Wait until pushes stop arriving (at most `drain_s`)."""
        deadline = time.monotonic() + self.plan.drain_s
        seen = -1
        while self.result.pushes != seen and time.monotonic() < deadline:
            seen = self.result.pushes
            await asyncio.sleep(0.3)

    def _count_error(self, code: str, count: int = 1) -> None:
        errors = self.result.errors
        errors[code] = errors.get(code, 0) + count

    # ------------------------------------------------------------ ending

    def finish(self) -> WorkerResult:
        """Fold the per-member counts into the result."""
        result = self.result
        for member in self.members:
            self.fold(member)
        result.latency_hdr = self.latency.encode()
        result.reply_hdr = self.replies.encode()
        if self.push_latency.get_total_count():
            result.delivery_hdr = self.push_latency.encode()
            result.same_node_hdr = self.same_node.encode()
            result.cross_node_hdr = self.cross_node.encode()
        result.seqs_seen = {room: sorted(seqs) for room, seqs in self.seqs_seen.items() if seqs}
        return result

    def fold(self, member: Member) -> None:
        """Add one member's stream counts (and whether it was closed) to the result."""
        result = self.result
        result.gaps += member.tracker.gaps
        result.reordered += member.tracker.reordered
        result.duplicates += member.tracker.duplicates
        if member.link is not None and member.link.closed.done():
            result.unexpected_closes += 1

    async def close(self) -> None:
        """Close every connection with the closing handshake (bounded)."""
        links = [m.link for m in self.members if m.link is not None and not m.link.closed.done()]
        if not links:
            return
        closing = [asyncio.ensure_future(link.close()) for link in links]
        _, pending = await asyncio.wait(closing, timeout=10.0)
        for task in pending:
            task.cancel()
        for link in links:
            if not link.closed.done():
                link.drop()


def error_code(exc: BaseException) -> str:
    """The code a failed connect or join counts under."""
    if isinstance(exc, LinkError):
        return exc.code
    if isinstance(exc, TimeoutError):
        return "CONNECT_TIMEOUT"
    if isinstance(exc, OSError):
        return "CONNECT_FAILED"
    return type(exc).__name__
