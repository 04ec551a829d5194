"""The scenarios: what each worker process does between the start and finish lines.

- idle: hold the connections; the latency is connect + join.
- fanout: members trigger events open-loop at the plan's rate; the latency is push delay
  (server send stamp -> frame at each member), also split same-node / cross-node.
- spins: spins open-loop at the plan's rate; the latency is due time -> `spin.result`.
- reconnect: every client drops at once and rejoins with `since_seq`; the latency is drop ->
  that client whole again (`room.resumed`).
- failover: a node is killed; its clients resume on the others (`loadtest.failover`).
"""

import asyncio
import time

from loadtest.failover import Failover
from loadtest.pacer import paced
from loadtest.plan import Plan, WorkerResult
from loadtest.scenario_base import Member, Scenario, error_code
from loadtest.tracking import record_s


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

    # Spins cause no measured frames: every member spins, on every node.
    origin_spins = False

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
        # Worker 0 also runs one driver connection per room, never dropped, on the room's
        # origin node: its spins cause the room's frames.
        self.drivers = (
            [
                Member(-1 - n, f"lt-driver-{n + 1:04d}", room, None, node=plan.origin_of(n))
                for n, room in enumerate(plan.rooms)
            ]
            if worker == 0 and plan.rate > 0
            else []
        )

    async def connect_anchors(self) -> None:
        """Connect the drivers first: their nodes take the rooms' ticker leases."""
        self.result.connect_started_s = time.time()
        for driver in self.drivers:
            await self._join(driver, None)
        await self.connect_members(self.anchors())

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
                    self._count_error(error_code(exc))
                    return
                record_s(self.latency, time.perf_counter() - dropped)

        self.measuring = True
        await asyncio.gather(*(resume(member) for member in members))
        self.result.all_resumed_s = time.time()

    def finish(self) -> WorkerResult:
        """Fold the members' and the drivers' counts into the result."""
        result = super().finish()
        for driver in self.drivers:
            self.fold(driver)
        return result

    async def close(self) -> None:
        """Close the drivers' connections with the members'."""
        self.members.extend(self.drivers)
        self.drivers = []
        await super().close()


SCENARIO_CLASSES: dict[str, type[Scenario]] = {
    "idle": Idle,
    "fanout": Fanout,
    "spins": Spins,
    "reconnect": Reconnect,
    "failover": Failover,
}
