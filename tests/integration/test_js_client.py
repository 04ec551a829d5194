"""The JavaScript SDK (clients/js): unit tests, type and bundle checks, live tests on a real node.

All run under `node --test`.

Where Node.js or npm is missing the tests skip, saying what to install; with `CI=true` they fail.
The SDK's development dependencies are installed with `npm ci` when `node_modules` is missing or
older than the lock file.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest

from roomserver.config import Config
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import (
    create_tournament,
    environment_without_roomserver,
    fetch_spins,
    token,
    unique,
    ws_url,
)
from tests.support.services import free_tcp_port

SDK: Final = Path(__file__).parents[2] / "clients" / "js"

pytestmark = pytest.mark.timeout(600)


def _require_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return node, npm
    reason = (
        "Node.js 20 and npm are needed for the JavaScript SDK's tests: apt-get install nodejs npm"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def npm_installed() -> str:
    """Node's path, once the SDK's development dependencies are installed."""
    node, npm = _require_node()
    installed = SDK / "node_modules" / ".package-lock.json"
    lock = SDK / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=SDK,
            capture_output=True,
            text=True,
            timeout=480,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node


def _counts(tap: str) -> dict[str, int]:
    """The summary lines of `node --test` (`# pass 85`, `# fail 0`, `# skipped 3`)."""
    return {key: int(value) for key, value in re.findall(r"^# (\w+) (\d+)$", tap, re.M)}


def test_sdk_unit_tests_pass(npm_installed: str) -> None:
    env = environment_without_roomserver()
    done = subprocess.run(
        [shutil.which("npm") or "npm", "test"],
        cwd=SDK,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    counts = _counts(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert counts.get("fail") == 0
    assert counts.get("pass", 0) >= 80, counts
    # Without a server the live tests skip; they run in the test below.
    assert counts.get("skipped") == 3, counts


def test_sdk_types_and_committed_bundle_match_the_sources(npm_installed: str) -> None:
    done = subprocess.run(
        [shutil.which("npm") or "npm", "run", "check"],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


async def test_sdk_live_against_a_real_node(
    npm_installed: str, start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    players = [unique("js") for _ in range(3)]
    async with start_node() as node:
        env = {
            **environment_without_roomserver(),
            "ROOMSERVER_WS_URL": ws_url(node),
            "ROOMSERVER_ROOM": room,
            "ROOMSERVER_TOKENS_JSON": json.dumps([token(player) for player in players]),
        }
        process = await asyncio.create_subprocess_exec(
            npm_installed,
            "--test",
            "test/integration/live.test.mjs",
            cwd=SDK,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 240)
    tap = output.decode()
    counts = _counts(tap)
    assert process.returncode == 0, tap[-6000:]
    assert counts.get("pass") == 3 and counts.get("fail") == 0, counts
    # Whatever the tests did (a drop mid-spin, a resend), one spin per idempotency key.
    spins = [spin for player in players for spin in await fetch_spins(ledger, room, player)]
    keys = [(spin["player_id"], spin["idempotency_key"]) for spin in spins]
    assert len(spins) >= 2
    assert len(set(keys)) == len(keys)


class SdkPlayer:
    """tests/support/sdk_restart.mjs as a process: one JSON line per event on its stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[dict[str, Any]] = []

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def next_event(self, kind: str, timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self.process.stdout.readline()
                assert line, f"the SDK player exited; it said: {self.seen}"
                event: dict[str, Any] = json.loads(line)
                self.seen.append(event)
                if event["event"] == kind:
                    return event
                assert event["event"] not in ("failed", "gap"), event


async def test_sdk_player_survives_a_server_restart_and_its_balance_is_the_ledgers(
    npm_installed: str, start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("js")
    # The same port before and after the restart, as a player's URL would be.
    config = msgspec.structs.replace(
        base_config, server=msgspec.structs.replace(base_config.server, port=free_tcp_port())
    )
    env = {
        **environment_without_roomserver(),
        "ROOMSERVER_WS_URL": f"ws://127.0.0.1:{config.server.port}/ws",
        "ROOMSERVER_TOKEN": token(player),
        "ROOMSERVER_ROOM": room,
        "ROOMSERVER_SDK": str(SDK),
    }
    process = await asyncio.create_subprocess_exec(
        npm_installed,
        str(Path(__file__).parents[1] / "support" / "sdk_restart.mjs"),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    player_process = SdkPlayer(process)
    try:
        async with start_node(config):
            joined = await player_process.next_event("joined")
            await player_process.command("spin 100")
            first = await player_process.next_event("spun")
        # Stopped (drained: 1012); the SDK reconnects on its own. A spin asked meanwhile is
        # held until it has, then placed once.
        await player_process.command("spin 200")
        await asyncio.sleep(0.5)
        async with start_node(config):
            second = await player_process.next_event("spun")
            await player_process.command("balance")
            balance = await player_process.next_event("balance")
            # Closed by the app, the client leaves nothing behind: the process exits.
            await player_process.command("quit")
            await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    states = [event["state"] for event in player_process.seen if event["event"] == "state"]
    assert "reconnecting" in states and states.count("open") >= 2, states
    spins = await fetch_spins(ledger, room, player)
    assert [str(spin["spin_id"]) for spin in spins] == [first["spin_id"], second["spin_id"]]
    chips = await ledger.chips_balance(room, player)
    assert balance["balance"] == second["balance"] == chips
    assert chips == joined["balance"] - 300 + sum(spin["win"] for spin in spins)
