"""What a worker process is told to do, and what it hands back."""

from dataclasses import dataclass, field

from loadtest.links import Target

SCENARIOS = ("idle", "fanout", "spins", "reconnect")


@dataclass(frozen=True, slots=True)
class Plan:
    """One run of a scenario, as every worker process sees it."""

    scenario: str
    target: Target
    rooms: tuple[str, ...]
    connections: int  # in all processes together
    processes: int
    rate: float  # events a second in all processes together (0: none)
    duration_s: float
    run_id: str  # makes idempotency keys unique to this run
    source_hosts: tuple[str, ...] = ()  # local addresses to connect from, round robin
    connect_concurrency: int = 200  # handshakes in flight per process
    down_s: float = 0.5  # reconnect: how long the clients stay away
    drain_s: float = 5.0  # how long to wait for replies and pushes after the last event

    def players(self, worker: int) -> list[tuple[int, str]]:
        """(global index, player id) of the connections this worker opens."""
        return [
            (index, f"lt-{index + 1:06d}")
            for index in range(worker, self.connections, self.processes)
        ]

    def room_of(self, index: int) -> str:
        """Connection `index` joins rooms round robin."""
        return self.rooms[index % len(self.rooms)]

    def source_of(self, index: int) -> str | None:
        """The local address connection `index` connects from."""
        if not self.source_hosts:
            return None
        return self.source_hosts[index % len(self.source_hosts)]


@dataclass(slots=True)
class WorkerResult:
    """One worker's counts and histograms (HDR, microseconds, base64 encoded)."""

    worker: int
    connected: int = 0
    connect_failures: int = 0
    connect_started_s: float = 0.0
    connect_finished_s: float = 0.0
    triggered: int = 0  # events sent
    events_started_s: float = 0.0  # when the first event was due (epoch)
    last_reply_s: float = 0.0  # when the last successful reply came (epoch)
    succeeded: int = 0  # events the server confirmed (spins) or sent (peers)
    errors: dict[str, int] = field(default_factory=dict)
    pushes: int = 0  # pushed room frames received
    gaps: int = 0  # seq numbers never received
    reordered: int = 0  # frames at or below a seq already seen
    latency_hdr: bytes = b""  # the scenario's main latency (see the report)
    reply_hdr: bytes = b""  # fanout: spin reply latency
    resumed: int = 0  # reconnect: joins answered with room.resumed
    not_recovered: int = 0  # reconnect: joins answered with a fresh snapshot
    lost: int = 0  # reconnect: frames a client will never see
    dropped_s: float = 0.0  # reconnect: when this worker cut its connections
    all_resumed_s: float = 0.0  # reconnect: when its last client was whole again
    unexpected_closes: int = 0  # connections the server closed during the run
    fatal: str = ""  # the worker could not run at all
