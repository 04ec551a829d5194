"""The report's sections beside the main latency: servers, delivery, failover."""

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from hdrh.histogram import HdrHistogram

from loadtest.plan import WorkerResult
from loadtest.server_stats import ServerSamples
from loadtest.tracking import new_histogram, record_s


class ServerFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A server process's own numbers over the measured window (or their sum over several)."""

    pid: int  # the first of `pids` for a sum
    cpu_s: float  # CPU seconds the server used between start and finish of the run
    rss_mib: float  # resident memory at the finish
    rss_before_mib: float  # before the generator connected
    rss_per_connection_kib: float | None = None
    pids: list[int] = []  # a sum: the processes summed


class Percentiles(msgspec.Struct, kw_only=True):
    """Delivery delays of some frames."""

    frames: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


class Delivery(msgspec.Struct, kw_only=True):
    """Push delay (server send stamp `ts` -> frame at the member), replays excluded.

    Same-node: the member is on the node whose connections caused the frame (its room's origin
    node, see `loadtest.plan`); cross-node: on another node.
    """

    all: Percentiles
    same_node: Percentiles
    cross_node: Percentiles


class FailoverFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the failover scenario saw of the kill and of the killed node's connections."""

    killed_pid: int
    killed_url: str
    killed_node: int
    kill_after_s: float
    killed: bool  # the SIGKILL was sent
    kill_error: str = ""
    connections_on_killed_node: int
    resumed: int  # answered with room.resumed
    not_recovered: int  # answered with a fresh snapshot (`recovered: false`)
    not_back: dict[str, int] = {}  # never joined again by the deadline, by last error
    kill_to_resumed_p50_ms: float | None = None
    kill_to_resumed_p99_ms: float | None = None
    kill_to_resumed_max_ms: float | None = None
    kill_to_not_recovered_max_ms: float | None = None
    gap_seen: bool
    other_reconnects: int  # connections of surviving nodes that were closed and came back
    connections_per_node_after: list[int] = []


@dataclass(frozen=True, slots=True)
class Kill:
    """The parent's kill of a node (failover)."""

    pid: int
    node: int
    url: str
    at_s: float | None  # epoch seconds; None when it was not sent
    error: str = ""


def ms(histogram: HdrHistogram, percentile: float) -> float:
    """A percentile in milliseconds (0 for an empty histogram)."""
    if histogram.get_total_count() == 0:
        return 0.0
    return round(float(histogram.get_value_at_percentile(percentile)) / 1000.0, 3)


def max_ms(histogram: HdrHistogram) -> float:
    """The largest sample in milliseconds (0 for an empty histogram)."""
    if histogram.get_total_count() == 0:
        return 0.0
    return round(float(histogram.get_max_value()) / 1000.0, 3)


def merge_histograms(encoded: Sequence[bytes]) -> HdrHistogram:
    """One histogram holding every worker's samples."""
    merged = new_histogram()
    for blob in encoded:
        if blob:
            merged.decode_and_add(blob)
    return merged


def server_figures(
    pids: Sequence[int],
    before: ServerSamples,
    start: ServerSamples,
    finish: ServerSamples,
    connected: int,
) -> list[ServerFigures]:
    """One figure per process read at start and finish (those never read are left out).

    With several processes nothing says which connections each one held: their figures have
    no memory per connection (the sum has).
    """
    figures = []
    if len(pids) > 1:
        connected = 0
    for pid in pids:
        if pid not in start or pid not in finish:
            continue
        rss_before = before.get(pid, start[pid]).rss_bytes
        figures.append(
            ServerFigures(
                pid=pid,
                cpu_s=round(finish[pid].cpu_s - start[pid].cpu_s, 3),
                rss_mib=round(finish[pid].rss_bytes / 2**20, 1),
                rss_before_mib=round(rss_before / 2**20, 1),
                rss_per_connection_kib=(
                    round((finish[pid].rss_bytes - rss_before) / connected / 1024, 2)
                    if connected
                    else None
                ),
            )
        )
    return figures


def summed(figures: Sequence[ServerFigures], connected: int) -> ServerFigures:
    """The figures of several processes added up."""
    rss = sum(figure.rss_mib for figure in figures)
    rss_before = sum(figure.rss_before_mib for figure in figures)
    return ServerFigures(
        pid=figures[0].pid,
        cpu_s=round(sum(figure.cpu_s for figure in figures), 3),
        rss_mib=round(rss, 1),
        rss_before_mib=round(rss_before, 1),
        rss_per_connection_kib=(
            round((rss - rss_before) * 1024 / connected, 2) if connected else None
        ),
        pids=[figure.pid for figure in figures],
    )


def delivery(results: Sequence[WorkerResult]) -> Delivery | None:
    """The delivery delays of every frame, same-node and cross-node; None when none was timed."""
    every = merge_histograms([r.delivery_hdr for r in results])
    if every.get_total_count() == 0:
        return None
    return Delivery(
        all=percentiles(every),
        same_node=percentiles(merge_histograms([r.same_node_hdr for r in results])),
        cross_node=percentiles(merge_histograms([r.cross_node_hdr for r in results])),
    )


def percentiles(histogram: HdrHistogram) -> Percentiles:
    """p50, p99, p99.9 and max of a histogram."""
    return Percentiles(
        frames=histogram.get_total_count(),
        p50_ms=ms(histogram, 50),
        p99_ms=ms(histogram, 99),
        p999_ms=ms(histogram, 99.9),
        max_ms=max_ms(histogram),
    )


def frames_published(results: Sequence[WorkerResult]) -> int:
    """Distinct (room, seq) the members saw while measuring."""
    rooms: dict[str, set[int]] = {}
    for result in results:
        for room, seqs in result.seqs_seen.items():
            rooms.setdefault(room, set()).update(seqs)
    return sum(len(seqs) for seqs in rooms.values())


def kill_to_resumed(results: Sequence[WorkerResult], kill: Kill) -> HdrHistogram:
    """The kill -> room.resumed delay of each of the killed node's connections."""
    histogram = new_histogram()
    if kill.at_s is not None:
        for result in results:
            for back_s in result.resumed_at_s:
                record_s(histogram, back_s - kill.at_s)
    return histogram


def failover_figures(
    results: Sequence[WorkerResult], kill: Kill, kill_after_s: float, gaps: int
) -> FailoverFigures:
    """The failover section, from the workers' times and the parent's kill."""
    resumed = kill_to_resumed(results, kill)
    not_back: dict[str, int] = {}
    for result in results:
        for reason, count in result.not_back.items():
            not_back[reason] = not_back.get(reason, 0) + count
    snapshots = [s for r in results for s in r.not_recovered_at_s]
    after = [0] * max((len(r.nodes_after) for r in results), default=0)
    for result in results:
        for node, count in enumerate(result.nodes_after):
            after[node] += count
    timed = resumed.get_total_count() > 0
    return FailoverFigures(
        killed_pid=kill.pid,
        killed_url=kill.url,
        killed_node=kill.node,
        kill_after_s=kill_after_s,
        killed=kill.at_s is not None,
        kill_error=kill.error,
        connections_on_killed_node=sum(r.on_killed_node for r in results),
        resumed=sum(len(r.resumed_at_s) for r in results),
        not_recovered=len(snapshots),
        not_back=not_back,
        kill_to_resumed_p50_ms=ms(resumed, 50) if timed else None,
        kill_to_resumed_p99_ms=ms(resumed, 99) if timed else None,
        kill_to_resumed_max_ms=max_ms(resumed) if timed else None,
        kill_to_not_recovered_max_ms=(
            round((max(snapshots) - kill.at_s) * 1000, 3)
            if snapshots and kill.at_s is not None
            else None
        ),
        gap_seen=gaps > 0,
        other_reconnects=sum(r.other_reconnects for r in results),
        connections_per_node_after=after,
    )
