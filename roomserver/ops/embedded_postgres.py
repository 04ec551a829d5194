"""Embedded PostgreSQL for nodes configured without a database DSN.

The server binaries come from the ``pgserver`` package. Data lives in a directory
that survives restarts; the server listens only on a unix socket inside it.
Running as root is supported: ``pgserver`` creates a ``pgserver`` system user
that owns the data directory and runs the server.

The server's own log is ``log`` inside the data directory; what ``pgserver``
reports while setting it up (initdb's output above all) goes to a file beside
it, ``<data dir>.log``, never to the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psutil  # type: ignore[import-untyped, unused-ignore]

with warnings.catch_warnings():
    # pgserver resolves its runtime directory while being imported; without
    # XDG_RUNTIME_DIR platformdirs warns and falls back to /tmp/runtime-<uid>,
    # which suits us. Only that warning is silenced.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.postgres_server import PostgresServer

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "setup_log_path",
    "start_embedded_postgres",
]

_logger = logging.getLogger(__name__)

# pgserver logs every command it runs, with its full output, at INFO. That is kept out of the
# application's log: it goes to the setup log while a server starts (see _setup_output_to), and
# is dropped otherwise (the NullHandler keeps logging's last-resort handler from printing it).
_pgserver_logger = logging.getLogger("pgserver")
_pgserver_logger.propagate = False
_pgserver_logger.addHandler(logging.NullHandler())

_DATABASE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SUPERUSER: Final = "postgres"
_PSQL_TIMEOUT: Final = 30.0
_STOP_WAIT_SECONDS: Final = 60

# Start and stop within this process are serialised; across processes pgserver's
# file lock guards its list of processes using a data directory.
_state_lock = threading.Lock()
# Handles open in this process, per resolved data directory.
_open_handles: dict[Path, int] = {}


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started or stopped."""


class EmbeddedPostgres:
    """A running embedded PostgreSQL server.

    Attributes:
        dsn: asyncpg-compatible DSN of the application database, connecting
            through the server's unix socket as the ``postgres`` superuser.
        data_dir: Absolute path of the data directory.
    """

    def __init__(self, server: PostgresServer, data_dir: Path, dsn: str) -> None:
        """A running `server` over `data_dir`, reached at `dsn`."""
        self._server = server
        self.data_dir = data_dir
        self.dsn = dsn
        self._stopped = False

    def __repr__(self) -> str:
        """The data directory and whether it is running (never the DSN)."""
        state = "stopped" if self._stopped else "running"
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, {state})"

    def stop(self) -> None:
        """Stops the server unless another handle still uses it.

        Another handle is one still open in this process, or a live process
        that started the server on the same data directory. Blocks until the
        server has shut down (fast mode: open sessions are disconnected).
        Calling it again is a no-op.

        Raises:
            EmbeddedPostgresError: If the server is still running after pg_ctl.
        """
        with _state_lock:
            if self._stopped:
                return
            self._stopped = True
            _release(self._server, self.data_dir)


def start_embedded_postgres(data_dir: Path, database: str = "roomserver") -> EmbeddedPostgres:
    """Starts (or attaches to) the embedded server and ensures the database exists.

    Initialises the data directory on first use; afterwards the existing data is
    reused. If a server already runs on the directory it is reused as is. This
    call blocks for up to several seconds; run it in a worker thread from
    asynchronous code.

    Args:
        data_dir: Data directory; created with its parents if missing. Relative
            paths are resolved against the current working directory.
        database: Database to create if missing; its DSN becomes ``dsn``.

    Returns:
        The running server. Call ``stop()`` on it when done.

    Raises:
        ValueError: If ``database`` is not a plain identifier.
        EmbeddedPostgresError: If the server cannot be started or the database
            cannot be created.
    """
    if not _DATABASE_NAME.fullmatch(database):
        raise ValueError(f"database name must be a plain identifier, got {database!r}")
    data_dir = data_dir.expanduser().resolve()
    started_at = time.monotonic()
    with _state_lock:
        server = _start_server(data_dir)
        _open_handles[data_dir] = _open_handles.get(data_dir, 0) + 1
        try:
            info = server.get_postmaster_info()
            if info.socket_dir is None:
                raise EmbeddedPostgresError(
                    f"embedded PostgreSQL in {data_dir} does not listen on a unix socket"
                )
            _ensure_database(info.socket_dir, info.port, database)
        except BaseException:
            _release(server, data_dir)
            raise
    _logger.info(
        "embedded PostgreSQL ready in %.1f s (data %s, pid %s; logs in %s and %s)",
        time.monotonic() - started_at,
        data_dir,
        info.pid,
        setup_log_path(data_dir),
        data_dir / "log",
    )
    return EmbeddedPostgres(server, data_dir, _socket_dsn(info.socket_dir, info.port, database))


def setup_log_path(data_dir: Path) -> Path:
    """The file beside `data_dir` that receives initdb's and pg_ctl's output (`var/pg.log`)."""
    return data_dir.with_name(f"{data_dir.name}.log")


def _start_server(data_dir: Path) -> PostgresServer:
    with _capture_command_errors() as command_errors:
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _discard_stale_lock_files(data_dir)
            with _setup_output_to(setup_log_path(data_dir)):
                # cleanup_mode=None: pgserver never stops the server by itself. With
                # 'stop' it would do so from an atexit hook, outside our shutdown
                # sequence, and skip it whenever a pid from a crashed earlier run is
                # still in its handle list, leaving an orphan behind. stop() stops
                # the server instead; an orphan left by a crash is reused by the
                # next start. 'delete' would drop the data.
                return PostgresServer(data_dir, cleanup_mode=None)
        except Exception as exc:
            details = "".join(f"\n{error}" for error in command_errors)
            raise EmbeddedPostgresError(
                f"could not start embedded PostgreSQL in {data_dir}: {exc}{details}"
                f"{_log_tail(data_dir / 'log')}"
            ) from exc


def _release(server: PostgresServer, data_dir: Path) -> None:
    """Drops one handle; stops the server when no handle anywhere is left.

    Must be called with ``_state_lock`` held.
    """
    remaining = _open_handles.get(data_dir, 1) - 1
    if remaining > 0:
        _open_handles[data_dir] = remaining
        return
    _open_handles.pop(data_dir, None)
    handles = server.global_process_id_list
    # Private in pgserver, but it is the lock pgserver holds while it updates
    # this list, which other processes on the same data directory share.
    with PostgresServer._lock:
        listed = handles.get_and_remove(os.getpid())
        others = [pid for pid in listed if pid != os.getpid() and psutil.pid_exists(pid)]
        # Processes that died without stopping are forgotten so they never keep
        # the server alive.
        handles.put(others)
    if others:
        _logger.info("embedded PostgreSQL in %s left running for processes %s", data_dir, others)
        return
    _stop_server(data_dir, server.system_user)


def _discard_stale_lock_files(data_dir: Path) -> None:
    """Removes lock files whose pid is not a running postgres process.

    After a crash, or a container restart with the data on a volume, the pid in
    postmaster.pid or in the socket lock file may belong to an unrelated
    process. pgserver would then take the server for running, and postgres
    would refuse to start.
    """
    for lock_file in [data_dir / "postmaster.pid", *data_dir.glob(".s.PGSQL.*.lock")]:
        try:
            pid = int(lock_file.read_text().split("\n", 1)[0])
        except FileNotFoundError:
            continue
        except (ValueError, OSError):
            pid = 0
        try:
            if pid > 0 and psutil.Process(pid).name() == "postgres":
                continue
        except psutil.AccessDenied:
            continue  # cannot tell; leave the decision to postgres
        except psutil.NoSuchProcess:
            pass
        _logger.warning("removing stale %s (pid %s is not a running postgres)", lock_file, pid)
        lock_file.unlink(missing_ok=True)


def _stop_server(data_dir: Path, system_user: str | None) -> None:
    command = [
        str(POSTGRES_BIN_PATH / "pg_ctl"),
        "--pgdata",
        str(data_dir),
        "--mode",
        "fast",
        "--wait",
        "--timeout",
        str(_STOP_WAIT_SECONDS),
        "stop",
    ]
    try:
        result = subprocess.run(
            command,
            user=system_user,
            capture_output=True,
            text=True,
            timeout=_STOP_WAIT_SECONDS + 30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedPostgresError(f"could not stop PostgreSQL in {data_dir}: {exc}") from exc
    if result.returncode != 0 and _server_running(data_dir):
        raise EmbeddedPostgresError(
            f"could not stop PostgreSQL in {data_dir}: {result.stderr.strip()}"
        )
    _logger.info("embedded PostgreSQL in %s stopped", data_dir)


def _server_running(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (ValueError, OSError):
        return False
    return bool(psutil.pid_exists(pid))


def _ensure_database(socket_dir: Path, port: int | None, database: str) -> None:
    exists_query = f"SELECT 1 FROM pg_database WHERE datname = '{database}'"
    if _psql(socket_dir, port, exists_query) == "1":
        return
    try:
        _psql(socket_dir, port, f'CREATE DATABASE "{database}"')
    except EmbeddedPostgresError:
        # Another process may have created it in the meantime.
        if _psql(socket_dir, port, exists_query) != "1":
            raise
    _logger.info("created database %s", database)


def _psql(socket_dir: Path, port: int | None, sql: str) -> str:
    command = [
        str(POSTGRES_BIN_PATH / "psql"),
        "--no-psqlrc",
        "--no-align",
        "--tuples-only",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        f"--host={socket_dir}",
        f"--username={_SUPERUSER}",
        "--dbname=postgres",
        f"--command={sql}",
    ]
    if port is not None:
        command.append(f"--port={port}")
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_PSQL_TIMEOUT,
            check=False,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedPostgresError(f"psql failed on {sql!r}: {exc}") from exc
    if result.returncode != 0:
        raise EmbeddedPostgresError(f"psql failed on {sql!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def _socket_dsn(socket_dir: Path, port: int | None, database: str) -> str:
    query = {"host": str(socket_dir)}
    if port is not None:
        query["port"] = str(port)
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="/")
    return f"postgresql://{_SUPERUSER}@/{database}?{encoded}"


class _CommandErrors(logging.Handler):
    """Keeps the stderr of commands that pgserver reports as failed."""

    _STDERR = re.compile(r"^stderr:\n(.*?)\n---$", re.MULTILINE | re.DOTALL)

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self._STDERR.search(record.getMessage())
        if match and match.group(1).strip():
            self.errors.append(match.group(1).strip())


@contextlib.contextmanager
def _setup_output_to(path: Path) -> Iterator[None]:
    """Appends what pgserver logs, INFO and up, to `path` for the duration of the block."""
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = _pgserver_logger.level
    _pgserver_logger.setLevel(logging.INFO)
    _pgserver_logger.addHandler(handler)
    try:
        yield
    finally:
        _pgserver_logger.removeHandler(handler)
        _pgserver_logger.setLevel(level)
        handler.close()


@contextlib.contextmanager
def _capture_command_errors() -> Iterator[list[str]]:
    # pgserver logs a failed command's output instead of attaching it to the
    # exception; collect it for our error message.
    handler = _CommandErrors()
    pgserver_logger = logging.getLogger("pgserver")
    pgserver_logger.addHandler(handler)
    try:
        yield handler.errors
    finally:
        pgserver_logger.removeHandler(handler)


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    if not tail:
        return ""
    return f"\nlast lines of {log}:\n" + "\n".join(tail)
