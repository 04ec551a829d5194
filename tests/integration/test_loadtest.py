"""`python -m loadtest` against an in-process node: a short run of every scenario, and its report.

The node runs in the test's event loop; the generator is a real subprocess (which spawns its own
worker processes), awaited without blocking the loop so the node keeps serving it. Each report
is checked against what the node and the database saw: connections held, spins committed,
frames broadcast.
"""

import asyncio
import contextlib
import math
import os
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import psutil
import pytest

from clients.python.room_client import RoomClient
from loadtest.links import Target
from loadtest.plan import Plan, WorkerResult
from loadtest.report import Report, build_report, read_report
from loadtest.report_parts import Kill, Percentiles
from loadtest.side_api import create_rooms
from loadtest.tracking import SeqTracker, new_histogram, record_s
from protocol.codec import decode_server
from protocol.messages import (
    AnyServerMessage,
    LeaderboardUpdated,
    PlayerConnected,
    PlayerDisconnected,
)
from roomserver.config import (
    SANDBOX_JWT_SECRET,
    Config,
    RateLimitConfig,
    RedisConfig,
    SandboxConfig,
)
from roomserver.node import Node
from roomserver.services.sandbox import DEMO_TOURNAMENT
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import ADMIN_KEY, api_config, api_url
from tests.support.cluster import (
    cluster_process,
    free_cluster_port,
    node_pid,
    node_urls,
    write_cluster_config,
)
from tests.support.node import (
    REPOSITORY,
    TEST_AUTH,
    join,
    sandbox_process,
    token,
    unique,
    ws_url,
)
from tests.support.services import free_tcp_port

# Player ids the generator signs tokens for (`lt-000001`, ..., and `lt-driver-0001`, ...).
GENERATED: Final = "lt-"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
RUN_TIMEOUT_S: Final = 60.0
# The rooms `--rooms N` creates (the same ones again for the same count: idempotency keys).
ROOM_PREFIX: Final = "lt"
STAKE: Final = 10  # the generator's default stake


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished `python -m loadtest`."""

    returncode: int
    stdout: str
    stderr: str


async def run_loadtest(*args: str, timeout_s: float = RUN_TIMEOUT_S) -> Completed:
    """Run the generator as a subprocess (its own process group) without blocking the loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadtest",
        *args,
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await process.communicate()
    except BaseException:
        # The generator and the worker processes it spawned.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())


def argv(command: str) -> list[str]:
    """Command-line words (none of them holds a space)."""
    return command.split()


def target_args(node: Node) -> list[str]:
    """The arguments that point the generator at the test node."""
    return [
        "--url",
        ws_url(node),
        "--jwt-secret",
        TEST_AUTH.jwt_secret,
        "--api-url",
        api_url(node),
        "--api-key",
        ADMIN_KEY,
    ]


async def generate(node: Node, tmp_path: Path, command: str, *options: str) -> Report:
    """Run `SCENARIO --option value ...` against the node and return the report.

    The node's CPU and RSS are read from this process; further `options` are appended as they are.
    """
    scenario, *words = argv(command)
    path = tmp_path / f"{scenario}-{unique('report')}.json"
    completed = await run_loadtest(
        scenario,
        *words,
        *target_args(node),
        "--server-pid",
        str(os.getpid()),
        "--report",
        str(path),
        "--quiet",
        *options,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert path.exists(), completed.stderr
    return read_report(path)


def assert_clean(report: Report, scenario: str, connections: int) -> None:
    """Every connection joined, nothing failed, no frame was missed."""
    assert report.scenario == scenario
    assert report.wire == "roomserver"
    assert report.fatal == []
    assert report.connections == connections
    assert report.connect_failures == 0
    assert report.errors == {}
    assert report.gaps == 0
    assert report.reordered == 0
    assert report.unexpected_closes == 0
    assert report.p50_ms <= report.p90_ms <= report.p99_ms <= report.p999_ms <= report.max_ms


def generated_sessions(node: Node) -> int:
    """The generator's connections the node holds now."""
    return sum(1 for session in node.hub.sessions if session.player_id.startswith(GENERATED))


async def wait_until_generator_gone(node: Node, timeout_s: float = 10.0) -> None:
    """The generator closed every connection it opened (the node has seen them go)."""
    deadline = time.monotonic() + timeout_s
    while generated_sessions(node) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert generated_sessions(node) == 0


@contextlib.asynccontextmanager
async def peak_sessions(node: Node) -> AsyncIterator[list[int]]:
    """Track the most generator connections the node held at once, in `[peak]`."""
    peak = [0]

    async def watch() -> None:
        while True:
            peak[0] = max(peak[0], generated_sessions(node))
            await asyncio.sleep(0.02)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        yield peak
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


SpinKey = tuple[str, str]  # player, idempotency key


async def generator_spins(ledger: Ledger) -> dict[SpinKey, tuple[str, int]]:
    """Every committed spin of a generated player: (player, key) -> (tournament, stake)."""
    rows = await ledger.pool.fetch(
        "SELECT player_id, idempotency_key, tournament_id, stake FROM spins"
        " WHERE starts_with(player_id, $1)",
        GENERATED,
    )
    return {
        (row["player_id"], row["idempotency_key"]): (row["tournament_id"], row["stake"])
        for row in rows
    }


async def new_spins(
    ledger: Ledger, before: dict[SpinKey, tuple[str, int]]
) -> dict[SpinKey, tuple[str, int]]:
    """The generator's spins committed since `before` was read."""
    after = await generator_spins(ledger)
    assert before.keys() <= after.keys()
    return {key: value for key, value in after.items() if key not in before}


def run_ids(spins: dict[SpinKey, tuple[str, int]]) -> set[str]:
    """The run prefixes of the spins' idempotency keys (`RUNID-...`)."""
    return {key.split("-", 1)[0] for _, key in spins}


def loadtest_config(base_config: Config) -> Config:
    """A sandbox node (the `demo` room exists) with the test JWT secret and side-API keys."""
    return msgspec.structs.replace(api_config(base_config), sandbox=SandboxConfig(enabled=True))


@pytest.fixture
async def node(start_node: NodeStarter, base_config: Config) -> AsyncIterator[Node]:
    """A running `loadtest_config` node."""
    async with start_node(loadtest_config(base_config)) as running:
        yield running


# ------------------------------------------------------------------ scenarios


async def test_idle_holds_every_connection_and_reports_the_servers_memory(
    node: Node, tmp_path: Path
) -> None:
    connections = 80
    async with peak_sessions(node) as peak:
        report = await generate(
            node, tmp_path, f"idle --connections {connections} --processes 2 --duration 1"
        )
    await wait_until_generator_gone(node)

    assert_clean(report, "idle", connections)
    # The node held every connection at once.
    assert peak[0] == connections
    assert report.rooms == 1
    assert report.processes == 2
    # One connect + join latency per connection.
    assert report.samples == connections
    assert 0 < report.p50_ms <= report.p99_ms <= report.max_ms
    assert report.connect_rate_per_s > 0
    assert report.achieved_rate == report.connect_rate_per_s
    # Idle: no events, and nothing is measured of the room stream.
    assert report.events == 0
    assert report.frames_delivered == 0
    assert report.duration_s >= 1.0
    server = report.server
    assert server is not None
    assert server.pid == os.getpid()
    assert server.cpu_s >= 0
    assert server.rss_mib > 0
    assert server.rss_before_mib > 0
    # This process has served other tests: the connections may fit in memory it already holds,
    # so only the arithmetic is checked here (a fresh node is measured below).
    assert server.rss_per_connection_kib is not None
    assert server.rss_per_connection_kib == pytest.approx(
        (server.rss_mib - server.rss_before_mib) * 1024 / connections, abs=0.1 * 1024 / connections
    )


async def test_spins_commit_exactly_the_reported_events(
    node: Node, ledger: Ledger, tmp_path: Path
) -> None:
    connections, rate, duration = 40, 100, 2
    before = await generator_spins(ledger)
    report = await generate(
        node,
        tmp_path,
        f"spins --connections {connections} --rate {rate} --duration {duration} --processes 2",
    )
    await wait_until_generator_gone(node)

    assert_clean(report, "spins", connections)
    assert report.target_rate == rate
    # Open loop: every scheduled spin was sent, and every one was answered with a result.
    assert report.events == rate * duration
    assert report.samples == report.events
    assert report.achieved_rate == pytest.approx(rate, rel=0.10)
    # The rate is over at least the scheduled duration, so it can never exceed events / duration.
    assert report.achieved_rate <= report.events / duration + 0.05
    # The database committed exactly those spins: one run, in `demo`, at the stake, and spread
    # over every connection.
    spins = await new_spins(ledger, before)
    assert len(spins) == report.events
    assert len(run_ids(spins)) == 1
    assert {tournament for tournament, _ in spins.values()} == {DEMO_TOURNAMENT.tournament_id}
    assert {stake for _, stake in spins.values()} == {STAKE}
    assert len({player for player, _ in spins}) == connections
    server = report.server
    assert server is not None
    assert report.events_per_server_cpu_s is not None
    assert report.events_per_server_cpu_s > 0


@dataclass(slots=True)
class Observer:
    """One more member of a room, recording every broadcast frame it is sent."""

    client: RoomClient
    room: str
    seq: int  # the snapshot's
    frames: list[AnyServerMessage] = field(default_factory=list)

    async def read(self) -> None:
        while True:
            self.frames.append(decode_server(await self.client.ws.recv(decode=False)))

    def broadcast(self) -> list[AnyServerMessage]:
        return [frame for frame in self.frames if frame.seq is not None]

    def presence_of_generator(self, kind: type[AnyServerMessage]) -> list[int]:
        """Indexes in `broadcast()` of the generated players' arrivals or departures."""
        return [
            index
            for index, frame in enumerate(self.broadcast())
            if isinstance(frame, kind)
            and isinstance(frame, PlayerConnected | PlayerDisconnected)
            and (frame.payload.player_id or "").startswith(GENERATED)
        ]


async def test_fanout_delivers_every_room_frame_to_every_member(
    node: Node, ledger: Ledger, tmp_path: Path
) -> None:
    connections, room_count, rate, duration = 60, 3, 60, 2
    rooms = await asyncio.to_thread(
        create_rooms, api_url(node), ADMIN_KEY, room_count, ROOM_PREFIX, STAKE
    )
    observers: list[Observer] = []
    readers: list[asyncio.Task[None]] = []
    async with contextlib.AsyncExitStack() as stack:
        for room in rooms:
            client = await stack.enter_async_context(
                await RoomClient.connect(ws_url(node), token(unique("watch")))
            )
            snapshot = await join(client, room)
            observers.append(Observer(client, room, snapshot.payload.seq))
        readers = [asyncio.ensure_future(observer.read()) for observer in observers]
        before = await generator_spins(ledger)
        report = await generate(
            node,
            tmp_path,
            f"fanout --connections {connections} --rooms {room_count} --rate {rate}"
            f" --duration {duration} --processes 2",
        )
        await wait_until_generator_gone(node)
        # Every departure has reached the observers.
        deadline = time.monotonic() + 5.0
        while (
            time.monotonic() < deadline
            and sum(len(o.presence_of_generator(PlayerDisconnected)) for o in observers)
            < connections
        ):
            await asyncio.sleep(0.05)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    assert_clean(report, "fanout", connections)
    assert report.rooms == room_count
    assert report.events == rate * duration
    spins = await new_spins(ledger, before)
    assert len(spins) == report.events
    assert {tournament for tournament, _ in spins.values()} == set(rooms)
    # The push latency is measured on every frame counted.
    assert report.samples == report.frames_delivered
    assert report.reply_p50_ms is not None

    # What each room broadcast while the generator's members were all in it (after the last
    # one joined, before the first one left) reached each of its members once.
    lower = upper = 0
    for observer in observers:
        frames = observer.broadcast()
        seqs = [frame.seq for frame in frames]
        assert seqs == list(range(observer.seq + 1, observer.seq + 1 + len(frames)))
        arrived = observer.presence_of_generator(PlayerConnected)
        left = observer.presence_of_generator(PlayerDisconnected)
        members = connections // room_count
        assert len(arrived) == len(left) == members
        assert max(arrived) < min(left)
        between = frames[max(arrived) + 1 : min(left)]
        assert between
        assert all(isinstance(frame, LeaderboardUpdated) for frame in between)
        # A member counts from the start line, which comes a moment after the last join: the
        # last arrival, or a leaderboard push the joins caused, may fall on either side of it.
        lower += members * (len(between) - 1)
        upper += members * (len(between) + 1)
    assert report.frames_delivered >= connections
    assert lower <= report.frames_delivered <= upper, (lower, report.frames_delivered, upper)


async def test_reconnect_resumes_every_client_without_losing_a_frame(
    node: Node, ledger: Ledger, tmp_path: Path
) -> None:
    connections, rate, duration = 40, 20, 2
    before = await generator_spins(ledger)
    async with peak_sessions(node) as peak:
        report = await generate(
            node,
            tmp_path,
            f"reconnect --connections {connections} --rate {rate} --duration {duration}"
            " --processes 2",
        )
    await wait_until_generator_gone(node)

    assert_clean(report, "reconnect", connections)
    assert report.resumed == connections
    assert report.not_recovered == 0
    assert report.frames_lost == 0
    # Every client stays away `down_s`; its latency runs from the drop to its room.resumed.
    down_s = Plan("reconnect", Target(url=ws_url(node)), ("demo",), 1, 1, 0.0, 1.0, "").down_s
    assert report.time_to_resume_s is not None
    assert report.time_to_resume_s >= down_s
    assert report.samples == connections
    assert report.p50_ms >= down_s * 1000
    assert report.max_ms <= report.time_to_resume_s * 1000 + 50
    # The clients and the one driver connection of the room.
    assert peak[0] == connections + 1
    # The driver's spins kept the room moving, and they are all committed.
    assert report.events > 0
    assert report.frames_delivered > 0
    spins = await new_spins(ledger, before)
    assert len(spins) == report.events
    assert {player for player, _ in spins} == {"lt-driver-0001"}
    assert {tournament for tournament, _ in spins.values()} == {DEMO_TOURNAMENT.tournament_id}


@pytest.mark.parametrize(
    ("scenario", "connections", "closed"),
    [
        # Every member floods and is closed.
        ("spins", 4, 4),
        # The room's driver connection floods and is closed; the clients only join.
        ("reconnect", 4, 1),
    ],
)
async def test_connections_the_server_closes_are_reported(
    start_node: NodeStarter,
    base_config: Config,
    tmp_path: Path,
    scenario: str,
    connections: int,
    closed: int,
) -> None:
    # 10 spins a second per connection against 1 allowed: RATE_LIMITED within a fraction of a
    # second, then close 1008 after 3 strikes, long before the end of the run (the report counts
    # the connections found closed when the run ends).
    config = msgspec.structs.replace(
        loadtest_config(base_config),
        rate_limit=RateLimitConfig(messages_per_s=1.0, burst=2, strikes_before_close=3),
    )
    async with start_node(config) as node:
        report = await generate(
            node,
            tmp_path,
            f"{scenario} --connections {connections} --rate {10 * closed} --duration 1.5"
            " --processes 2",
        )
        await wait_until_generator_gone(node)
    assert report.fatal == []
    assert report.connections == connections
    assert report.errors.get("RATE_LIMITED", 0) >= 3 * closed
    assert report.errors.get("CONNECTION_CLOSED", 0) >= 1
    assert report.unexpected_closes == closed, (
        f"{closed} connection(s) closed by the server, {report.unexpected_closes} reported"
        f" in unexpected_closes (errors: {report.errors})"
    )


async def test_a_wrong_jwt_secret_is_reported_as_failed_connections(
    node: Node, tmp_path: Path
) -> None:
    path = tmp_path / "refused.json"
    completed = await run_loadtest(
        *argv(f"spins --url {ws_url(node)} --jwt-secret not-the-secret-of-this-node-at-all"),
        *argv("--connections 6 --rate 10 --duration 1 --processes 2 --quiet"),
        "--report",
        str(path),
    )
    # It ran; the report says how badly.
    assert completed.returncode == 0, completed.stderr
    report = read_report(path)
    assert report.connections == 0
    assert report.connect_failures == 6
    assert sum(report.errors.values()) == 6
    assert report.events == 0
    assert report.samples == 0
    assert generated_sessions(node) == 0


SANDBOX_NODE_CONFIG: Final = """\
[server]
host = "127.0.0.1"
port = {ws_port}
close_timeout_s = 2.0
shutdown_grace_s = 5.0

[postgres]
dsn = "{dsn}"
pool_min_size = 1
pool_max_size = 8

[auth]
jwt_secret = "{jwt_secret}"

[api]
host = "127.0.0.1"
port = {api_port}

[events]
file = "{events_file}"
"""


@dataclass(frozen=True, slots=True)
class NodeProcess:
    """A `roomserver run --sandbox` subprocess."""

    pid: int
    ws_url: str
    api_url: str


@contextlib.asynccontextmanager
async def sandbox_node_process(dsn: str, workdir: Path) -> AsyncIterator[NodeProcess]:
    """A fresh node process on the sandbox's own secret and keys; it must stop cleanly."""
    ws_port, api_port = free_tcp_port(), free_tcp_port()
    config = workdir / "node.toml"
    config.write_text(
        SANDBOX_NODE_CONFIG.format(
            ws_port=ws_port,
            api_port=api_port,
            dsn=dsn,
            jwt_secret=SANDBOX_JWT_SECRET,
            events_file=workdir / "events.jsonl",
        )
    )
    log_path = workdir / "node.log"
    url = f"http://127.0.0.1:{api_port}"
    async with sandbox_process(config, url, log_path, stop_timeout_s=20.0) as process:
        yield NodeProcess(process.pid, f"ws://127.0.0.1:{ws_port}/ws", url)
    assert process.returncode == 0, log_path.read_text(errors="replace")


@pytest.mark.timeout(90)
async def test_a_fresh_sandbox_node_with_the_generators_defaults(
    database_dsn: str, tmp_path: Path
) -> None:
    connections = 100
    idle, fanout = tmp_path / "idle.json", tmp_path / "fanout.json"
    async with sandbox_node_process(database_dsn, tmp_path) as node:
        # No --jwt-secret (the sandbox's, from the repository's config.toml) and no --rooms
        # (the sandbox's `demo`).
        completed = await run_loadtest(
            *argv(f"idle --url {node.ws_url} --connections {connections} --duration 1"),
            *argv(f"--processes 2 --server-pid {node.pid} --quiet"),
            "--report",
            str(idle),
        )
        assert completed.returncode == 0, completed.stderr
        # The sandbox's side-API key by default.
        completed = await run_loadtest(
            *argv(f"fanout --url {node.ws_url} --api-url {node.api_url} --rooms 1"),
            *argv("--connections 10 --rate 20 --duration 0.5 --processes 1 --quiet"),
            "--report",
            str(fanout),
        )
        assert completed.returncode == 0, completed.stderr

    report = read_report(idle)
    assert_clean(report, "idle", connections)
    server = report.server
    assert server is not None
    assert server.pid == node.pid
    assert server.cpu_s >= 0
    # A node that served nothing before: holding the connections costs it memory.
    assert server.rss_mib > server.rss_before_mib
    assert server.rss_per_connection_kib is not None
    assert server.rss_per_connection_kib > 0
    report = read_report(fanout)
    assert_clean(report, "fanout", 10)
    assert report.rooms == 1
    assert report.events == 10
    assert report.frames_delivered >= 10


# ------------------------------------------------------------------ --rate max and --plot


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height (its IHDR chunk); fails on anything that is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_plot_writes_a_png(node: Node, ledger: Ledger, tmp_path: Path) -> None:
    plot = tmp_path / "latency.png"
    before = await generator_spins(ledger)
    report = await generate(
        node,
        tmp_path,
        "spins --connections 10 --rate 50 --duration 1 --processes 1",
        "--plot",
        str(plot),
    )
    assert_clean(report, "spins", 10)
    width, height = png_size(plot)
    assert width > 0
    assert height > 0
    # The same players as earlier runs in this session, but keys of its own: every spin is new.
    spins = await new_spins(ledger, before)
    assert len(spins) == report.events == 50
    assert run_ids(spins).isdisjoint(run_ids(before))


@pytest.mark.timeout(120)
async def test_rate_max_steps_to_the_highest_rate_held(
    node: Node, ledger: Ledger, tmp_path: Path
) -> None:
    plot = tmp_path / "max.png"
    single = tmp_path / "single.png"
    before = await generator_spins(ledger)
    started = time.monotonic()
    report = await generate(
        node,
        tmp_path,
        "spins --connections 20 --rate max --duration 1 --processes 1",
        "--plot",
        str(plot),
    )
    elapsed = time.monotonic() - started
    steps = report.steps
    assert steps, "no steps recorded"
    assert len(steps) <= 12
    assert steps[0].rate == 250.0
    for step in steps:
        # A step is held exactly when it met every bar.
        met = step.errors == 0 and step.p99_ms < 50.0 and step.achieved_rate >= 0.95 * step.rate
        assert step.held == met, step
    held = [step for step in steps if step.held]
    missed = [step for step in steps if not step.held]
    if held:
        best = max(held, key=lambda step: step.rate)
        # The report is the run at the highest rate held.
        assert report.target_rate == best.rate
        assert report.p99_ms == best.p99_ms
        assert report.achieved_rate == best.achieved_rate
        assert report.errors == {}
        # Every rate missed is above every rate held, and the search stopped once they were
        # within 10 % of each other (or out of steps).
        if missed:
            lowest_missed = min(step.rate for step in missed)
            assert lowest_missed > best.rate
            assert lowest_missed - best.rate <= 0.1 * best.rate or len(steps) == 12
    else:
        # Nothing held: it halved down to 25/s or below.
        assert steps[-1].rate <= 25.0
    # Each step is a run of its own (its own idempotency keys), every spin of it committed.
    spins = await new_spins(ledger, before)
    assert len(run_ids(spins)) == len(steps)
    scheduled = sum(math.ceil(step.rate * 1.0) for step in steps)
    if all(step.errors == 0 for step in steps):
        assert len(spins) == scheduled
    else:
        assert len(spins) <= scheduled
    # The steps get a panel of their own beside the distribution.
    assert png_size(plot)[0] > 0
    await generate(
        node,
        tmp_path,
        "spins --connections 5 --rate 20 --duration 0.5 --processes 1",
        "--plot",
        str(single),
    )
    assert png_size(plot)[0] > png_size(single)[0]
    assert elapsed < 90.0


# ------------------------------------------------------------------ bad command lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["spins", "--rate", "-1"], "--rate must be a non-negative number"),
        (["spins", "--wire", "ws-json"], "spins needs the roomserver wire"),
        (["idle", "--wire", "no-such-wire"], "--wire must be one of"),
        (["fanout", "--rate", "max"], "--rate max is for the spins scenario"),
        (["idle", "--connections", "0"], "--connections must be at least 1"),
        # The same node twice (the test adds this --url once more).
        (["idle", "--url", "ws://127.0.0.1:9/ws"], "--url: each node once"),
        (["fanout", "--kill-pid", "1"], "are for the failover scenario"),
        (
            argv("failover --kill-pid 1 --kill-url ws://127.0.0.1:9/ws"),
            "failover needs at least two nodes",
        ),
        (argv("failover --url ws://127.0.0.1:8/ws"), "failover needs --kill-pid and --kill-url"),
        (
            argv("failover --url ws://127.0.0.1:8/ws --kill-pid 1 --kill-url ws://127.0.0.1:7/ws"),
            "--kill-url must be one of the --url values",
        ),
        # It kills a process: it never speaks to another machine.
        (
            argv(
                "failover --url ws://10.1.2.3:8765/ws,ws://127.0.0.1:8/ws --kill-pid 1"
                " --kill-url ws://127.0.0.1:8/ws"
            ),
            "failover speaks only to loopback addresses, not ws://10.1.2.3:8765/ws",
        ),
        (
            argv(
                "failover --url ws://127.0.0.1:8/ws --kill-pid 1 --kill-url ws://127.0.0.1:8/ws"
                " --redis-url redis://10.1.2.3:6379/0"
            ),
            "failover speaks only to loopback addresses, not redis://10.1.2.3:6379/0",
        ),
        (
            argv(
                "failover --url ws://127.0.0.1:8/ws --kill-pid 1 --kill-url ws://127.0.0.1:8/ws"
                " --duration 2 --kill-after 3"
            ),
            "--kill-after must be positive and shorter than --duration",
        ),
    ],
)
async def test_a_bad_command_line_exits_2_with_a_message(args: list[str], message: str) -> None:
    completed = await run_loadtest(*args, "--url", "ws://127.0.0.1:9/ws", timeout_s=30.0)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "usage:" in completed.stderr
    assert completed.stdout == ""


async def test_a_side_api_that_refuses_the_key_exits_2(node: Node, tmp_path: Path) -> None:
    report = tmp_path / "refused.json"
    completed = await run_loadtest(
        "fanout",
        *target_args(node),
        *argv("--api-key not-a-key --rooms 1 --quiet"),
        "--report",
        str(report),
        timeout_s=30.0,
    )
    assert completed.returncode == 2
    assert "loadtest: creating rooms:" in completed.stderr
    assert "HTTP 401" in completed.stderr
    assert not report.exists()


async def test_a_server_pid_that_is_no_process_exits_2(node: Node, tmp_path: Path) -> None:
    # Above the kernel's PID_MAX_LIMIT (2**22): never a running process.
    pid = 2**22 + 1
    completed = await run_loadtest(
        "idle", *target_args(node), "--server-pid", str(pid), "--quiet", timeout_s=30.0
    )
    assert completed.returncode == 2
    assert f"no process with pid {pid}" in completed.stderr


async def test_a_kill_pid_that_is_not_the_nodes_process_is_refused_and_not_killed(
    start_node: NodeStarter, base_config: Config, redis_url: str, tmp_path: Path
) -> None:
    bystander = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        async with two_nodes(start_node, base_config, redis_url) as nodes:
            urls = [ws_url(node) for node in nodes]
            completed = await run_loadtest(
                *argv(f"failover --url {urls[0]},{urls[1]} --kill-url {urls[0]}"),
                *argv(f"--kill-pid {bystander.pid} --connections 2 --duration 1 --quiet"),
                timeout_s=30.0,
            )
            assert completed.returncode == 2
            port = urls[0].rsplit(":", 1)[1].split("/")[0]
            assert (
                f"--kill-pid {bystander.pid} is not the node of --kill-url {urls[0]}: it does not"
                f" listen on port {port}" in completed.stderr
            )
            # Refused before anything ran: no connection, and the process lives on.
            assert all(generated_sessions(node) == 0 for node in nodes)
            assert bystander.returncode is None
            assert psutil.Process(bystander.pid).status() != psutil.STATUS_ZOMBIE
    finally:
        bystander.kill()
        await bystander.wait()


# ------------------------------------------------------------------ several nodes


def test_connections_are_spread_over_the_nodes_and_each_room_over_every_node() -> None:
    urls = ("ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "ws://127.0.0.1:3/ws")
    plan = Plan("fanout", Target(url=urls[0]), ("r1", "r2"), 12, 2, 10.0, 1.0, "", urls=urls)
    assert [plan.node_of(i) for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert [plan.target_of(plan.node_of(i)).url for i in range(4)] == [*urls, urls[0]]
    # One connection of each node in turn joins a room: each room has members on every node.
    for room in plan.rooms:
        members = [i for i in range(plan.connections) if plan.room_of(i) == room]
        assert sorted(plan.node_of(i) for i in members) == [0, 0, 1, 1, 2, 2]
    # Room k's frames are caused on node k mod 3: its spinners are its members there, and
    # the first of them joins before anyone else.
    assert [plan.origin_of(k) for k in range(2)] == [0, 1]
    spinners = [i for i in range(plan.connections) if plan.on_origin(i)]
    assert spinners == [0, 4, 6, 10]
    assert plan.anchors() == frozenset({0, 4})
    # Worker 0 holds the even connections, so every spinner: it sends the whole rate.
    assert [plan.spinner_share(worker) for worker in range(plan.processes)] == [1.0, 0.0]
    assert sum(plan.spinner_share(w, origin_only=False) for w in range(2)) == 1.0
    # One node: everything as before, every member spins.
    single = Plan("fanout", Target(url=urls[0]), ("r1", "r2"), 4, 1, 10.0, 1.0, "")
    assert [single.room_of(i) for i in range(4)] == ["r1", "r2", "r1", "r2"]
    assert all(single.on_origin(i) for i in range(4))
    # Failover: the frames are caused on the first node that survives.
    failover = Plan(
        "failover", Target(url=urls[0]), ("r1",), 6, 1, 10.0, 1.0, "", urls=urls, kill_node=0
    )
    assert [i for i in range(6) if failover.on_origin(i)] == [1, 4]


def test_a_seq_received_twice_is_a_duplicate_and_a_late_one_is_not() -> None:
    tracker = SeqTracker()
    tracker.joined(10, resumed=False)
    for seq in (10, 11, 13, 12, 13, 14):
        tracker.push(seq)
    # 10 was in the snapshot, 13 came twice; 12 came late (a gap filled, not a duplicate).
    assert (tracker.gaps, tracker.reordered, tracker.duplicates) == (1, 3, 2)


def test_the_report_merges_delivery_seqs_and_the_kill_over_the_workers() -> None:
    urls = ("ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws")
    plan = Plan(
        "failover", Target(url=urls[0]), ("r",), 4, 2, 10.0, 3.0, "", urls=urls, kill_node=0
    )
    results = []
    for worker, (same_s, cross_s) in enumerate([(0.001, 0.002), (0.003, 0.004)]):
        result = WorkerResult(worker, connected=2, pushes=2, connected_per_node=[1, 1])
        every, same, cross = new_histogram(), new_histogram(), new_histogram()
        for histogram, seconds in ((every, same_s), (every, cross_s), (same, same_s)):
            record_s(histogram, seconds)
        record_s(cross, cross_s)
        result.delivery_hdr, result.same_node_hdr = every.encode(), same.encode()
        result.cross_node_hdr = cross.encode()
        result.seqs_seen = {"r": [5, 6 + worker]}
        result.on_killed_node = 1
        result.resumed_at_s = [1000.25 + worker]
        result.nodes_after = [0, 2]
        results.append(result)
    kill = Kill(pid=42, node=0, url=urls[0], at_s=1000.0)
    report = build_report(plan, results, 3.0, None, None, None, None, kill=kill)
    assert report.connections_per_node == [2, 2]
    assert report.delivery is not None
    assert (report.delivery.all.frames, report.delivery.same_node.frames) == (4, 2)
    assert report.delivery.cross_node.max_ms == pytest.approx(4.0, rel=1e-2)
    assert report.frames_published == 3  # 5, 6 and 7
    failover = report.failover
    assert failover is not None
    assert (failover.connections_on_killed_node, failover.resumed) == (2, 2)
    assert failover.kill_to_resumed_max_ms == pytest.approx(1250.0, rel=1e-2)
    assert failover.connections_per_node_after == [0, 4]
    assert report.samples == 2  # the main latency: kill -> resumed


@contextlib.asynccontextmanager
async def two_nodes(
    start_node: NodeStarter, base_config: Config, redis_url: str
) -> AsyncIterator[list[Node]]:
    """Two in-process nodes on one Redis and the test database, with the test side-API keys."""
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for n in range(2):
            config = api_config(base_config)
            server = msgspec.structs.replace(config.server, node_id=f"{unique('node')}-{n}")
            config = msgspec.structs.replace(
                config, server=server, redis=RedisConfig(url=redis_url)
            )
            nodes.append(await stack.enter_async_context(start_node(config)))
        yield nodes


def assert_ordered(percentiles: Percentiles) -> None:
    """p50 <= p99 <= p99.9 <= max, over some frames."""
    assert percentiles.frames > 0
    assert 0 < percentiles.p50_ms <= percentiles.p99_ms <= percentiles.p999_ms
    assert percentiles.p999_ms <= percentiles.max_ms


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_fanout_over_two_nodes_reports_same_and_cross_node_delivery_and_redis(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    connections, rate, duration = 20, 20, 2
    path = tmp_path / "two-nodes.json"
    before = await generator_spins(ledger)
    async with two_nodes(start_node, base_config, redis_url) as nodes:
        urls = [ws_url(node) for node in nodes]
        completed = await run_loadtest(
            *argv(f"fanout --url {urls[0]} --url {urls[1]} --rooms 1 --connections {connections}"),
            *argv(f"--rate {rate} --duration {duration} --processes 2 --quiet"),
            *argv(f"--jwt-secret {TEST_AUTH.jwt_secret} --api-key {ADMIN_KEY}"),
            *argv(f"--api-url {api_url(nodes[1])} --server-pid {os.getpid()}"),
            *argv(f"--redis-url {redis_url} --report {path}"),
        )
        assert completed.returncode == 0, completed.stderr + completed.stdout
        for node in nodes:
            await wait_until_generator_gone(node)
    report = read_report(path)

    assert_clean(report, "fanout", connections)
    assert report.duplicates == 0
    assert report.urls == urls
    assert report.url == ",".join(urls)
    assert report.connections_per_node == [10, 10]
    # The room's spinners are its members on node 0 (the odd-numbered players).
    assert report.events == rate * duration
    spins = await new_spins(ledger, before)
    assert len(spins) == report.events
    assert {player for player, _ in spins} == {f"lt-{i + 1:06d}" for i in range(0, 20, 2)}
    # Node 0's anchor joined first: node 0 took the room's ticker lease and publishes it.
    assert list(report.tickers.values()) == [nodes[0].config.server.node_id]
    delivery = report.delivery
    assert delivery is not None
    for part in (delivery.all, delivery.same_node, delivery.cross_node):
        assert_ordered(part)
    assert delivery.all.frames == report.frames_delivered == report.samples
    assert delivery.same_node.frames + delivery.cross_node.frames == delivery.all.frames
    # Every member hears the same frames: half of them on each node.
    assert abs(delivery.same_node.frames - delivery.cross_node.frames) <= 2 * connections
    assert report.frames_published > 0
    assert report.frames_delivered <= report.frames_published * connections
    assert report.server is not None
    assert report.frames_per_server_cpu_s is not None
    assert report.frames_per_server_cpu_s > 0
    redis = report.redis
    assert redis is not None
    assert redis.frames_published == report.frames_published
    assert redis.calls_total == sum(redis.calls.values()) > 0
    assert "info" not in redis.calls
    assert redis.calls_per_frame_published == pytest.approx(
        redis.calls_total / redis.frames_published, abs=0.01
    )
    assert redis.cpu_s == pytest.approx(redis.cpu_sys_s + redis.cpu_user_s, abs=0.002)
    assert set(redis.usec) == set(redis.calls)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_failover_resumes_every_connection_of_the_killed_node_with_no_gap(
    tmp_path: Path, database_dsn: str, redis_url: str
) -> None:
    connections = 20
    config = write_cluster_config(tmp_path, database_dsn, redis_url)
    port = free_cluster_port(2)
    urls, api_urls = node_urls(port, 2)
    path = tmp_path / "failover.json"
    async with cluster_process(tmp_path, config, 2, port) as launcher:
        pids = [node_pid(tmp_path, number) for number in (1, 2)]
        completed = await run_loadtest(
            *argv(f"failover --url {urls[0]},{urls[1]} --kill-url {urls[0]} --kill-pid {pids[0]}"),
            *argv(f"--server-pid {pids[0]} --server-pid {pids[1]} --redis-url {redis_url}"),
            *argv(f"--connections {connections} --rooms 1 --rate 10 --duration 4"),
            *argv("--kill-after 1.5 --processes 2 --quiet"),
            *argv(f"--jwt-secret {TEST_AUTH.jwt_secret} --api-key {ADMIN_KEY}"),
            *argv(f"--api-url {api_urls[1]} --report {path}"),
            timeout_s=90.0,
        )
        assert completed.returncode == 0, completed.stderr + completed.stdout
        # The node is gone (its launcher reaps it when it stops); the launcher runs on.
        with contextlib.suppress(psutil.NoSuchProcess):
            assert psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
        assert launcher.returncode is None
    assert launcher.returncode == 0
    report = read_report(path)

    failover = report.failover
    assert failover is not None, report
    assert failover.killed, failover.kill_error
    assert (failover.killed_pid, failover.killed_url, failover.killed_node) == (pids[0], urls[0], 0)
    assert failover.kill_after_s == 1.5
    assert failover.connections_on_killed_node == connections // 2
    # Every one of them came back: resumed, or (counted apart) with a fresh snapshot.
    assert failover.not_back == {}
    assert failover.resumed + failover.not_recovered == connections // 2
    assert failover.connections_per_node_after == [0, connections]
    if failover.resumed:
        assert failover.kill_to_resumed_max_ms is not None
        assert failover.kill_to_resumed_p50_ms is not None
        assert 0 < failover.kill_to_resumed_p50_ms <= failover.kill_to_resumed_max_ms < 20_000
        assert report.samples == failover.resumed
    assert not failover.gap_seen
    assert report.gaps == 0
    assert report.duplicates == 0
    assert report.frames_lost == 0 or failover.not_recovered > 0
    assert failover.other_reconnects == 0
    # Spins on the surviving node kept the room moving through the kill.
    assert report.events > 0
    assert report.frames_delivered > 0
    # Both nodes' processes were read; the killed one up to its kill.
    assert report.server is not None
    assert report.server.pids == pids
    assert [server.pid for server in report.servers] == pids
    assert report.server.cpu_s == pytest.approx(
        sum(server.cpu_s for server in report.servers), abs=0.002
    )
    assert report.redis is not None
