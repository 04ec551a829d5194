"""Prometheus metrics of one node, in the node's own registry (served by the side API).

Hot-path counters stay plain integers in the hub's stats and are read at scrape time; only the
spin latency histogram is observed as it happens (once per spin). The outbox backlog takes a
database query, which a scrape (synchronous) cannot make: the outbox retention job reads it each
round and the scrape shows its latest reading.
"""

import collections
from collections.abc import Collection, Iterator, Sized
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(slots=True)
class NodeStats:
    """Counters the hub keeps as plain integers on its hot path, read at scrape time."""

    connections_opened: int = 0
    slow_consumer_closes: int = 0
    rate_limit_closes: int = 0
    peak_buffered_bytes: int = 0
    spins_committed: int = 0
    frames_sent_by_closed: int = 0
    errors_by_code: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What waits in the outbox table (the whole database's, not only this node's events)."""

    pending: int
    dead: int
    oldest_pending_age_s: float


class _Connection(Protocol):
    @property
    def frames_sent(self) -> int: ...


class _Hub(Protocol):
    """What the metrics read of the hub."""

    @property
    def stats(self) -> NodeStats: ...

    @property
    def sessions(self) -> Collection[_Connection]: ...


_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class NodeMetrics(Collector):
    """Connections, rooms, spins, spin latency, frames sent, errors by code, outbox backlog."""

    def __init__(self) -> None:
        """An empty registry; `attach` connects the hub and the rooms."""
        self.registry = CollectorRegistry()
        self.spin_latency = Histogram(
            "roomserver_spin_latency_seconds",
            "Spin request to committed result",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._hub: _Hub | None = None
        self._rooms: Sized | None = None
        # Set by the outbox retention job each round; None (not shown) until its first reading.
        self.outbox_backlog: OutboxBacklog | None = None
        self.registry.register(self)

    def attach(self, hub: _Hub, rooms: Sized) -> None:
        """Read the live figures from this hub and room directory."""
        self._hub, self._rooms = hub, rooms

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at scrape time."""
        if self.outbox_backlog is not None:
            yield from _outbox_metrics(self.outbox_backlog)
        if self._hub is None or self._rooms is None:
            return
        stats = self._hub.stats
        sessions = self._hub.sessions
        yield GaugeMetricFamily(
            "roomserver_connections", "Open WebSocket connections", value=len(sessions)
        )
        yield GaugeMetricFamily(
            "roomserver_rooms", "Rooms open on this node", value=len(self._rooms)
        )
        yield CounterMetricFamily(
            "roomserver_spins", "Spins committed on this node", value=stats.spins_committed
        )
        yield CounterMetricFamily(
            "roomserver_frames_sent",
            "WebSocket frames written",
            value=stats.frames_sent_by_closed + sum(s.frames_sent for s in sessions),
        )
        errors = CounterMetricFamily(
            "roomserver_errors", "Error frames sent, by code", labels=["code"]
        )
        for code, count in sorted(stats.errors_by_code.items()):
            errors.add_metric([code], count)
        yield errors


def _outbox_metrics(backlog: OutboxBacklog) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "roomserver_outbox_pending",
        "Outbox events not yet published (whole database, at the retention job's last round)",
        value=backlog.pending,
    )
    yield GaugeMetricFamily(
        "roomserver_outbox_dead",
        "Outbox events parked as dead after events.max_attempts failed publishes",
        value=backlog.dead,
    )
    yield GaugeMetricFamily(
        "roomserver_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox event (0 when none is pending)",
        value=backlog.oldest_pending_age_s,
    )
