"""One load-generator process: its share of the connections, in step with the others.

Every worker passes five lines together with the parent (a `multiprocessing.Barrier`):
anchored (the first member of each room on its origin node joined, see `loadtest.plan`), ready
(all connected), go (the parent has read the server's counters), finished (the parent reads
them again), released (close). Waiting happens in a thread so the event loop keeps reading its
sockets meanwhile.
"""

import asyncio
import contextlib
import resource
import threading
import traceback
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Barrier

from loadtest.plan import Plan, WorkerResult
from loadtest.scenario_base import Scenario
from loadtest.scenarios import SCENARIO_CLASSES

# Progress counters per worker in the shared array: connected, events, pushes.
COUNTERS = 3
BARRIER_TIMEOUT_S = 600.0
# After the anchors joined: time for their nodes to take the rooms' ticker leases (one Redis
# round trip) before members on other nodes join.
ANCHOR_SETTLE_S = 0.2


def run_worker(
    plan: Plan,
    worker: int,
    barrier: Barrier,
    counters: "SynchronizedArray[float]",
    results: "Queue[WorkerResult]",
) -> None:
    """The process's entry point."""
    _raise_file_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        result = asyncio.run(_work(plan, worker, barrier, counters))
    else:
        result = uvloop.run(_work(plan, worker, barrier, counters))
    results.put(result)


async def _work(
    plan: Plan, worker: int, barrier: Barrier, counters: "SynchronizedArray[float]"
) -> WorkerResult:
    result = WorkerResult(worker)
    scenario = SCENARIO_CLASSES[plan.scenario](plan, worker, result)
    reporter = asyncio.ensure_future(_report_progress(scenario, worker, counters))
    try:
        await scenario.connect_anchors()
        await _line(barrier)  # anchored
        if len(plan.nodes) > 1:
            await asyncio.sleep(ANCHOR_SETTLE_S)
        await scenario.connect()
        await _line(barrier)  # ready
        await _line(barrier)  # go
        await scenario.run()
        result = scenario.finish()
        await _line(barrier, plan.finish_timeout_s)  # finished
        await _line(barrier)  # released
    except threading.BrokenBarrierError:
        result.fatal = result.fatal or "another process failed"
    except Exception:
        result.fatal = traceback.format_exc(limit=8)
        barrier.abort()
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        _publish(scenario, worker, counters)
        await scenario.close()
    return result


async def _line(barrier: Barrier, timeout_s: float = BARRIER_TIMEOUT_S) -> None:
    await asyncio.to_thread(barrier.wait, timeout_s)


async def _report_progress(
    scenario: Scenario, worker: int, counters: "SynchronizedArray[float]"
) -> None:
    while True:
        _publish(scenario, worker, counters)
        await asyncio.sleep(0.25)


def _publish(scenario: Scenario, worker: int, counters: "SynchronizedArray[float]") -> None:
    result = scenario.result
    base = worker * COUNTERS
    counters[base] = result.connected
    counters[base + 1] = result.triggered
    counters[base + 2] = result.pushes


def _raise_file_limit() -> None:
    """Thousands of sockets per process: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
