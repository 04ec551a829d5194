"""Helpers for integration tests: tokens, unique ids, tournaments with known seeds, joining."""

import asyncio
import contextlib
import datetime as dt
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
import pytest

from clients.python.room_client import RoomClient
from protocol.codec import decode_server
from protocol.ids import TournamentStatus
from protocol.messages import RoomJoin, RoomSnapshot
from roomserver.config import AuthConfig
from roomserver.domain import slot_game
from roomserver.domain.tournament import Tournament, TournamentConfig
from roomserver.gateway.tokens import issue_token
from roomserver.node import Node
from roomserver.store.ledger import Ledger

TEST_AUTH = AuthConfig(jwt_secret="integration-test-secret-of-at-least-32-bytes")


def ws_url(node: Node) -> str:
    """The node's WebSocket URL."""
    return f"ws://127.0.0.1:{node.hub.port}/ws"


def token(player_id: str, **options: Any) -> str:
    """A valid player token signed with the test secret."""
    options.setdefault("name", f"Player {player_id}")
    options.setdefault("currency", "EUR")
    return issue_token(TEST_AUTH, player_id=player_id, **options)


def unique(prefix: str) -> str:
    """A fresh id, so tests sharing the database never collide."""
    return f"{prefix}-{secrets.token_hex(4)}"


async def create_tournament(
    ledger: Ledger, *, status: TournamentStatus = "running", **overrides: Any
) -> Tournament:
    """A tournament (its seed is read back, so tests can predict outcomes)."""
    fields: dict[str, Any] = {
        "tournament_id": unique("t"),
        "kind": "hop_on_off",
        "name": "Test tournament",
        "game_id": slot_game.GAME_ID,
        "currency": "EUR",
        "buy_in": 0,
        "starting_chips": 100_000,
        "min_stake": 10,
        "max_stake": 10_000,
        "max_players": 1000,
        "scoring": "total_win",
        "leaderboard_size": 10,
    }
    if status == "scheduled":
        # Far enough ahead that no node's scheduler starts it during the test.
        fields["starts_at"] = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    fields.update(overrides)
    tournament_config = TournamentConfig(**fields)
    created = await ledger.create_tournament(tournament_config, status=status)
    assert created
    loaded = await ledger.load_tournament(tournament_config.tournament_id)
    assert loaded is not None
    return loaded


def winning_seed(server_seed: bytes, nonce: int = 0) -> str:
    """A client seed whose spin at `nonce` wins (so the standings move and frames go out)."""
    for n in range(10_000):
        seed = f"win-{nonce}-{n}"
        if slot_game.play(server_seed, seed, nonce).multiplier > 0:
            return seed
    raise AssertionError("no winning seed found")


async def join(client: RoomClient, room: str, rid: str = "join") -> RoomSnapshot:
    """Join and return the snapshot."""
    await client.send(RoomJoin(room=room, rid=rid))
    return await client.recv_type(RoomSnapshot, rid=rid)


async def fetch_spins(ledger: Ledger, tournament_id: str, player_id: str) -> list[asyncpg.Record]:
    """The spins recorded for a player in a tournament."""
    return list(
        await ledger.pool.fetch(
            "SELECT * FROM spins WHERE tournament_id = $1 AND player_id = $2 ORDER BY nonce",
            tournament_id,
            player_id,
        )
    )


REPOSITORY: Final = Path(__file__).resolve().parents[2]


def environment_without_roomserver() -> dict[str, str]:
    """This process's environment without any ROOMSERVER_ variable (a child's own config rules)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ROOMSERVER_")}


@contextlib.asynccontextmanager
async def roomserver_process(
    arguments: Sequence[str],
    cwd: Path,
    ready_urls: Sequence[str],
    log_path: Path,
    *,
    start_timeout_s: float = 30.0,
    stop_timeout_s: float = 30.0,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m roomserver ARGUMENTS` as a process of its own, in `cwd`.

    No ROOMSERVER_ variables reach it; stderr goes to `log_path`. Yielded once every URL of
    `ready_urls` answers 200; then stopped with SIGTERM (killed if it outlasts
    `stop_timeout_s`), its exit code left in `returncode`.
    """
    env = environment_without_roomserver()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "roomserver",
            *arguments,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            deadline = time.monotonic() + start_timeout_s
            for url in ready_urls:
                while True:
                    if process.returncode is not None:
                        text = await asyncio.to_thread(log_path.read_text, errors="replace")
                        pytest.fail(
                            f"roomserver exited with {process.returncode} at start:\n{text}"
                        )
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get(url)).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        pytest.fail(f"{url} did not answer 200 in {start_timeout_s} s")
                    await asyncio.sleep(0.1)
        yield process
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(stop_timeout_s):
            await process.wait()
    finally:
        if process.returncode is None:
            # A failed test stops it gently first: a launcher killed outright could leave
            # children of its own behind.
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(stop_timeout_s):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def sandbox_process(
    config: Path,
    api_url: str,
    log_path: Path,
    *,
    start_timeout_s: float = 30.0,
    stop_timeout_s: float = 30.0,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m roomserver --config CONFIG run --sandbox`, ready once its side API is.

    Only the config file configures it; relative paths the config leaves at their defaults
    resolve beside the config file, never in the checkout (see `roomserver_process`).
    """
    async with roomserver_process(
        ("--config", str(config), "run", "--sandbox"),
        config.parent,
        [f"{api_url}/ready"],
        log_path,
        start_timeout_s=start_timeout_s,
        stop_timeout_s=stop_timeout_s,
    ) as process:
        yield process


async def room_frames(client: RoomClient, quiet_s: float) -> list[tuple[int, bytes]]:
    """The room frames (those with a `seq`) received until `quiet_s` passes without one."""
    frames: list[tuple[int, bytes]] = []
    while True:
        try:
            async with asyncio.timeout(quiet_s):
                data = await client.ws.recv(decode=False)
        except TimeoutError:
            return frames
        seq = decode_server(data).seq
        if seq is not None:
            frames.append((seq, data))
