"""Real PostgreSQL, Redis and SQS servers for the test suite.

For each service: use the URL from its environment variable when one is set;
otherwise use a server already running on the default local port (not for
SQS); otherwise start a private one, which the caller stops when done.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import asyncpg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from roomserver.ops.embedded_postgres import start_embedded_postgres

POSTGRES_DSN_ENV: Final = "ROOMSERVER_TEST_POSTGRES_DSN"
REDIS_URL_ENV: Final = "ROOMSERVER_TEST_REDIS_URL"
SQS_ENDPOINT_ENV: Final = "ROOMSERVER_TEST_SQS_ENDPOINT"
DEFAULT_POSTGRES_DSN: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
PROBE_TIMEOUT: Final = 1.0
REDIS_START_TIMEOUT: Final = 10.0
SQS_START_TIMEOUT: Final = 30.0

_DATABASE_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_T = TypeVar("_T")
_POSTGRES_PROBE_ERRORS: Final = (
    OSError,
    TimeoutError,
    ValueError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class ServiceUnavailableError(RuntimeError):
    """A configured service does not answer, or a private one cannot start."""


@dataclass
class Service:
    """A server the tests can use.

    Attributes:
        url: Connection URL (an asyncpg DSN or a redis URL).
        origin: ``"env"`` if configured by environment variable, ``"local"`` if
            found on the default port, ``"started"`` if started for the caller.
    """

    url: str
    origin: Literal["env", "local", "started"]
    _shutdown: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stops the server if it was started for the caller; idempotent."""
        shutdown, self._shutdown = self._shutdown, None
        if shutdown is not None:
            shutdown()


def acquire_postgres(configured: str | None, default_dsn: str = DEFAULT_POSTGRES_DSN) -> Service:
    """Finds or starts a PostgreSQL server and returns a superuser DSN for it.

    Args:
        configured: DSN from the environment; empty or ``None`` means unset.
        default_dsn: DSN of the server probed when nothing is configured.

    Raises:
        ServiceUnavailableError: If the configured server does not answer.
    """
    return _acquire(configured, POSTGRES_DSN_ENV, default_dsn, postgres_problem, start_postgres)


def acquire_redis(configured: str | None, default_url: str = DEFAULT_REDIS_URL) -> Service:
    """Finds or starts a Redis server and returns its URL.

    Args:
        configured: URL from the environment; empty or ``None`` means unset.
        default_url: URL of the server probed when nothing is configured.

    Raises:
        ServiceUnavailableError: If the configured server does not answer, or
            ``redis-server`` cannot be started.
    """
    return _acquire(configured, REDIS_URL_ENV, default_url, redis_problem, start_redis)


def acquire_sqs(configured: str | None) -> Service:
    """Returns the configured SQS endpoint, else starts a private moto server.

    Args:
        configured: Endpoint URL from the environment; empty or ``None`` means unset.

    Raises:
        ServiceUnavailableError: If the configured endpoint does not answer, or
            moto's server cannot be started.
    """
    if configured:
        return _configured(configured, SQS_ENDPOINT_ENV, http_problem)
    return start_sqs()


def _acquire(
    configured: str | None,
    variable: str,
    default: str,
    problem_of: Callable[[str], str | None],
    start: Callable[[], Service],
) -> Service:
    """The configured server (which must answer), else the one on the default port, else ours."""
    if configured:
        return _configured(configured, variable, problem_of)
    if problem_of(default) is None:
        return Service(default, "local")
    return start()


def _configured(url: str, variable: str, problem_of: Callable[[str], str | None]) -> Service:
    """The server at `url`, configured by environment `variable`.

    Raises:
        ServiceUnavailableError: If it does not answer.
    """
    problem = problem_of(url)
    if problem is not None:
        raise ServiceUnavailableError(f"{variable}={redact(url)} does not answer: {problem}")
    return Service(url, "env")


def start_postgres() -> Service:
    """Starts a private embedded PostgreSQL in a temporary directory.

    Stopping the returned service stops the server and deletes its data.
    """
    root = Path(tempfile.mkdtemp(prefix="roomserver-test-pg-"))
    try:
        server = start_embedded_postgres(root / "data", database="postgres")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

    def shutdown() -> None:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return Service(server.dsn, "started", shutdown)


def start_redis(attempts: int = 3) -> Service:
    """Starts a private ``redis-server`` on a free port of 127.0.0.1.

    It keeps no data on disk. Stopping the returned service terminates it.

    Args:
        attempts: Ports to try, in case another process takes a chosen port
            before the server binds it.

    Raises:
        ServiceUnavailableError: If ``redis-server`` is missing or never answers.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServiceUnavailableError(
            f"no Redis configured ({REDIS_URL_ENV}), none on {DEFAULT_REDIS_URL}, "
            "and redis-server is not on PATH"
        )
    return _start_on_a_free_port(
        "redis-server", attempts, lambda port: _try_start_redis(executable, port)
    )


def start_redis_on(port: int) -> Service:
    """Starts a private ``redis-server`` (no persistence) on `port`, e.g. to restart one.

    Raises:
        ServiceUnavailableError: If ``redis-server`` is missing or never answers.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServiceUnavailableError("redis-server is not on PATH")
    service, problem = _try_start_redis(executable, port)
    if service is None:
        raise ServiceUnavailableError(f"redis-server on port {port}: {problem}")
    return service


def redis_server_command(
    executable: str, port: int, workdir: Path, log_path: Path, *options: str
) -> list[str]:
    """A private redis-server on 127.0.0.1:`port`, nothing persisted, with more `options`."""
    return [
        executable,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        *("--dir", str(workdir), "--logfile", str(log_path)),
        *options,
    ]


def _try_start_redis(executable: str, port: int) -> tuple[Service | None, str]:
    workdir = Path(tempfile.mkdtemp(prefix="roomserver-test-redis-"))
    log_path = workdir / "redis.log"
    url = f"redis://127.0.0.1:{port}/0"
    command = redis_server_command(executable, port, workdir, log_path, "--daemonize", "no")
    process = _spawn(executable, command, workdir, output=None)
    return _once_it_answers(
        process, workdir, log_path, url, redis_problem, REDIS_START_TIMEOUT, 0.05
    )


def start_sqs(attempts: int = 3) -> Service:
    """Starts moto's standalone server on a free port of 127.0.0.1, as an SQS endpoint.

    It keeps its queues in memory. Stopping the returned service terminates it.

    Args:
        attempts: Ports to try (see `start_redis`).

    Raises:
        ServiceUnavailableError: If the server never answers.
    """
    return _start_on_a_free_port("moto's server", attempts, _try_start_sqs)


def _try_start_sqs(port: int) -> tuple[Service | None, str]:
    workdir = Path(tempfile.mkdtemp(prefix="roomserver-test-sqs-"))
    log_path = workdir / "moto.log"
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = _spawn("moto's server", command, workdir, output=log_path)
    return _once_it_answers(process, workdir, log_path, url, http_problem, SQS_START_TIMEOUT, 0.1)


def _start_on_a_free_port(
    what: str, attempts: int, try_start: Callable[[int], tuple[Service | None, str]]
) -> Service:
    """The service `try_start` starts on a free port, trying `attempts` ports at most.

    `try_start` returns the service, or ``None`` and why it did not start.

    Raises:
        ServiceUnavailableError: If it starts on none of them.
    """
    failures: list[str] = []
    for _ in range(attempts):
        port = free_tcp_port()
        service, failure = try_start(port)
        if service is not None:
            return service
        failures.append(f"port {port}: {failure}")
    raise ServiceUnavailableError(f"{what} did not start:\n" + "\n---\n".join(failures))


def _spawn(
    what: str, command: list[str], workdir: Path, *, output: Path | None
) -> subprocess.Popen[bytes]:
    """Runs `command`, its output going to the file `output` (or nowhere).

    Raises:
        ServiceUnavailableError: If it cannot run; `workdir` is deleted then.
    """
    try:
        if output is None:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        with output.open("wb") as log_file:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServiceUnavailableError(f"cannot run {what}: {exc}") from exc


def _once_it_answers(
    process: subprocess.Popen[bytes],
    workdir: Path,
    log_path: Path,
    url: str,
    problem_of: Callable[[str, float], str | None],
    start_timeout: float,
    poll_interval: float,
) -> tuple[Service | None, str]:
    """The service of a private server starting at `url`, once `problem_of` finds none.

    Stopping the service terminates the process and deletes `workdir`. If the server exits, or
    does not answer within `start_timeout` seconds, it is stopped: ``None``, with its state and
    the log at `log_path`.
    """

    def shutdown() -> None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    deadline = time.monotonic() + start_timeout
    while process.poll() is None and time.monotonic() < deadline:
        if problem_of(url, 0.2) is None:
            return Service(url, "started", shutdown), ""
        time.sleep(poll_interval)
    exit_code = process.poll()
    try:
        log = log_path.read_text(errors="replace").strip()
    except OSError:
        log = ""
    shutdown()
    state = "did not answer in time" if exit_code is None else f"exited with {exit_code}"
    return None, f"{state}\n{log}"


def postgres_problem(dsn: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Returns why ``SELECT 1`` fails on ``dsn``, or ``None`` if it works.

    Runs on a private event loop in a worker thread, so it may be called from
    synchronous code while another event loop exists in this thread.
    """

    async def probe() -> None:
        connection = await asyncpg.connect(dsn, timeout=timeout)
        try:
            await connection.fetchval("SELECT 1", timeout=timeout)
        finally:
            await connection.close(timeout=timeout)

    try:
        _run_on_private_loop(probe)
    except _POSTGRES_PROBE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def redis_problem(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Returns why ``PING`` fails on ``url``, or ``None`` if it works."""
    try:
        with redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), retries=0),
        ) as client:
            client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def http_problem(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Returns why ``url`` gives no HTTP answer, or ``None`` if it gives any, errors included."""
    # No proxy: the endpoints probed are local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout):
            pass
    except urllib.error.HTTPError as exc:
        exc.close()
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def create_database(admin_dsn: str, name: str) -> None:
    """Creates an empty database ``name`` (from template0) on the server."""
    _check_database_name(name)
    connection = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await connection.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drops database ``name`` if it exists, disconnecting its sessions first."""
    _check_database_name(name)
    connection = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        if connection.get_server_version().major >= 13:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await connection.close()


def dsn_for_database(dsn: str, name: str) -> str:
    """Returns ``dsn`` pointing at database ``name`` instead (query kept)."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name)))


def free_tcp_port() -> int:
    """Returns a TCP port of 127.0.0.1 that nothing listens on right now.

    Chosen below the kernel's ephemeral range when it can be: a port from that range, free
    when probed, can be taken by any outgoing connection (a starting server's own PostgreSQL
    or Redis client) before the server that was given it binds it.
    """
    low = _ephemeral_port_range()[0]
    for _ in range(100):
        if low <= 10_100:
            break
        port = random.randrange(10_000, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        bound: int = sock.getsockname()[1]
        return bound


def _ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux; IANA's elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def redact(url: str) -> str:
    """Returns ``url`` with any password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"not a plain lower-case database name: {name!r}")


def _run_on_private_loop(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="service-probe") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
