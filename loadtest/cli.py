"""`python -m loadtest SCENARIO --url ws://HOST:PORT/ws [...]`: run a scenario, print its report."""

import argparse
import dataclasses
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from loadtest.links import Target
from loadtest.plan import SCENARIOS, Plan, WorkerResult
from loadtest.progress import Progress
from loadtest.report import Report, Step, build_report, write_report
from loadtest.server_stats import ServerSample, check_pid, sample
from loadtest.side_api import SANDBOX_API_KEY, SideApiError, create_rooms, default_api_url
from loadtest.tokens import sandbox_auth
from loadtest.wires import wire_names
from loadtest.worker import BARRIER_TIMEOUT_S, COUNTERS, run_worker

DEFAULT_CONNECTIONS = {"idle": 1000, "fanout": 1000, "spins": 100, "reconnect": 500}
DEFAULT_RATE = {"idle": 0.0, "fanout": 1000.0, "spins": 300.0, "reconnect": 50.0}
# --rate max: the p99 a rate must hold, and the share of it that must be achieved.
MAX_RATE_P99_MS = 50.0
MAX_RATE_ACHIEVED = 0.95


class UsageError(Exception):
    """A bad command line or an unreachable side API."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load generator for roomserver (and the fan-out peers in bench/).",
    )
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--url", required=True, help="ws://HOST:PORT/ws")
    parser.add_argument("--wire", default="roomserver", help="roomserver (default) or a peer's")
    parser.add_argument("--connections", type=int, help="connections in all (default per scenario)")
    parser.add_argument(
        "--rooms",
        type=int,
        help="rooms to spread the connections over; with our wire they are created through the "
        "side API (default: everyone joins `demo`)",
    )
    parser.add_argument(
        "--rate", help="events a second (spins or pushes triggers), or `max` for spins"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="generator processes"
    )
    parser.add_argument("--server-pid", type=int, help="read the server's CPU and RSS")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--plot", type=Path, help="write a PNG latency plot here")
    parser.add_argument("--jwt-secret", help="HS256 secret (default: the sandbox's)")
    parser.add_argument("--api-url", help="side API (default http://HOST:8766)")
    parser.add_argument("--api-key", default=SANDBOX_API_KEY, help="side-API key")
    parser.add_argument("--stake", type=int, default=10, help="stake of each spin")
    parser.add_argument(
        "--source-addresses",
        type=int,
        default=8,
        help="connect from 127.0.0.2 ... to a loopback server, this many (0: let the kernel pick)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.scenario == "spins" and args.wire != "roomserver":
        parser.error("spins needs the roomserver wire (peers move no money)")
    for name in ("connections", "rooms", "processes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if args.wire not in wire_names():
        parser.error(f"--wire must be one of {', '.join(wire_names())}")
    if args.rate == "max" and args.scenario != "spins":
        parser.error("--rate max is for the spins scenario")
    if args.rate not in (None, "max"):
        try:
            if float(args.rate) < 0:
                raise ValueError
        except ValueError:
            parser.error("--rate must be a non-negative number or `max`")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the scenario; exit 0 when it ran (read the report for how well), 2 on bad usage."""
    args = parse_args(argv)
    try:
        base = _plan(args)
        if args.server_pid is not None:
            check_pid(args.server_pid)
    except (UsageError, ValueError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    if args.rate == "max":
        report = find_max_rate(base, args.server_pid, quiet=args.quiet)
    else:
        report = run(base, args.server_pid, quiet=args.quiet)
    if args.report is not None:
        write_report(report, args.report)
    if args.plot is not None:
        from loadtest.plot import plot_report

        plot_report({report.wire: report}, args.plot)
    summary = msgspec.structs.replace(report, histogram="")
    print(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode())
    return 1 if report.fatal else 0


def _plan(args: argparse.Namespace) -> Plan:
    secret, issuer, audience = sandbox_auth()
    target = Target(
        url=args.url,
        wire=args.wire,
        jwt_secret=args.jwt_secret or secret,
        jwt_issuer=issuer,
        jwt_audience=audience,
        stake=args.stake,
    )
    connections = args.connections or DEFAULT_CONNECTIONS[args.scenario]
    processes = max(1, min(args.processes, connections))
    run_id = secrets.token_hex(4)
    if args.wire == "roomserver":
        if args.rooms:
            api_url = args.api_url or default_api_url(args.url)
            try:
                rooms = tuple(create_rooms(api_url, args.api_key, args.rooms, "lt", args.stake))
            except SideApiError as exc:
                raise UsageError(f"creating rooms: {exc}") from None
        else:
            rooms = ("demo",)
    else:
        rooms = tuple(f"r-{number:04d}" for number in range(1, (args.rooms or 1) + 1))
    rate = DEFAULT_RATE[args.scenario] if args.rate in (None, "max") else float(args.rate)
    return Plan(
        scenario=args.scenario,
        target=target,
        rooms=rooms,
        connections=connections,
        processes=processes,
        rate=rate,
        duration_s=args.duration,
        run_id=run_id,
        source_hosts=_source_hosts(args.url, args.source_addresses),
    )


def _source_hosts(url: str, count: int) -> tuple[str, ...]:
    """Up to `count` source addresses 127.0.0.2, 127.0.0.3, ... for a server on the loopback.

    The kernel's ephemeral ports are per source address, so N addresses give N times the
    connections. Empty for a server elsewhere, or when `count` is 0.
    """
    host = urlsplit(url).hostname or ""
    if count <= 0 or not (host.startswith("127.") or host == "localhost"):
        return ()
    return tuple(f"127.0.0.{2 + n}" for n in range(min(count, 250)))


def run(plan: Plan, server_pid: int | None, *, quiet: bool = False) -> Report:
    """One run of the plan over `plan.processes` worker processes."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(plan.processes + 1)
    counters = context.Array("d", plan.processes * COUNTERS, lock=False)
    results: multiprocessing.Queue[WorkerResult] = context.Queue()
    before = sample(server_pid)
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
    start: ServerSample | None = None
    finish: ServerSample | None = None
    window_s = 0.0
    with Progress(label, plan.connections, counters, enabled=not quiet) as progress:
        try:
            barrier.wait(BARRIER_TIMEOUT_S)  # ready: everyone connected
            progress.phase = "running"
            start = sample(server_pid)
            went = time.monotonic()
            barrier.wait(BARRIER_TIMEOUT_S)  # go
            barrier.wait(plan.duration_s + 2 * plan.drain_s + BARRIER_TIMEOUT_S)  # finished
            window_s = time.monotonic() - went
            finish = sample(server_pid)
            progress.phase = "closing"
            barrier.wait(BARRIER_TIMEOUT_S)  # released
        except threading.BrokenBarrierError:
            progress.phase = "failed"
        collected = _collect(results, workers)
    return build_report(plan, collected, window_s, server_pid, before, start, finish)


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


def find_max_rate(base: Plan, server_pid: int | None, *, quiet: bool = False) -> Report:
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
        report = run(plan, server_pid, quiet=quiet)
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
        if not quiet:
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
