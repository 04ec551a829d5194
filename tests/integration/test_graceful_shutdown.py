"""SIGTERM while spins are in flight: every answered spin is in the ledger, none half-written."""

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from clients.python.room_client import RoomClient
from protocol.codes import CloseCode
from protocol.messages import Error, ServerDraining, Spin, SpinResult
from roomserver.store.ledger import Ledger
from tests.support.node import TEST_AUTH, create_tournament, join, token, unique
from tests.support.services import free_tcp_port


async def wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(30):
        while True:
            assert process.returncode is None, "server exited during start"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return


async def play_until_closed(
    url: str, player: str, room: str, results: dict[str, str]
) -> tuple[int | None, bool]:
    """Spin, several requests in flight, until the server closes: (close code, draining seen)."""
    draining_seen = False
    async with await RoomClient.connect(url, token(player)) as client:
        await join(client, room)
        sent = answered = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                while sent - answered < 8 and not draining_seen:
                    await client.send(
                        Spin(room=room, stake=10, idempotency_key=unique("k"), rid=str(sent))
                    )
                    sent += 1
                frame = await client.recv(timeout_s=20)
                if isinstance(frame, SpinResult):
                    answered += 1
                    results[frame.payload.spin_id] = player
                elif isinstance(frame, Error) and frame.rid is not None:
                    answered += 1
                elif isinstance(frame, ServerDraining):
                    draining_seen = True
        return client.ws.close_code, draining_seen


async def test_sigterm_lets_in_flight_spins_commit_and_reply(
    ledger: Ledger, database_dsn: str, tmp_path: Path
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    port = free_tcp_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\nshutdown_grace_s = 10.0\n'
        "[rate_limit]\nmessages_per_s = 10000.0\nburst = 10000\n"
    )
    env = {
        **os.environ,
        "ROOMSERVER_POSTGRES_DSN": database_dsn,
        "ROOMSERVER_JWT_SECRET": TEST_AUTH.jwt_secret,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomserver",
        "--config",
        str(config),
        "run",
        # The node's relative defaults (its events file) land in the test's directory.
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_listening(port, process)
        results: dict[str, str] = {}
        players = [unique("p") for _ in range(4)]
        url = f"ws://127.0.0.1:{port}/ws"
        games = [asyncio.create_task(play_until_closed(url, p, room, results)) for p in players]
        async with asyncio.timeout(10):
            while len(results) < 100:
                await asyncio.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        outcomes = await asyncio.gather(*games)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert all(code == CloseCode.SERVICE_RESTART for code, _ in outcomes)
    assert all(drained for _, drained in outcomes)
    recorded = {
        str(row["spin_id"]): row["player_id"]
        for row in await ledger.pool.fetch(
            "SELECT spin_id, player_id FROM spins WHERE tournament_id = $1", room
        )
    }
    # Every spin the players were told about is in the ledger, and nothing else was committed.
    assert recorded == results
    for player in players:
        chips = await ledger.chips_balance(room, player)
        wins = await ledger.pool.fetchval(
            """SELECT coalesce(sum(win - stake), 0) FROM spins
                WHERE tournament_id = $1 AND player_id = $2""",
            room,
            player,
        )
        assert chips == 100_000 + wins
