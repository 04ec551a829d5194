"""Starting a node as a user does.

Taken ports are named, the startup log says where the config came from and how to get a sandbox
token, pgserver's setup output stays off the console, and the Dockerfile's health check asks a
real side API.
"""

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from roomserver.config import ApiConfig
from roomserver.ops.embedded_postgres import setup_log_path, start_embedded_postgres
from roomserver.ops.startup import database_address
from tests.integration.conftest import NodeStarter
from tests.support.node import TEST_AUTH
from tests.support.services import free_tcp_port

REPOSITORY: Final = Path(__file__).resolve().parents[2]
START_TIMEOUT_S: Final = 60.0

NODE_CONFIG: Final = """\
[server]
host = "127.0.0.1"
port = {ws_port}
[api]
port = {api_port}
[postgres]
dsn = "{dsn}"
pool_min_size = 1
pool_max_size = 2
[auth]
jwt_secret = "{jwt_secret}"
[events]
file = "{events_file}"
"""


def write_config(path: Path, dsn: str, ws_port: int, api_port: int) -> Path:
    path.write_text(
        NODE_CONFIG.format(
            ws_port=ws_port,
            api_port=api_port,
            dsn=dsn,
            jwt_secret=TEST_AUTH.jwt_secret,
            events_file=path.parent / "events.jsonl",
        ),
        encoding="utf-8",
    )
    return path


def clean_environment() -> dict[str, str]:
    """The test's environment without ROOMSERVER_ variables: only the config file counts."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ROOMSERVER_")}


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port another process (this one) is listening on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


async def run_to_exit(*argv: str, cwd: Path) -> tuple[int, str]:
    """`python -m roomserver ARGV` to its end: exit code and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomserver",
        *argv,
        cwd=cwd,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def the_error(stderr: str) -> str:
    """The one line a failed start ends with; no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


async def test_taken_websocket_port_is_named_with_its_config_key(
    database_dsn: str, tmp_path: Path
) -> None:
    with held_port() as port:
        config = write_config(tmp_path / "node.toml", database_dsn, port, free_tcp_port())
        code, stderr = await run_to_exit("--config", str(config), "run", cwd=tmp_path)
    assert code == 1, stderr
    assert the_error(stderr) == (
        f"roomserver: port {port} is already in use (config key server.port; server.host is "
        "'127.0.0.1'): stop the other process or choose another port"
    )


async def test_taken_side_api_port_is_named_with_its_config_key(
    database_dsn: str, tmp_path: Path
) -> None:
    with held_port() as port:
        config = write_config(tmp_path / "node.toml", database_dsn, free_tcp_port(), port)
        code, stderr = await run_to_exit("--config", str(config), "run", cwd=tmp_path)
    assert code == 1, stderr
    assert the_error(stderr).startswith(
        f"roomserver: port {port} is already in use (config key api.port; "
    )


@pytest.mark.timeout(90)
async def test_sandbox_start_names_its_config_and_how_to_get_a_token(
    database_dsn: str, tmp_path: Path
) -> None:
    # As `make run` does: no --config, ./config.toml is read.
    ws_port = free_tcp_port()
    config = write_config(tmp_path / "config.toml", database_dsn, ws_port, free_tcp_port())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomserver",
        "run",
        "--sandbox",
        cwd=tmp_path,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not any("roomserver token" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "the node exited during start:\n" + "".join(lines)
                lines.append(line)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0, "".join(lines) + rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "".join(lines)
    assert "Traceback" not in log + rest
    assert re.search(rf"roomserver \S+ starting with config {re.escape(str(config))}\n", lines[0])
    assert (
        "sandbox mode: get a player token with `roomserver token --player p_demo_1` "
        f"(players p_demo_1 to p_demo_10), then connect to ws://127.0.0.1:{ws_port}/ws with it "
        "(query parameter `token`, or the Authorization header)\n"
    ) in lines[-1]


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A directory outside pytest's (which pgserver's own system user could not enter)."""
    path = Path(tempfile.mkdtemp(prefix="roomserver-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Recorded(logging.Handler):
    """Keeps every record that reaches the root logger, as the console's handler would see it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_embedded_postgres_setup_output_goes_to_its_log_file(scratch_dir: Path) -> None:
    root = logging.getLogger()
    console = Recorded()
    level = root.level
    root.addHandler(console)
    root.setLevel(logging.INFO)
    data_dir = scratch_dir / "pg"
    try:
        server = start_embedded_postgres(data_dir)
        server.stop()
    finally:
        root.removeHandler(console)
        root.setLevel(level)
    # Nothing of initdb or pg_ctl reached the console; our own lines did.
    names = {record.name for record in console.records}
    assert not {name for name in names if name.startswith("pgserver")}, names
    assert any(
        record.getMessage().startswith("embedded PostgreSQL ready") for record in console.records
    )
    setup_log = setup_log_path(data_dir)
    assert setup_log == scratch_dir / "pg.log"
    assert "initdb" in setup_log.read_text(encoding="utf-8")


def dockerfile_healthcheck() -> list[str]:
    """The argv of the Dockerfile's HEALTHCHECK (exec form), continuation lines joined."""
    text = (REPOSITORY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match is not None, "the Dockerfile has no HEALTHCHECK in exec form"
    argv: list[str] = json.loads(match.group(1))
    return argv


async def test_dockerfile_healthcheck_asks_the_side_apis_health(
    start_node: NodeStarter,
) -> None:
    program, *arguments = dockerfile_healthcheck()
    assert program == "python"
    # The image's default URL is the side API's default address.
    dockerfile = (REPOSITORY / "Dockerfile").read_text(encoding="utf-8")
    assert f"ENV HEALTHCHECK_URL=http://127.0.0.1:{ApiConfig().port}/health\n" in dockerfile

    def check(url: str) -> int:
        environ = {**os.environ, "HEALTHCHECK_URL": url}
        completed = subprocess.run(
            [sys.executable, *arguments],
            env=environ,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return completed.returncode

    async with start_node() as node:
        assert node.api_port is not None
        healthy = await asyncio.to_thread(check, f"http://127.0.0.1:{node.api_port}/health")
    unhealthy = await asyncio.to_thread(check, f"http://127.0.0.1:{free_tcp_port()}/health")
    assert healthy == 0
    assert unhealthy == 1


async def test_database_refusing_the_node_fails_at_once_without_the_password(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    # A role that does not exist: retrying cannot help, so the default 30 s are not spent.
    parts = urllib.parse.urlsplit(postgres_admin_dsn)
    host = parts.netloc.rpartition("@")[2]
    password = "never-print-this-password"
    dsn = urllib.parse.urlunsplit(parts._replace(netloc=f"no_such_role:{password}@{host}"))
    config = write_config(tmp_path / "node.toml", dsn, free_tcp_port(), free_tcp_port())
    started = time.monotonic()
    code, stderr = await run_to_exit("--config", str(config), "run", cwd=tmp_path)
    assert code == 1, stderr
    assert time.monotonic() - started < 20
    assert password not in stderr
    assert "retrying" not in stderr
    error = the_error(stderr)
    assert error.startswith(f"roomserver: PostgreSQL at {database_address(dsn)} refused the ")
    assert '"no_such_role"' in error
    assert error.endswith("(config key postgres.dsn)")


async def test_unreachable_redis_is_named_with_its_config_key_without_the_password(
    database_dsn: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "node.toml", database_dsn, free_tcp_port(), free_tcp_port())
    dead = free_tcp_port()  # nothing listens there
    password = "never-print-this-either"
    with config.open("a", encoding="utf-8") as file:
        file.write(f'\n[redis]\nurl = "redis://:{password}@127.0.0.1:{dead}/0"\n')
    code, stderr = await run_to_exit("--config", str(config), "run", cwd=tmp_path)
    assert code == 1, stderr
    assert password not in stderr
    error = the_error(stderr)
    assert error.startswith(f"roomserver: Redis at 127.0.0.1:{dead} cannot be reached: ")
    assert error.endswith("(config key redis.url)")
