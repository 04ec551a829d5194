"""The JSON report: one scenario run, merged over the worker processes."""

import base64
from collections.abc import Sequence
from pathlib import Path

import msgspec
from hdrh.histogram import HdrHistogram

from loadtest.plan import Plan, WorkerResult
from loadtest.redis_stats import RedisFigures
from loadtest.report_parts import (
    Delivery,
    FailoverFigures,
    Kill,
    ServerFigures,
    delivery,
    failover_figures,
    frames_published,
    kill_to_resumed,
    max_ms,
    merge_histograms,
    ms,
    server_figures,
    summed,
)
from loadtest.server_stats import ServerSamples

__all__ = ["Report", "ServerFigures", "Step", "build_report", "merge_histograms"]

# What `p50_ms` ... `max_ms` measure, per scenario.
LATENCY_OF = {
    "idle": "connect + join, per connection",
    "fanout": "push delay: server send stamp -> frame at each member",
    "spins": "spin due time (open loop) -> spin.result",
    "reconnect": "drop -> room.resumed, per client",
    "failover": "node killed -> room.resumed, per connection of the killed node",
}


class Step(msgspec.Struct, kw_only=True):
    """One rate tried by `--rate max`."""

    rate: float
    achieved_rate: float
    p99_ms: float
    errors: int
    held: bool


class Report(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Everything one run measured."""

    scenario: str
    wire: str
    url: str
    connections: int  # connected and joined
    connect_failures: int
    rooms: int
    processes: int
    duration_s: float
    target_rate: float
    achieved_rate: float  # events a second the server confirmed (idle: connections a second)
    latency_of: str
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    samples: int  # latency samples behind the percentiles
    errors: dict[str, int]
    gaps: int
    reordered: int = 0
    duplicates: int = 0
    unexpected_closes: int = 0
    server: ServerFigures | None = None  # summed over the processes with several
    servers: list[ServerFigures] = []  # per process
    urls: list[str] = []  # several nodes: each one's URL (connection i on urls[i % n])
    connections_per_node: list[int] = []
    connect_rate_per_s: float = 0.0
    events: int = 0
    frames_delivered: int = 0
    frames_per_s: float = 0.0
    frames_per_server_cpu_s: float | None = None
    events_per_server_cpu_s: float | None = None
    reply_p50_ms: float | None = None
    reply_p99_ms: float | None = None
    resumed: int | None = None
    not_recovered: int | None = None
    frames_lost: int | None = None
    time_to_resume_s: float | None = None
    delivery: Delivery | None = None
    frames_published: int = 0  # distinct room seqs the members saw
    redis: RedisFigures | None = None
    tickers: dict[str, str] = {}  # room -> the node publishing its frames (side API)
    failover: FailoverFigures | None = None
    steps: list[Step] = []
    fatal: list[str] = []
    # The main latency's HDR histogram (microseconds), base64 of its compressed encoding.
    histogram: str = ""


def build_report(
    plan: Plan,
    results: list[WorkerResult],
    window_s: float,
    server_pids: Sequence[int] | None,
    before: ServerSamples | None,
    start: ServerSamples | None,
    finish: ServerSamples | None,
    *,
    redis: RedisFigures | None = None,
    kill: Kill | None = None,
    tickers: dict[str, str] | None = None,
) -> Report:
    """Merge the workers' results into the report of the run.

    Args:
        plan: What was run.
        results: Every worker's result.
        window_s: How long the measured window lasted (start line to finish line).
        server_pids: The server processes read (`--server-pid`).
        before: Their readings before the generator connected.
        start: At the start line.
        finish: At the finish line (a killed node's: just before the kill).
        redis: The Redis figures over the window (`--redis-url`).
        kill: The failover's kill.
        tickers: Each room's publishing node.
    """
    failover = plan.scenario == "failover"
    latency = merge_histograms([r.latency_hdr for r in results])
    if failover and kill is not None:
        latency = kill_to_resumed(results, kill)
    replies = merge_histograms([r.reply_hdr for r in results])
    errors: dict[str, int] = {}
    for result in results:
        for code, count in result.errors.items():
            errors[code] = errors.get(code, 0) + count
    connected = sum(r.connected for r in results)
    pushes = sum(r.pushes for r in results)
    succeeded = sum(r.succeeded for r in results)
    started = [r.connect_started_s for r in results if r.connect_started_s]
    finished = [r.connect_finished_s for r in results if r.connect_finished_s]
    connect_s = max(finished) - min(started) if started and finished else 0.0
    connect_rate = connected / connect_s if connect_s > 0 else 0.0
    duration = round(window_s, 3)
    # Events confirmed a second, over the time it really took to confirm them (a server that
    # falls behind finishes late, and its rate is lower than the one asked for).
    began = [r.events_started_s for r in results if r.events_started_s]
    ended = [r.last_reply_s for r in results if r.last_reply_s]
    events_s = max(plan.duration_s, max(ended) - min(began)) if began and ended else plan.duration_s

    servers = server_figures(server_pids or (), before or {}, start or {}, finish or {}, connected)
    server = None
    if len(servers) == 1:
        server = servers[0]
    elif servers:
        server = summed(servers, connected)
    cpu_s = server.cpu_s if server is not None else None
    gaps = sum(r.gaps for r in results)

    report = Report(
        scenario=plan.scenario,
        wire=plan.target.wire,
        url=",".join(plan.nodes),
        connections=connected,
        connect_failures=sum(r.connect_failures for r in results),
        rooms=len(plan.rooms),
        processes=plan.processes,
        duration_s=duration,
        target_rate=plan.rate,
        achieved_rate=round(
            connect_rate if plan.scenario == "idle" else succeeded / max(events_s, 1e-9),
            1,
        ),
        latency_of=LATENCY_OF[plan.scenario],
        p50_ms=ms(latency, 50),
        p90_ms=ms(latency, 90),
        p99_ms=ms(latency, 99),
        p999_ms=ms(latency, 99.9),
        max_ms=max_ms(latency),
        samples=latency.get_total_count(),
        errors=errors,
        gaps=gaps,
        reordered=sum(r.reordered for r in results),
        duplicates=sum(r.duplicates for r in results),
        unexpected_closes=sum(r.unexpected_closes for r in results),
        server=server,
        servers=servers if server_pids and len(server_pids) > 1 else [],
        connect_rate_per_s=round(connect_rate, 1),
        events=sum(r.triggered for r in results),
        frames_delivered=pushes,
        frames_per_s=round(pushes / window_s, 1) if window_s > 0 else 0.0,
        delivery=delivery(results),
        frames_published=frames_published(results),
        redis=redis,
        tickers=tickers or {},
        fatal=[r.fatal for r in results if r.fatal],
        histogram=base64.b64encode(latency.encode()).decode() if latency.get_total_count() else "",
    )
    if len(plan.nodes) > 1:
        report.urls = list(plan.nodes)
        per_node = [0] * len(plan.nodes)
        for result in results:
            for node, count in enumerate(result.connected_per_node):
                per_node[node] += count
        report.connections_per_node = per_node
    if cpu_s:
        report.frames_per_server_cpu_s = round(pushes / cpu_s, 1)
        report.events_per_server_cpu_s = round(succeeded / cpu_s, 1)
    if plan.scenario == "fanout" and replies.get_total_count():
        report.reply_p50_ms = ms(replies, 50)
        report.reply_p99_ms = ms(replies, 99)
    if plan.scenario in ("reconnect", "failover"):
        report.resumed = sum(r.resumed for r in results)
        report.not_recovered = sum(r.not_recovered for r in results)
        report.frames_lost = sum(r.lost for r in results) + gaps
    if plan.scenario == "reconnect":
        dropped = [r.dropped_s for r in results if r.dropped_s]
        resumed = [r.all_resumed_s for r in results if r.all_resumed_s]
        if dropped and resumed:
            report.time_to_resume_s = round(max(resumed) - min(dropped), 3)
    if failover and kill is not None:
        report.failover = failover_figures(results, kill, plan.kill_after_s, gaps)
    return report


def write_report(report: Report, path: Path) -> None:
    """Write the report as indented JSON."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")


def read_report(path: Path) -> Report:
    """Read a report written by `write_report`."""
    return msgspec.json.decode(path.read_bytes(), type=Report)


def histogram_of(report: Report) -> HdrHistogram:
    """The report's latency histogram."""
    return merge_histograms([base64.b64decode(report.histogram)] if report.histogram else [])
