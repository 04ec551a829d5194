"""Several nodes on one Redis serve one tournament as one server: same frames, same seq."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import msgspec
import pytest
from redis.asyncio.cluster import RedisCluster

from clients.python.room_client import RoomClient
from protocol.codec import decode_server
from protocol.messages import (
    LeaderboardUpdated,
    RoomJoin,
    RoomResumed,
    RoomSnapshot,
    Spin,
    SpinResult,
    TournamentStarted,
)
from roomserver.config import Config, RedisConfig
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import admin_client, api_config
from tests.support.node import (
    create_tournament,
    join,
    room_frames,
    token,
    unique,
    winning_seed,
    ws_url,
)
from tests.support.services import free_tcp_port, start_redis_on


@contextlib.asynccontextmanager
async def cluster(
    start_node: NodeStarter,
    base_config: Config,
    redis_url: str,
    count: int = 3,
    *,
    redis_cluster: bool = False,
) -> AsyncIterator[list[Node]]:
    """`count` in-process nodes sharing the test database and one Redis (or Redis Cluster)."""
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for n in range(count):
            server = msgspec.structs.replace(base_config.server, node_id=f"{unique('node')}-{n}")
            config = msgspec.structs.replace(
                base_config, server=server, redis=RedisConfig(url=redis_url, cluster=redis_cluster)
            )
            nodes.append(await stack.enter_async_context(start_node(config)))
        yield nodes


async def sharded_publishes(url: str) -> int:
    """SPUBLISH calls so far, summed over the shards of the Redis Cluster at `url`."""
    client = RedisCluster.from_url(url)
    try:
        await client.initialize()
        total = 0
        for node in client.get_primaries():
            stats = await client.info("commandstats", target_nodes=node)
            total += int(stats.get("cmdstat_spublish", {}).get("calls", 0))
        return total
    finally:
        await client.aclose()


@pytest.mark.parametrize("redis_kind", ["redis", "redis-cluster"])
async def test_members_on_three_nodes_see_the_same_frames_with_the_same_seq(
    start_node: NodeStarter,
    base_config: Config,
    ledger: Ledger,
    redis_kind: str,
    request: pytest.FixtureRequest,
) -> None:
    sharded = redis_kind == "redis-cluster"
    url = str(request.getfixturevalue("redis_cluster_url" if sharded else "redis_url"))
    spublished = await sharded_publishes(url) if sharded else 0
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    winning = winning_seed(tournament.server_seed)
    async with cluster(start_node, base_config, url, redis_cluster=sharded) as nodes:
        players = [unique("p") for _ in nodes]
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    await RoomClient.connect(ws_url(node), token(player))
                )
                for node, player in zip(nodes, players, strict=True)
            ]
            snapshots = [await join(client, room) for client in clients]
            for n, client in enumerate(clients):
                for k in range(3):
                    # Each player's first spin wins: the standings change, leaderboards go out.
                    seed = winning if k == 0 else None
                    spin = Spin(room=room, stake=10, idempotency_key=unique("k"), client_seed=seed)
                    await client.send(msgspec.structs.replace(spin, rid=f"{n}-{k}"))
            seen = await asyncio.gather(*(room_frames(client, 1.5) for client in clients))
    assert [s.payload.players_online for s in snapshots] == [1, 2, 3]
    by_seq: dict[int, bytes] = {}
    for snapshot, frames in zip(snapshots, seen, strict=True):
        seqs = [seq for seq, _ in frames]
        # Every frame after the member's snapshot, in order, none twice, none missing.
        assert seqs == list(range(snapshot.payload.seq + 1, snapshot.payload.seq + 1 + len(seqs)))
        for seq, data in frames:
            assert by_seq.setdefault(seq, data) == data  # the same bytes on every node
    # The last member saw every later frame: the others' joins' frames are before its snapshot.
    assert len(seen[-1]) >= 1
    assert max(by_seq) == max(seq for seq, _ in seen[0])
    if sharded:
        # The frames went through the room's shard (sharded pub/sub), one SPUBLISH each at least.
        assert await sharded_publishes(url) - spublished >= len(by_seq)


async def test_one_node_publishes_the_leaderboard_with_every_nodes_standings(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    winning = winning_seed(tournament.server_seed)
    async with (
        cluster(start_node, api_config(base_config), redis_url) as nodes,
        contextlib.AsyncExitStack() as stack,
    ):
        players = [unique("p") for _ in nodes]
        clients = [
            await stack.enter_async_context(await RoomClient.connect(ws_url(node), token(player)))
            for node, player in zip(nodes, players, strict=True)
        ]
        for client in clients:
            await join(client, room)
        scores: dict[str, int] = {}
        for round_ in range(3):
            for n, client in enumerate(clients):
                seed = winning if round_ == 0 else None
                spin = Spin(room=room, stake=10, idempotency_key=unique("k"), client_seed=seed)
                await client.send(msgspec.structs.replace(spin, rid=f"{n}-{round_}"))
                result = await client.recv_type(SpinResult, rid=f"{n}-{round_}")
                scores[players[n]] = result.payload.score
        seen = await asyncio.gather(*(room_frames(client, 1.5) for client in clients))
        owners = set()
        for node in nodes:
            async with admin_client(node) as api:
                owners.add(
                    (await api.get(f"/internal/tournaments/{room}/status")).json()["owner_node"]
                )
    pushes = [
        message
        for _, data in seen[0]
        if isinstance(message := decode_server(data), LeaderboardUpdated)
    ]
    assert pushes, "no leaderboard was published"
    # One publisher: the standings only move forward from push to push (nodes publishing
    # their own views would take other nodes' players back and forth).
    best: dict[str, int] = {}
    for push in pushes:
        for entry in push.payload.entries:
            assert entry.score >= best.get(entry.player_id, 0), push
            best[entry.player_id] = entry.score
    # The last push holds what every node committed.
    final = {entry.player_id: entry.score for entry in pushes[-1].payload.entries}
    assert {player: final.get(player) for player in players} == scores
    # Every node names the same publisher, one of them.
    assert len(owners) == 1 and owners <= {node.config.server.node_id for node in nodes}


async def test_a_member_resumes_on_another_node_with_every_missed_frame(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    watcher, spinner = unique("w"), unique("p")
    # The first spin wins, so the room surely pushes a leaderboard (a spin that changes no
    # standing pushes none).
    winning = winning_seed(tournament.server_seed)
    async with (
        cluster(start_node, base_config, redis_url) as (first, second, third),
        await RoomClient.connect(ws_url(second), token(spinner)) as playing,
    ):
        await join(playing, room)
        async with await RoomClient.connect(ws_url(first), token(watcher)) as away:
            snapshot = await join(away, room)
        epoch = snapshot.payload.epoch
        for k in range(3):
            rid = str(k)
            seed = winning if k == 0 else None
            await playing.send(
                Spin(room=room, stake=10, idempotency_key=unique("k"), client_seed=seed, rid=rid)
            )
            await playing.recv_type(SpinResult, rid=rid)
        live = await room_frames(playing, 1.0)
        async with await RoomClient.connect(ws_url(third), token(watcher)) as back:
            await back.send(
                RoomJoin(room=room, since_seq=snapshot.payload.seq, since_epoch=epoch, rid="r")
            )
            resumed = await back.recv_type(RoomResumed, rid="r")
            replayed = [await back.ws.recv(decode=False) for _ in range(resumed.payload.replayed)]
    seqs = [decode_server(data).seq for data in replayed]
    assert seqs == list(range(snapshot.payload.seq + 1, resumed.payload.seq + 1))
    assert resumed.payload.epoch == epoch
    # What the spinner saw live on its node is, byte for byte, what the other node replayed.
    replayed_by_seq = dict(zip(seqs, replayed, strict=True))
    assert live and all(replayed_by_seq[seq] == data for seq, data in live)


async def test_presence_counts_a_player_on_two_nodes_once(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    twice, once = unique("p"), unique("p")
    async with (
        cluster(start_node, base_config, redis_url, count=2) as (first, second),
        await RoomClient.connect(ws_url(first), token(twice)) as a,
        await RoomClient.connect(ws_url(second), token(once)) as b,
    ):
        await join(a, room)
        assert (await join(b, room)).payload.players_online == 2
        async with await RoomClient.connect(ws_url(second), token(twice)) as again:
            # The same player through a second node: still two players online.
            assert (await join(again, room)).payload.players_online == 2


async def test_status_and_server_info_show_the_whole_cluster(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with (
        cluster(start_node, api_config(base_config), redis_url, count=2) as (first, second),
        await RoomClient.connect(ws_url(first), token(unique("p"))) as a,
        await RoomClient.connect(ws_url(second), token(unique("p"))) as b,
        admin_client(first) as api,
    ):
        await join(a, room)
        await join(b, room)
        status = (await api.get(f"/internal/tournaments/{room}/status")).json()
        assert status["players_online"] == 2  # one here, one on the other node
        # Each node reports its load with its heartbeat (every two seconds).
        async with asyncio.timeout(10):
            while True:
                info = (await api.get("/internal/server-info")).json()
                if len(info["nodes"]) == 2:
                    break
                await asyncio.sleep(0.2)
    assert [node["node_id"] for node in info["nodes"]] == [
        first.config.server.node_id,
        second.config.server.node_id,
    ]
    assert [node["connections"] for node in info["nodes"]] == [1, 1]


async def test_a_start_reaches_members_on_every_node_once_whichever_node_moved_it(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    starts_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    tournament = await create_tournament(ledger, status="scheduled", starts_at=starts_at)
    room = tournament.config.tournament_id
    async with (
        cluster(start_node, base_config, redis_url) as nodes,
        contextlib.AsyncExitStack() as stack,
    ):
        # Members on two nodes; the third node has none, and its scheduler may be the one
        # that starts the tournament.
        members = [
            await stack.enter_async_context(
                await RoomClient.connect(ws_url(node), token(unique("p")))
            )
            for node in nodes[:2]
        ]
        for member in members:
            assert (await join(member, room)).payload.status == "scheduled"
        for member in members:
            started = await member.recv_type(TournamentStarted, timeout_s=15)
            assert started.payload.status == "running"
        later = await room_frames(members[0], 0.5)
        assert not any(b'"room.tournament.started"' in data for _, data in later)  # once
        async with await RoomClient.connect(ws_url(nodes[1]), token(unique("p"))) as newcomer:
            assert (await join(newcomer, room)).payload.status == "running"


async def test_a_start_whose_node_died_before_announcing_it_reaches_every_member_once(
    start_node: NodeStarter, base_config: Config, redis_url: str, ledger: Ledger
) -> None:
    # Far in the future: no scheduler starts it; the test commits the start as a node would.
    starts_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    tournament = await create_tournament(ledger, status="scheduled", starts_at=starts_at)
    room = tournament.config.tournament_id
    async with (
        cluster(start_node, base_config, redis_url, count=2) as nodes,
        contextlib.AsyncExitStack() as stack,
    ):
        members = [
            await stack.enter_async_context(
                await RoomClient.connect(ws_url(node), token(unique("p")))
            )
            for node in nodes
        ]
        for member in members:
            await join(member, room)
        # The move commits (with its announcement row); the node that made it is gone before
        # it could publish anything.
        assert await ledger.move_tournament(room, "scheduled", "running")
        for member in members:
            started = await member.recv_type(TournamentStarted, timeout_s=10)
            assert started.payload.status == "running"
        later = await asyncio.gather(*(room_frames(member, 1.5) for member in members))
        pending = await ledger.pool.fetchval(
            "SELECT count(*) FROM room_announcements WHERE tournament_id = $1", room
        )
    for frames in later:
        assert not any(b'"room.tournament.started"' in data for _, data in frames)  # once
    assert pending == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_redis_restarted_empty_members_learn_it_and_spins_go_on(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    port = free_tcp_port()
    redis_server = start_redis_on(port)
    try:
        room = (await create_tournament(ledger)).config.tournament_id
        url = f"redis://127.0.0.1:{port}/0"
        async with (
            cluster(start_node, base_config, url, count=2) as (first, second),
            await RoomClient.connect(ws_url(first), token(unique("p"))) as a,
            await RoomClient.connect(ws_url(second), token(unique("p"))) as b,
        ):
            before = [await join(a, room), await join(b, room)]
            redis_server.stop()
            # Spins need only PostgreSQL: they go on while Redis is away.
            await a.send(Spin(room=room, stake=10, idempotency_key=unique("k"), rid="s"))
            assert (await a.recv_type(SpinResult, rid="s")).payload.stake == 10
            redis_server = start_redis_on(port)  # empty: every stream is gone
            # A newcomer's join publishes into a new epoch; the members' rooms see the stream
            # broke and close their connections so they rejoin.
            async with await RoomClient.connect(ws_url(first), token(unique("p"))) as c:
                async with asyncio.timeout(20):
                    while True:
                        try:
                            newcomer = await join(c, room)
                            break
                        except (AssertionError, TimeoutError):
                            await asyncio.sleep(0.5)  # the nodes are still reconnecting
                assert newcomer.payload.epoch != before[0].payload.epoch
                for member in (a, b):
                    await member.until_closed(timeout_s=20)
                    assert member.close_code == 1012
            async with await RoomClient.connect(ws_url(second), token(unique("p"))) as again:
                await again.send(
                    RoomJoin(
                        room=room,
                        since_seq=before[1].payload.seq,
                        since_epoch=before[1].payload.epoch,
                        rid="back",
                    )
                )
                snapshot = await again.recv_type(RoomSnapshot, rid="back")
        assert snapshot.payload.recovered is False
        assert snapshot.payload.epoch == newcomer.payload.epoch
        assert snapshot.payload.seq > before[1].payload.seq  # never backwards
    finally:
        redis_server.stop()
