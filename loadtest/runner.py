"""One run of a plan: the worker processes, and what the parent reads and does meanwhile.

The parent reads the servers' processes (`--server-pid`) and Redis (`--redis-url`) at the start
and finish lines, asks the side API which node publishes each room (several nodes), and in the
failover scenario kills the node (`--kill-pid`) `kill_after_s` after the start line.
"""

import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier

from loadtest.nodes import port_of
from loadtest.plan import Plan, WorkerResult
from loadtest.progress import Progress
from loadtest.redis_stats import RedisFigures, RedisSample, read_redis, redis_figures
from loadtest.report import Report, Step, build_report
from loadtest.report_parts import Kill, frames_published
from loadtest.server_stats import ServerSample, ServerSamples, listens_on, sample, sample_all
from loadtest.side_api import room_tickers
from loadtest.wires import speaks_roomserver
from loadtest.worker import BARRIER_TIMEOUT_S, COUNTERS, run_worker

# --rate max: the p99 a rate must hold, and the share of it that must be achieved.
MAX_RATE_P99_MS = 50.0
MAX_RATE_ACHIEVED = 0.95


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the parent process reads and does beside the workers."""

    server_pids: tuple[int, ...] = ()
    redis_url: str | None = None
    kill_pid: int | None = None  # failover
    api_url: str | None = None  # to ask which node publishes each room
    api_key: str = ""
    quiet: bool = False


def run(plan: Plan, options: RunOptions) -> Report:
    """One run of the plan over `plan.processes` worker processes."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(plan.processes + 1)
    counters = context.Array("d", plan.processes * COUNTERS, lock=False)
    results: multiprocessing.Queue[WorkerResult] = context.Queue()
    pids = options.server_pids
    before = sample_all(pids)
    workers = [
        context.Process(
            target=run_worker,
            args=(plan, worker, barrier, counters, results),
            name=f"loadtest-{worker}",
            daemon=True,
        )
        for worker in range(plan.processes)
    ]
    for process in workers:
        process.start()
    label = f"{plan.scenario} {plan.target.wire}"
    start: ServerSamples = {}
    finish: ServerSamples = {}
    redis_start: RedisSample | None = None
    redis_finish: RedisSample | None = None
    kill: Kill | None = None
    tickers: dict[str, str] = {}
    window_s = 0.0
    with Progress(label, plan.connections, counters, enabled=not options.quiet) as progress:
        try:
            barrier.wait(BARRIER_TIMEOUT_S)  # anchored: the first member of each room joined
            barrier.wait(BARRIER_TIMEOUT_S)  # ready: everyone connected
            progress.phase = "running"
            redis_start = _read_redis(options.redis_url)
            start = sample_all(pids)
            went = time.monotonic()
            barrier.wait(BARRIER_TIMEOUT_S)  # go
            last: ServerSample | None = None
            if plan.scenario == "failover" and options.kill_pid is not None:
                kill, last = kill_node(plan, options.kill_pid, barrier)
                progress.phase = "killed" if kill.at_s is not None else "kill failed"
            barrier.wait(plan.finish_timeout_s)  # finished
            window_s = time.monotonic() - went
            finish = sample_all(pids)
            if kill is not None and last is not None:
                finish[kill.pid] = last  # its CPU and memory up to the kill
            redis_finish = _read_redis(options.redis_url)
            if len(plan.nodes) > 1 and speaks_roomserver(plan.target.wire) and options.api_url:
                tickers = room_tickers(options.api_url, options.api_key, plan.rooms)
            progress.phase = "closing"
            barrier.wait(BARRIER_TIMEOUT_S)  # released
        except threading.BrokenBarrierError:
            progress.phase = "failed"
        collected = _collect(results, workers)
    redis: RedisFigures | None = None
    if redis_start is not None and redis_finish is not None:
        redis = redis_figures(redis_start, redis_finish, frames_published(collected))
    return build_report(
        plan,
        collected,
        window_s,
        pids,
        before,
        start,
        finish,
        redis=redis,
        kill=kill,
        tickers=tickers,
    )


def kill_node(plan: Plan, pid: int, barrier: Barrier) -> tuple[Kill, ServerSample | None]:
    """Wait `kill_after_s`, then SIGKILL the node, checking first it still serves its URL.

    Nothing is killed when a worker failed meanwhile (the barrier is broken).

    Returns:
        The kill (its time, or why it was not sent), and the node's last reading.
    """
    assert plan.kill_node is not None
    url = plan.nodes[plan.kill_node]
    time.sleep(plan.kill_after_s)
    if barrier.broken:
        return Kill(pid, plan.kill_node, url, None, "a generator process failed"), None
    # The pid was checked at the start; a process that no longer listens there is not it.
    if not listens_on(pid, port_of(url)):
        return Kill(pid, plan.kill_node, url, None, f"pid {pid} no longer listens there"), None
    last = sample(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        return Kill(pid, plan.kill_node, url, None, str(exc)), last
    return Kill(pid, plan.kill_node, url, time.time()), last


def _read_redis(url: str | None) -> RedisSample | None:
    if url is None:
        return None
    try:
        return read_redis(url)
    except Exception as exc:  # a lost reading leaves the Redis figures out, not the run
        print(f"loadtest: reading Redis failed: {exc}", file=sys.stderr)
        return None


def _collect(
    results: "multiprocessing.Queue[WorkerResult]", workers: Sequence[BaseProcess]
) -> list[WorkerResult]:
    collected: list[WorkerResult] = []
    deadline = time.monotonic() + 60.0
    while len(collected) < len(workers) and time.monotonic() < deadline:
        try:
            collected.append(results.get(timeout=1.0))
        except Exception:  # queue.Empty: a worker may have died; check below
            if not any(process.is_alive() for process in workers):
                break
    for process in workers:
        process.join(timeout=10.0)
        if process.is_alive():
            process.kill()
    missing = {result.worker for result in collected}
    for index, process in enumerate(workers):
        if index not in missing:
            failed = WorkerResult(index)
            failed.fatal = f"worker {index} exited with {process.exitcode} and no result"
            collected.append(failed)
    return collected


def find_max_rate(base: Plan, options: RunOptions) -> Report:
    """The highest spin rate held with p99 under 50 ms, no errors and 95 % achieved.

    Doubles from 250/s until a rate is missed, then halves the interval between the highest
    held and the lowest missed rate until they are within 10 % of each other.
    """
    held: Report | None = None
    missed_rate: float | None = None
    rate = 250.0
    steps: list[Step] = []
    for step in range(12):
        plan = dataclasses.replace(base, rate=rate, run_id=f"{base.run_id}s{step}")
        report = run(plan, options)
        errors = sum(report.errors.values())
        ok = (
            not report.fatal
            and errors == 0
            and report.p99_ms < MAX_RATE_P99_MS
            and report.achieved_rate >= MAX_RATE_ACHIEVED * rate
        )
        steps.append(
            Step(
                rate=rate,
                achieved_rate=report.achieved_rate,
                p99_ms=report.p99_ms,
                errors=errors,
                held=ok,
            )
        )
        if not options.quiet:
            verdict = "held" if ok else "missed"
            print(
                f"rate {rate:.0f}/s: p99 {report.p99_ms} ms, achieved {report.achieved_rate}/s,"
                f" {errors} errors: {verdict}",
                file=sys.stderr,
            )
        if ok:
            held = report
        else:
            missed_rate = rate
        if missed_rate is None:
            rate *= 2
        elif held is None:
            if rate <= 25:
                break
            rate /= 2
        elif missed_rate - held.target_rate <= 0.1 * held.target_rate:
            break
        else:
            rate = round((held.target_rate + missed_rate) / 2)
    best = held if held is not None else report
    best.steps = steps
    return best
