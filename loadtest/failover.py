"""The failover scenario inside one worker: a node dies, its clients resume on the others.

The parent process kills the node (`--kill-pid`, SIGKILL) `kill_after_s` after the start line;
here every connection the server closes reconnects at once: one of the killed node to the
surviving nodes round robin, one of a surviving node (closed for another reason) to its own
node. Each rejoins with `since_seq`/`since_epoch` and its stream is checked on: every frame
replayed, no gap. A member's spins (the members on the room's origin node, a survivor) keep
frames flowing meanwhile. The worker records when each of the killed node's connections was
back (epoch seconds); the parent, which knows when it killed, turns them into latencies.
"""

import asyncio
import contextlib
import time

from loadtest.plan import Plan, WorkerResult
from loadtest.scenario_base import Member, Scenario, error_code

# Between two attempts of one connection to come back.
RETRY_S = 0.2


class Failover(Scenario):
    """A node is killed; every connection it served resumes on a surviving node."""

    def __init__(self, plan: Plan, worker: int, result: WorkerResult) -> None:
        """Like `Scenario`; nothing reconnects until `run` starts."""
        super().__init__(plan, worker, result)
        nodes = len(plan.nodes)
        self._survivors = [node for node in range(nodes) if node != plan.kill_node]
        self._recovering = False
        self._recoveries: set[asyncio.Task[None]] = set()
        self._deadline = 0.0
        self._gate = asyncio.Semaphore(plan.connect_concurrency)

    async def run(self) -> None:
        """Spin, let the kill happen, bring every closed connection back, listen to the end."""
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.plan.duration_s + self.plan.resume_grace_s
        self.measuring = True
        self._recovering = True
        live = self.live()
        self.result.on_killed_node = sum(1 for m in live if m.node == self.plan.kill_node)
        for member in live:
            self._watch(member)
        try:
            await self.drive(self.plan.rate, self.plan.duration_s)
            # Connections still on their way back get until the deadline.
            while self._recoveries and loop.time() < self._deadline:
                await asyncio.wait(
                    set(self._recoveries), timeout=max(0.0, self._deadline - loop.time())
                )
        finally:
            self._recovering = False
            for task in list(self._recoveries):
                task.cancel()
            await asyncio.gather(*self._recoveries, return_exceptions=True)
        await self.settle()
        self.measuring = False

    def _watch(self, member: Member) -> None:
        """Bring the member back when the server closes its current connection."""
        link = member.link
        if link is None:
            return

        def closed(_: object) -> None:
            if self._recovering and member.link is link:
                task = asyncio.ensure_future(self._come_back(member))
                self._recoveries.add(task)
                task.add_done_callback(self._recoveries.discard)

        link.closed.add_done_callback(closed)

    def _node_after(self, member: Member) -> int:
        """Where a closed member goes: the survivors in turn for the killed node's members."""
        if member.node != self.plan.kill_node:
            return member.node
        # The killed node's members are index = nodes * k + kill_node: k numbers them.
        turn = member.index // len(self.plan.nodes)
        return self._survivors[turn % len(self._survivors)]

    async def _come_back(self, member: Member) -> None:
        """Reconnect and rejoin with `since_seq`/`since_epoch` until it works or time is up."""
        killed = member.node == self.plan.kill_node
        member.node = self._node_after(member)
        member.on_origin = member.node == self.plan.origin_of(self.plan.room_index_of(member.index))
        loop = asyncio.get_running_loop()
        reason = "DEADLINE"
        try:
            while loop.time() < self._deadline:
                try:
                    async with self._gate, asyncio.timeout(max(0.0, self._deadline - loop.time())):
                        joined, lost = await self.open_and_join(
                            member, member.tracker.last, member.epoch or None
                        )
                except Exception as exc:
                    reason = error_code(exc)
                    self._drop(member)
                    await asyncio.sleep(RETRY_S)
                    continue
                self._count_back(killed, joined.resumed, lost)
                self._watch(member)
                return
        except asyncio.CancelledError:
            self._count_not_back(reason if killed else f"other:{reason}")
            raise
        self._count_not_back(reason if killed else f"other:{reason}")

    def _count_back(self, killed: bool, resumed: bool, lost: int) -> None:
        result = self.result
        back_s = time.time()
        result.lost += lost
        if resumed:
            result.resumed += 1
        else:
            result.not_recovered += 1
        if not killed:
            result.other_reconnects += 1
        elif resumed:
            result.resumed_at_s.append(back_s)
        else:
            result.not_recovered_at_s.append(back_s)

    def _drop(self, member: Member) -> None:
        """Forget a link that failed to join (its socket, if any, is cut)."""
        link, member.link = member.link, None
        if link is not None and not link.closed.done():
            with contextlib.suppress(Exception):
                link.drop()

    def _count_not_back(self, reason: str) -> None:
        not_back = self.result.not_back
        not_back[reason] = not_back.get(reason, 0) + 1

    def finish(self) -> WorkerResult:
        """Fold the counts, and where every connection is at the end."""
        result = super().finish()
        after = [0] * len(self.plan.nodes)
        for member in self.live():
            after[member.node] += 1
        result.nodes_after = after
        return result
