"""`roomserver cluster`: node processes sharing Redis; one killed, its players resume elsewhere."""

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest

from clients.python.room_client import RoomClient
from protocol.codec import decode_server
from protocol.messages import PlayerDisconnected, RoomJoin, RoomResumed, Spin, SpinResult
from roomserver.store.ledger import Ledger
from tests.support.node import (
    TEST_AUTH,
    create_tournament,
    fetch_spins,
    join,
    roomserver_process,
    token,
    unique,
)

CONFIG = """\
[server]
host = "127.0.0.1"
[postgres]
dsn = "{dsn}"
pool_min_size = 1
pool_max_size = 4
[redis]
url = "{redis_url}"
[auth]
jwt_secret = "{jwt_secret}"
[events]
file = "{events_file}"
"""


def free_cluster_port(nodes: int) -> int:
    """A port P with P, P+6.. and P+16.. (the balancer and the nodes' ports) all free now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + 16 + nodes >= 65535:
            continue
        wanted = [
            port,
            *(port + 6 + n for n in range(nodes)),
            *(port + 16 + n for n in range(nodes)),
        ]
        if all(_free(candidate) for candidate in wanted):
            return port
    raise AssertionError("no free range of ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_process(
    workdir: Path, config: Path, nodes: int, port: int
) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """`roomserver cluster`, yielded once every node answers /ready; stopped with SIGTERM."""
    return roomserver_process(
        ("--config", str(config), "cluster", "--nodes", str(nodes), "--port", str(port)),
        workdir,
        [f"http://127.0.0.1:{port + 16 + n}/ready" for n in range(nodes)],
        workdir / "cluster.log",
        start_timeout_s=90.0,
        stop_timeout_s=60.0,
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_killed_nodes_players_resume_on_another_node_with_no_gap(
    tmp_path: Path, database_dsn: str, redis_url: str, ledger: Ledger
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(
            dsn=database_dsn,
            redis_url=redis_url,
            jwt_secret=TEST_AUTH.jwt_secret,
            events_file=tmp_path / "events.jsonl",
        )
    )
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
