"""`python -m loadtest SCENARIO --url ws://HOST:PORT/ws [...]`: run a scenario, print its report."""

import argparse
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from loadtest.links import Target
from loadtest.nodes import check_kill_target, is_loopback, split_urls
from loadtest.plan import SCENARIOS, Plan
from loadtest.redis_stats import read_redis
from loadtest.report import write_report
from loadtest.runner import RunOptions, find_max_rate, run
from loadtest.server_stats import check_pid
from loadtest.side_api import SANDBOX_API_KEY, SideApiError, create_rooms, default_api_url
from loadtest.tokens import sandbox_auth
from loadtest.wires import speaks_roomserver, wire_names

DEFAULT_CONNECTIONS = {
    "idle": 1000,
    "fanout": 1000,
    "spins": 100,
    "reconnect": 500,
    "failover": 100,
}
DEFAULT_RATE = {"idle": 0.0, "fanout": 1000.0, "spins": 300.0, "reconnect": 50.0, "failover": 20.0}
# failover: the kill comes this long after the start line, at most (a third of the duration
# when that is shorter).
DEFAULT_KILL_AFTER_S = 2.0


class UsageError(Exception):
    """A bad command line or an unreachable side API."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (`urls`: every `--url`, split at commas)."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load generator for roomserver (and the fan-out peers in bench/).",
    )
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument(
        "--url",
        action="append",
        required=True,
        help="ws://HOST:PORT/ws; several times (or comma-separated) for several nodes: "
        "connection i goes to the (i mod n)-th",
    )
    parser.add_argument(
        "--wire",
        default="roomserver",
        help="roomserver (default; events are spins), roomserver-bench (events are bench.publish, "
        "for a node with server.bench_publish) or a peer's",
    )
    parser.add_argument("--connections", type=int, help="connections in all (default per scenario)")
    parser.add_argument(
        "--rooms",
        type=int,
        help="rooms to spread the connections over; with our wires they are created through the "
        "side API (default: everyone joins `demo`)",
    )
    parser.add_argument(
        "--rate", help="events a second (spins or pushes triggers), or `max` for spins"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="generator processes"
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        help="read a server's CPU and RSS (several times: summed, and reported per process)",
    )
    parser.add_argument(
        "--redis-url", help="read INFO commandstats and cpu of the nodes' Redis around the run"
    )
    parser.add_argument("--kill-pid", type=int, help="failover: the node process to SIGKILL")
    parser.add_argument("--kill-url", help="failover: the --url that node serves")
    parser.add_argument(
        "--kill-after",
        type=float,
        help=f"failover: seconds after the start (default {DEFAULT_KILL_AFTER_S:g}, or a third "
        "of --duration when shorter)",
    )
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--plot", type=Path, help="write a PNG latency plot here")
    parser.add_argument("--jwt-secret", help="HS256 secret (default: the sandbox's)")
    parser.add_argument("--api-url", help="side API of any node (default http://HOST:8766)")
    parser.add_argument("--api-key", default=SANDBOX_API_KEY, help="side-API key")
    parser.add_argument("--stake", type=int, default=10, help="stake of each spin")
    parser.add_argument(
        "--fresh-rooms",
        action="store_true",
        help="create new rooms for this run (default: the same `--rooms` rooms every run, "
        "whose standings carry over, so how often their leaderboard changes depends on history)",
    )
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
    args.urls = split_urls(args.url)
    if not args.urls:
        parser.error("--url names no URL")
    if len(set(args.urls)) != len(args.urls):
        parser.error("--url: each node once")
    problem = _failover_problem(args)
    if problem:
        parser.error(problem)
    return args


def _failover_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the failover options (and sets the default `--kill-after`)."""
    killing = (args.kill_pid, args.kill_url, args.kill_after)
    if args.scenario != "failover":
        if any(option is not None for option in killing):
            return "--kill-pid, --kill-url and --kill-after are for the failover scenario"
        return None
    if args.wire != "roomserver":
        return "failover needs the roomserver wire (resume with since_seq)"
    if len(args.urls) < 2:
        return "failover needs at least two nodes (--url several times)"
    if args.kill_pid is None or args.kill_url is None:
        return "failover needs --kill-pid and --kill-url"
    if args.kill_url not in args.urls:
        return "--kill-url must be one of the --url values"
    # It kills a process: every address it speaks to must be on this machine.
    remote = [
        url
        for url in (*args.urls, args.api_url, args.redis_url)
        if url is not None and not is_loopback(url)
    ]
    if remote:
        return f"failover speaks only to loopback addresses, not {', '.join(remote)}"
    if args.kill_pid in (os.getpid(), os.getppid()):
        return "--kill-pid names the load generator itself"
    if args.rooms is not None and args.rooms > 1:
        return "failover uses one room (--rooms 1, or none for `demo`)"
    if args.kill_after is None:
        args.kill_after = min(DEFAULT_KILL_AFTER_S, args.duration / 3)
    if not 0 < args.kill_after < args.duration:
        return "--kill-after must be positive and shorter than --duration"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the scenario; exit 0 when it ran (read the report for how well), 2 on bad usage."""
    args = parse_args(argv)
    pids = tuple(args.server_pid or ())
    try:
        for pid in pids:
            check_pid(pid)
        if args.kill_pid is not None:
            check_kill_target(args.kill_pid, args.kill_url)
        if args.redis_url is not None:
            _check_redis(args.redis_url)
        base = _plan(args)
    except (UsageError, ValueError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(
        server_pids=pids,
        redis_url=args.redis_url,
        kill_pid=args.kill_pid,
        api_url=args.api_url or default_api_url(args.urls[0]),
        api_key=args.api_key,
        quiet=args.quiet,
    )
    report = find_max_rate(base, options) if args.rate == "max" else run(base, options)
    if args.report is not None:
        write_report(report, args.report)
    if args.plot is not None:
        from loadtest.plot import plot_report

        plot_report({report.wire: report}, args.plot)
    summary = msgspec.structs.replace(report, histogram="")
    print(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode())
    return 1 if report.fatal else 0


def _check_redis(url: str) -> None:
    try:
        read_redis(url)
    except Exception as exc:
        raise UsageError(f"--redis-url {url}: {exc}") from None


def _plan(args: argparse.Namespace) -> Plan:
    secret, issuer, audience = sandbox_auth()
    urls: list[str] = args.urls
    target = Target(
        url=urls[0],
        wire=args.wire,
        jwt_secret=args.jwt_secret or secret,
        jwt_issuer=issuer,
        jwt_audience=audience,
        stake=args.stake,
    )
    connections = args.connections or DEFAULT_CONNECTIONS[args.scenario]
    processes = max(1, min(args.processes, connections))
    run_id = secrets.token_hex(4)
    if speaks_roomserver(args.wire):
        if args.rooms:
            api_url = args.api_url or default_api_url(urls[0])
            try:
                prefix = f"lt-{run_id}" if args.fresh_rooms else "lt"
                rooms = tuple(create_rooms(api_url, args.api_key, args.rooms, prefix, args.stake))
            except SideApiError as exc:
                raise UsageError(f"creating rooms: {exc}") from None
        else:
            rooms = ("demo",)
    else:
        rooms = tuple(f"r-{number:04d}" for number in range(1, (args.rooms or 1) + 1))
    rate = DEFAULT_RATE[args.scenario] if args.rate in (None, "max") else float(args.rate)
    failover = args.scenario == "failover"
    return Plan(
        scenario=args.scenario,
        target=target,
        rooms=rooms,
        connections=connections,
        processes=processes,
        rate=rate,
        duration_s=args.duration,
        run_id=run_id,
        source_hosts=(
            _source_hosts(urls[0], args.source_addresses)
            if all(is_loopback(url) for url in urls)
            else ()
        ),
        urls=tuple(urls) if len(urls) > 1 else (),
        kill_node=urls.index(args.kill_url) if failover else None,
        kill_after_s=args.kill_after if failover else 0.0,
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
