"""`roomserver cluster`: node processes sharing Redis; one killed, its players resume elsewhere."""

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from clients.python.room_client import RoomClient
from protocol.codec import decode_server
from protocol.messages import (
    LeaderboardUpdated,
    PlayerDisconnected,
    RoomJoin,
    RoomResumed,
    Spin,
    SpinResult,
)
from roomserver.store.ledger import Ledger
from tests.support.cluster import cluster_process, free_cluster_port, write_cluster_config
from tests.support.node import (
    create_tournament,
    fetch_spins,
    join,
    room_frames,
    token,
    unique,
    winning_seed,
)
from tests.support.redis import redis_client


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_killed_nodes_players_resume_on_another_node_with_no_gap(
    tmp_path: Path, database_dsn: str, redis_url: str, ledger: Ledger
) -> None:
    config = write_cluster_config(tmp_path, database_dsn, redis_url)
    port = free_cluster_port(2)
    first_url, second_url = (f"ws://127.0.0.1:{port + 6 + n}/ws" for n in range(2))
    room = (await create_tournament(ledger)).config.tournament_id
    player, watcher, gone = unique("p"), unique("w"), unique("g")
    keys = [unique("k") for _ in range(3)]
    async with cluster_process(tmp_path, config, 2, port) as launcher:
        async with await RoomClient.connect(second_url, token(watcher)) as watching:
            await join(watching, room)
            leaving = await RoomClient.connect(first_url, token(gone))
            await join(leaving, room)
            doomed = await RoomClient.connect(first_url, token(player))
            snapshot = await join(doomed, room)
            results = []
            for n, key in enumerate(keys):
                await doomed.send(Spin(room=room, stake=10, idempotency_key=key, rid=str(n)))
                results.append(await doomed.recv_type(SpinResult, rid=str(n)))
            await asyncio.sleep(0.3)  # the spins' room frames go out before the node dies
            pid = int((tmp_path / "var" / "cluster" / "node-1.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            await doomed.until_closed()
            await leaving.until_closed()
            # Back on the surviving node, resuming from the snapshot: every frame since, in order.
            async with await RoomClient.connect(second_url, token(player)) as back:
                await back.send(
                    RoomJoin(
                        room=room,
                        since_seq=snapshot.payload.seq,
                        since_epoch=snapshot.payload.epoch,
                        rid="back",
                    )
                )
                resumed = await back.recv_type(RoomResumed, rid="back")
                replayed = [
                    decode_server(await back.ws.recv(decode=False))
                    for _ in range(resumed.payload.replayed)
                ]
                # The last spin retried with its key: the stored result, not a second spin.
                await back.send(Spin(room=room, stake=10, idempotency_key=keys[-1], rid="again"))
                again = await back.recv_type(SpinResult, rid="again")
                # When the dead node's heartbeat expires (10 s), the survivor removes its
                # connections: the player who never came back is announced gone; the one who
                # resumed here stays online (no false "disconnected").
                offline = await watching.recv_type(PlayerDisconnected, timeout_s=30)
        assert launcher.returncode is None
    assert [frame.seq for frame in replayed] == list(
        range(snapshot.payload.seq + 1, resumed.payload.seq + 1)
    )
    assert again.payload.spin_id == results[-1].payload.spin_id
    assert offline.payload.player_id == gone
    assert offline.payload.players_online == 2  # the watcher and the player who resumed
    spins = await fetch_spins(ledger, room, player)
    assert sorted(row["idempotency_key"] for row in spins) == sorted(keys)
    assert launcher.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_paused_ticker_loses_the_room_to_another_node_and_pushes_nothing_stale(
    tmp_path: Path, database_dsn: str, redis_url: str, ledger: Ledger
) -> None:
    config = write_cluster_config(tmp_path, database_dsn, redis_url)
    port = free_cluster_port(2)
    urls = [f"ws://127.0.0.1:{port + 6 + n}/ws" for n in range(2)]
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    winning = winning_seed(tournament.server_seed)
    players = [unique("p"), unique("p")]
    lease_key = f"rs:{{t:{room}}}:ticker"
    async with (
        cluster_process(tmp_path, config, 2, port),
        redis_client(redis_url) as redis,
        contextlib.AsyncExitStack() as stack,
    ):
        clients = [
            await stack.enter_async_context(await RoomClient.connect(url, token(player)))
            for url, player in zip(urls, players, strict=True)
        ]
        for client in clients:
            await join(client, room)

        async def ticker() -> int:
            """The index of the node holding the room's ticker lease (`cluster` names them)."""
            async with asyncio.timeout(10):
                while (held := await redis.get(lease_key)) is None:
                    await asyncio.sleep(0.05)
            text = held.decode() if isinstance(held, bytes) else held
            return ["node-1", "node-2"].index(text.split(" ")[0])

        paused = await ticker()
        other = 1 - paused
        pid = int((tmp_path / "var" / "cluster" / f"node-{paused + 1}.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            # The lease (3 s) runs out; the other node takes the room over.
            async with asyncio.timeout(15):
                while await ticker() != other:
                    await asyncio.sleep(0.1)
            # A spin on the paused node waits in its socket; it is served when the node wakes,
            # with the node still believing it is the ticker.
            await clients[paused].send(
                Spin(room=room, stake=10, idempotency_key=unique("k"), client_seed=winning, rid="s")
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        result = await clients[paused].recv_type(SpinResult, rid="s")
        # The new ticker publishes the woken node's score: it was forwarded, not pushed.
        async with asyncio.timeout(10):
            while True:
                pushed = await clients[other].recv_type(LeaderboardUpdated, timeout_s=10)
                scores = {entry.player_id: entry.score for entry in pushed.payload.entries}
                if scores.get(players[paused]) == result.payload.score:
                    break
        assert await ticker() == other
        seen = [await room_frames(client, 1.0) for client in clients]
    # After the push both members saw the same stream: in order, no gap, the same bytes.
    for frames in seen:
        seqs = [seq for seq, _ in frames]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
    common = set(dict(seen[0])) & set(dict(seen[1]))
    assert all(dict(seen[0])[seq] == dict(seen[1])[seq] for seq in common)
