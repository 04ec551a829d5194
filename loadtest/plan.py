"""What a worker process is told to do, and what it hands back.

Several nodes: connection i goes to node `i % nodes` (`--url` given several times) and joins
room `(i // nodes) % rooms`, so every room has members on every node. Each room has an origin
node: only its members on that node cause the room's frames (they spin), so a member on the
origin node receives them "same-node" and every other member "cross-node". The first member on
the origin node joins first (an anchor), so that node takes the room's ticker lease and
publishes the frames too. With one node everything is same-node and every member spins.
"""

import dataclasses
from dataclasses import dataclass, field

from loadtest.links import Target

SCENARIOS = ("idle", "fanout", "spins", "reconnect", "failover")


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
    urls: tuple[str, ...] = ()  # the nodes (empty: the target's one URL)
    kill_node: int | None = None  # failover: the index of the node killed
    kill_after_s: float = 0.0  # failover: seconds after the start line
    resume_grace_s: float = 15.0  # failover: how long after the end a reconnection may take

    @property
    def nodes(self) -> tuple[str, ...]:
        """The URL of every node, in `--url` order."""
        return self.urls or (self.target.url,)

    def target_of(self, node: int) -> Target:
        """The target with node `node`'s URL."""
        return dataclasses.replace(self.target, url=self.nodes[node])

    def players(self, worker: int) -> list[tuple[int, str]]:
        """(global index, player id) of the connections this worker opens."""
        return [
            (index, f"lt-{index + 1:06d}")
            for index in range(worker, self.connections, self.processes)
        ]

    def node_of(self, index: int) -> int:
        """Connection `index` connects to the nodes round robin."""
        return index % len(self.nodes)

    def room_index_of(self, index: int) -> int:
        """The index in `rooms` of the room connection `index` joins."""
        # One connection per node in turn joins the same room: rooms spread over the nodes.
        return (index // len(self.nodes)) % len(self.rooms)

    def room_of(self, index: int) -> str:
        """Connection `index` joins rooms round robin (one of each node at a time)."""
        return self.rooms[self.room_index_of(index)]

    def origin_of(self, room_index: int) -> int:
        """The node whose members cause the room's frames (see the module's docstring)."""
        if self.kill_node is not None:
            # Failover: the first node that survives, so the frames go on through the kill.
            return next(n for n in range(len(self.nodes)) if n != self.kill_node)
        return room_index % len(self.nodes)

    def on_origin(self, index: int) -> bool:
        """Whether connection `index` is on its room's origin node (it spins)."""
        return self.node_of(index) == self.origin_of(self.room_index_of(index))

    def anchors(self) -> frozenset[int]:
        """The first connection of each room on the room's origin node: they join first."""
        nodes = len(self.nodes)
        first = (nodes * room + self.origin_of(room) for room in range(len(self.rooms)))
        return frozenset(index for index in first if index < self.connections)

    def spinner_share(self, worker: int, *, origin_only: bool = True) -> float:
        """The part of the rate this worker's spinners send.

        The spinners are the members on their room's origin node, or every member when not
        `origin_only`.
        """

        def spins(index: int) -> bool:
            return not origin_only or self.on_origin(index)

        total = sum(1 for index in range(self.connections) if spins(index))
        mine = sum(1 for index, _ in self.players(worker) if spins(index))
        return mine / total if total else 0.0

    def source_of(self, index: int) -> str | None:
        """The local address connection `index` connects from."""
        if not self.source_hosts:
            return None
        return self.source_hosts[index % len(self.source_hosts)]

    @property
    def finish_timeout_s(self) -> float:
        """The longest a worker may take from the start line to the finish line."""
        grace = self.resume_grace_s if self.scenario == "failover" else 0.0
        return self.duration_s + grace + 2 * self.drain_s + 30.0


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
    duplicates: int = 0  # frames whose seq was already received (part of `reordered`)
    latency_hdr: bytes = b""  # the scenario's main latency (see the report)
    reply_hdr: bytes = b""  # fanout: spin reply latency
    resumed: int = 0  # reconnect: joins answered with room.resumed
    not_recovered: int = 0  # reconnect: joins answered with a fresh snapshot
    lost: int = 0  # reconnect: frames a client will never see
    dropped_s: float = 0.0  # reconnect: when this worker cut its connections
    all_resumed_s: float = 0.0  # reconnect: when its last client was whole again
    unexpected_closes: int = 0  # connections the server closed during the run
    fatal: str = ""  # the worker could not run at all
    # Delivery (push delay, replays excluded): every frame, same-node and cross-node ones.
    delivery_hdr: bytes = b""
    same_node_hdr: bytes = b""
    cross_node_hdr: bytes = b""
    # The distinct seqs each room's frames carried while measuring (frames published).
    seqs_seen: dict[str, list[int]] = field(default_factory=dict)
    connected_per_node: list[int] = field(default_factory=list)
    # Failover: the killed node's connections, and when (epoch) each came back.
    on_killed_node: int = 0
    resumed_at_s: list[float] = field(default_factory=list)
    not_recovered_at_s: list[float] = field(default_factory=list)
    not_back: dict[str, int] = field(default_factory=dict)  # never back, by last error
    other_reconnects: int = 0  # connections of surviving nodes closed and joined again
    nodes_after: list[int] = field(default_factory=list)  # connections per node at the end
