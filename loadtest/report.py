"""The JSON report: one scenario run, merged over the worker processes."""

import base64
from pathlib import Path

import msgspec
from hdrh.histogram import HdrHistogram

from loadtest.plan import Plan, WorkerResult
from loadtest.server_stats import ServerSample
from loadtest.tracking import new_histogram

# What `p50_ms` ... `max_ms` measure, per scenario.
LATENCY_OF = {
    "idle": "connect + join, per connection",
    "fanout": "push delay: server send stamp -> frame at each member",
    "spins": "spin due time (open loop) -> spin.result",
    "reconnect": "drop -> room.resumed, per client",
}


class ServerFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The server process's own numbers over the measured window."""

    pid: int
    cpu_s: float  # CPU seconds the server used between start and finish of the run
    rss_mib: float  # resident memory at the finish
    rss_before_mib: float  # before the generator connected
    rss_per_connection_kib: float | None = None


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
    unexpected_closes: int = 0
    server: ServerFigures | None = None
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
    steps: list[Step] = []
    fatal: list[str] = []
    # The main latency's HDR histogram (microseconds), base64 of its compressed encoding.
    histogram: str = ""


def merge_histograms(encoded: list[bytes]) -> HdrHistogram:
    """One histogram holding every worker's samples."""
    merged = new_histogram()
    for blob in encoded:
        if blob:
            merged.decode_and_add(blob)
    return merged


def _ms(histogram: HdrHistogram, percentile: float) -> float:
    if histogram.get_total_count() == 0:
        return 0.0
    return round(float(histogram.get_value_at_percentile(percentile)) / 1000.0, 3)


def build_report(
    plan: Plan,
    results: list[WorkerResult],
    window_s: float,
    server_pid: int | None,
    before: ServerSample | None,
    start: ServerSample | None,
    finish: ServerSample | None,
) -> Report:
    """Merge the workers' results into the report of the run."""
    latency = merge_histograms([r.latency_hdr for r in results])
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

    server = None
    cpu_s = None
    if server_pid is not None and before and start and finish:
        cpu_s = finish.cpu_s - start.cpu_s
        server = ServerFigures(
            pid=server_pid,
            cpu_s=round(cpu_s, 3),
            rss_mib=round(finish.rss_bytes / 2**20, 1),
            rss_before_mib=round(before.rss_bytes / 2**20, 1),
            rss_per_connection_kib=(
                round((finish.rss_bytes - before.rss_bytes) / connected / 1024, 2)
                if connected
                else None
            ),
        )

    report = Report(
        scenario=plan.scenario,
        wire=plan.target.wire,
        url=plan.target.url,
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
        p50_ms=_ms(latency, 50),
        p90_ms=_ms(latency, 90),
        p99_ms=_ms(latency, 99),
        p999_ms=_ms(latency, 99.9),
        max_ms=round(latency.get_max_value() / 1000.0, 3) if latency.get_total_count() else 0.0,
        samples=latency.get_total_count(),
        errors=errors,
        gaps=sum(r.gaps for r in results),
        reordered=sum(r.reordered for r in results),
        unexpected_closes=sum(r.unexpected_closes for r in results),
        server=server,
        connect_rate_per_s=round(connect_rate, 1),
        events=sum(r.triggered for r in results),
        frames_delivered=pushes,
        frames_per_s=round(pushes / window_s, 1) if window_s > 0 else 0.0,
        fatal=[r.fatal for r in results if r.fatal],
        histogram=base64.b64encode(latency.encode()).decode() if latency.get_total_count() else "",
    )
    if cpu_s:
        report.frames_per_server_cpu_s = round(pushes / cpu_s, 1)
        report.events_per_server_cpu_s = round(succeeded / cpu_s, 1)
    if plan.scenario == "fanout" and replies.get_total_count():
        report.reply_p50_ms = _ms(replies, 50)
        report.reply_p99_ms = _ms(replies, 99)
    if plan.scenario == "reconnect":
        report.resumed = sum(r.resumed for r in results)
        report.not_recovered = sum(r.not_recovered for r in results)
        report.frames_lost = sum(r.lost for r in results) + report.gaps
        dropped = [r.dropped_s for r in results if r.dropped_s]
        resumed = [r.all_resumed_s for r in results if r.all_resumed_s]
        if dropped and resumed:
            report.time_to_resume_s = round(max(resumed) - min(dropped), 3)
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
