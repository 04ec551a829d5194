"""What each scenario does inside one worker process: connect its share, then run.

- idle: hold the connections; the latency is connect + join.
- fanout: members trigger events open-loop at the plan's rate; the latency is push delay
  (server send stamp -> frame at each member).
- spins: spins open-loop at the plan's rate; the latency is due time -> `spin.result`.
- reconnect: every client drops at once and rejoins with `since_seq`; the latency is drop ->
  that client whole again (`room.resumed`).
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtest.links import Link, LinkError, ReplyHandler
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
    link: Link | None = None
    tracker: SeqTracker = field(default_factory=SeqTracker)


class Scenario:
    """The shared part: open and join this worker's connections, count, close."""

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Worker `worker`'s share of `plan`, counted into `result`; nothing is connected yet."""
        self.plan = plan
        self.worker = worker
        self.result = result
        self.latency = new_histogram()
        self.replies = new_histogram()
        self.push_latency = new_histogram()
        self.measuring = False
        self.members = [
            Member(index, player_id, plan.room_of(index), plan.source_of(index))
            for index, player_id in plan.players(worker)
        ]
        self._link_class = link_class(plan.target.wire)
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------ connecting

    async def connect(self) -> None:
        """Open and join every member's connection, `connect_concurrency` at a time."""
        gate = asyncio.Semaphore(self.plan.connect_concurrency)
        self.result.connect_started_s = time.time()

        async def one(member: Member) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    await self._join(member, None)
                except Exception as exc:
                    self.result.connect_failures += 1
                    self._count_error(_error_code(exc))
                    return
                self.result.connected += 1
                self.on_connected(time.perf_counter() - started)

        await asyncio.gather(*(one(member) for member in self.members))
        self.result.connect_finished_s = time.time()

    async def _join(self, member: Member, since_seq: int | None) -> int:
        """Open the member's link and join its room; returns the frames lost for good."""
        link = await self._link_class.open(self.plan.target, member.player_id, member.source)
        member.link = link
        link.on_push = self._push_handler(member)
        member.tracker.joining()
        joined = await link.join(member.room, since_seq)
        if joined.resumed:
            self.result.resumed += 1
        elif since_seq is not None:
            self.result.not_recovered += 1
        return member.tracker.joined(joined.seq, joined.resumed)

    def _push_handler(self, member: Member) -> Callable[[str, int, float, float], None]:
        tracker = member.tracker
        latency = self.push_latency
        result = self.result

        def on_push(room: str, seq: int, sent_s: float, received_s: float) -> None:
            tracker.push(seq)
            if self.measuring:
                result.pushes += 1
                record_s(latency, received_s - sent_s)

        return on_push

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
        """Trigger events over the live members open-loop; wait for the outstanding replies."""
        members = self.live()
        if not members or rate <= 0:
            await asyncio.sleep(duration_s)
            return
        loop = asyncio.get_running_loop()
        result = self.result
        prefix = f"{self.plan.run_id}-{self.worker}-"
        share = rate / self.plan.processes

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
            result.gaps += member.tracker.gaps
            result.reordered += member.tracker.reordered
            if member.link is not None and member.link.closed.done():
                result.unexpected_closes += 1
        result.latency_hdr = self.latency.encode()
        result.reply_hdr = self.replies.encode()
        return result

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


class Idle(Scenario):
    """Connections held open; the latency is each one's connect + join."""

    def on_connected(self, seconds: float) -> None:
        """Record the member's connect + join time as the latency."""
        record_s(self.latency, seconds)

    async def run(self) -> None:
        """Hold the connections open for the plan's duration."""
        await asyncio.sleep(self.plan.duration_s)


class Fanout(Scenario):
    """Members trigger room events; every member's push is timed and its seq checked."""

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Like `Scenario`, with the push delay as the latency."""
        super().__init__(plan, worker, result)
        # The push delay is the main latency here; spin replies are reported beside it.
        self.latency = self.push_latency

    async def run(self) -> None:
        """Drive events at the plan's rate, then wait for the last pushes, timing every one."""
        self.measuring = True
        await self.drive(self.plan.rate, self.plan.duration_s)
        await self.settle()
        self.measuring = False


class Spins(Scenario):
    """Spins open-loop at the plan's rate; the latency is due time -> result."""

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Like `Scenario`, with the spin reply time as the latency."""
        super().__init__(plan, worker, result)
        # The spin reply is the main latency here.
        self.replies = self.latency

    async def run(self) -> None:
        """Spin at the plan's rate for its duration and wait for the replies."""
        await self.drive(self.plan.rate, self.plan.duration_s)


class Reconnect(Scenario):
    """Every client drops at once and resumes with `since_seq` while a driver keeps events flowing.

    The latency is drop -> resumed, and every missed frame must be replayed.
    """

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Like `Scenario`; worker 0 also gets a driver per room when the plan has a rate."""
        super().__init__(plan, worker, result)
        # Worker 0 also runs one driver connection per room, never dropped.
        self.drivers = (
            [
                Member(-1 - n, f"lt-driver-{n + 1:04d}", room, None)
                for n, room in enumerate(plan.rooms)
            ]
            if worker == 0 and plan.rate > 0
            else []
        )

    async def connect(self) -> None:
        """Connect the members, then the drivers."""
        await super().connect()
        for driver in self.drivers:
            await self._join(driver, None)

    async def run(self) -> None:
        """Let events flow, drop every member at once, resume them all, listen to the end."""
        started = time.monotonic()
        driving = asyncio.ensure_future(self._drive_rooms())
        try:
            # Let traffic flow, then cut every connection at once.
            await asyncio.sleep(min(1.0, self.plan.duration_s / 4))
            await self._drop_and_resume()
            # Keep listening to the end: the resumed streams must go on without a gap.
            await asyncio.sleep(max(0.5, self.plan.duration_s - (time.monotonic() - started)))
        finally:
            driving.cancel()
            await asyncio.gather(driving, return_exceptions=True)
        await self.settle()

    async def _drive_rooms(self) -> None:
        if not self.drivers:
            return
        drivers = self.drivers
        prefix = f"{self.plan.run_id}-drv-"

        def fire(index: int, due: float) -> None:
            driver = drivers[index % len(drivers)]
            if driver.link is not None and not driver.link.closed.done():
                self.result.triggered += 1
                driver.link.trigger(driver.room, prefix + str(index), self._driver_reply)

        await paced(self.plan.rate, 3600.0, fire)

    def _driver_reply(self, code: str | None) -> None:
        if code is None:
            self.result.succeeded += 1
        else:
            self._count_error(code)

    async def _drop_and_resume(self) -> None:
        members = [m for m in self.members if m.link is not None]
        self.result.dropped_s = time.time()
        dropped = time.perf_counter()
        for member in members:
            assert member.link is not None
            member.link.drop()
        await asyncio.sleep(self.plan.down_s)
        gate = asyncio.Semaphore(self.plan.connect_concurrency)

        async def resume(member: Member) -> None:
            async with gate:
                try:
                    self.result.lost += await self._join(member, member.tracker.last)
                except Exception as exc:
                    self._count_error(_error_code(exc))
                    return
                record_s(self.latency, time.perf_counter() - dropped)

        self.measuring = True
        await asyncio.gather(*(resume(member) for member in members))
        self.result.all_resumed_s = time.time()

    def finish(self) -> WorkerResult:
        """Fold the members' and the drivers' counts into the result."""
        result = super().finish()
        for driver in self.drivers:
            result.gaps += driver.tracker.gaps
            result.reordered += driver.tracker.reordered
            if driver.link is not None and driver.link.closed.done():
                result.unexpected_closes += 1
        return result

    async def close(self) -> None:
        """Close the drivers' connections with the members'."""
        self.members.extend(self.drivers)
        self.drivers = []
        await super().close()


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, LinkError):
        return exc.code
    if isinstance(exc, TimeoutError):
        return "CONNECT_TIMEOUT"
    if isinstance(exc, OSError):
        return "CONNECT_FAILED"
    return type(exc).__name__


SCENARIO_CLASSES: dict[str, type[Scenario]] = {
    "idle": Idle,
    "fanout": Fanout,
    "spins": Spins,
    "reconnect": Reconnect,
}
