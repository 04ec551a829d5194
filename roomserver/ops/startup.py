"""What can stop a node from starting, told in one line.

A listener that cannot bind, a database that cannot be reached.

Every such failure becomes a `StartupError` whose message names the address and the config key
to change; the command line prints it without a traceback and exits non-zero.
"""

import asyncio
import errno
import logging
import os
import time
import urllib.parse
from typing import Final

import asyncpg

log = logging.getLogger(__name__)

# Backoff between attempts to reach the database at startup.
_RETRY_FIRST_DELAY_S: Final = 0.25
_RETRY_MAX_DELAY_S: Final = 5.0
# Even a nearly spent retry budget gives one attempt this long, so a slow handshake can finish.
_MIN_ATTEMPT_S: Final = 1.0
_DEFAULT_PORT: Final = "5432"

# Worth another attempt: the server is not listening yet, its name does not resolve yet, it
# answers slowly, or it is still starting up.
_TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


class StartupError(Exception):
    """The node cannot start; the message is one line naming the address and the config key."""


def listen_error(
    exc: OSError, section: str, host: str, port: int, *, port_key: str = "port"
) -> StartupError:
    """A `StartupError` for a listener of config section `section` that failed to bind.

    `port_key` names the section's key holding the port (`demo.game_port`, say).
    """
    key = f"{section}.{port_key}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError(
            f"port {port} is already in use (config key {key}; "
            f"{section}.host is {host!r}): stop the other process or choose another port"
        )
    if exc.errno == errno.EACCES:
        return StartupError(
            f"no permission to listen on port {port} (config key {key}): "
            "ports below 1024 need privileges"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            f"cannot listen on {host}:{port}: {host!r} is not an address of this host "
            f"(config key {section}.host)"
        )
    return StartupError(
        f"cannot listen on {host}:{port} (config keys {section}.host, {key}): {_reason(exc)}"
    )


def database_address(dsn: str) -> str:
    """`host:port` of a PostgreSQL DSN, without user or password (several hosts comma-joined).

    Host and port missing from the DSN come from PGHOST and PGPORT, as the driver takes them.
    """
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qs(parts.query)
    netloc = parts.netloc.rpartition("@")[2]
    default_port = query.get("port", [os.environ.get("PGPORT", _DEFAULT_PORT)])[0]
    hosts = netloc or query.get("host", [os.environ.get("PGHOST", "localhost")])[0]
    addresses = []
    for host in hosts.split(","):
        if host.startswith("/"):
            addresses.append(f"unix socket in {host} (port {default_port})")
        elif host.endswith("]") or ":" not in host:
            addresses.append(f"{host}:{default_port}")
        else:
            addresses.append(host)
    return ", ".join(addresses)


async def wait_for_database(dsn: str, *, connect_timeout_s: float, retry_s: float) -> None:
    """Return once PostgreSQL at `dsn` accepts a connection, retrying transient failures.

    Args:
        dsn: The database DSN (`postgres.dsn`).
        connect_timeout_s: Bound of one attempt (`postgres.connect_timeout_s`).
        retry_s: How long to keep retrying (`postgres.startup_retry_s`); 0: one attempt.

    Raises:
        StartupError: the database stayed unreachable, or refused the connection for good
            (a wrong password, a missing database); the message holds no password.
    """
    address = database_address(dsn)
    password = urllib.parse.urlsplit(dsn).password or ""
    deadline = time.monotonic() + retry_s
    delay = _RETRY_FIRST_DELAY_S
    attempts = 0
    while True:
        attempts += 1
        timeout = min(connect_timeout_s, max(deadline - time.monotonic(), _MIN_ATTEMPT_S))
        try:
            connection = await asyncpg.connect(dsn, timeout=timeout)
        except _TRANSIENT as exc:
            reason = _scrub(_reason(exc), password)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tried = f"{attempts} attempt" + ("" if attempts == 1 else "s")
                raise StartupError(
                    f"cannot reach PostgreSQL at {address}: {reason} ({tried} in "
                    f"{retry_s:g} s; config keys postgres.dsn, postgres.startup_retry_s)"
                ) from None
            wait = min(delay, remaining)
            log.warning(
                "PostgreSQL at %s is not reachable (%s); retrying in %.1f s, for up to %.0f s more",
                address,
                reason,
                wait,
                remaining,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, _RETRY_MAX_DELAY_S)
        except ValueError as exc:
            raise StartupError(
                f"config key postgres.dsn: not a valid PostgreSQL DSN "
                f"(postgresql://user:password@host:port/database): {_scrub(_reason(exc), password)}"
            ) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise database_error(exc, dsn) from None
        else:
            await connection.close(timeout=connect_timeout_s)
            return


def database_error(exc: BaseException, dsn: str) -> StartupError:
    """A `StartupError` for a database failure while starting; the message holds no password."""
    reason = _scrub(_reason(exc), urllib.parse.urlsplit(dsn).password or "")
    return StartupError(
        f"PostgreSQL at {database_address(dsn)} refused the connection: {reason} "
        "(config key postgres.dsn)"
    )


def redis_error(exc: BaseException, url: str) -> StartupError:
    """A `StartupError` for a Redis that cannot be reached at start; no password shown."""
    parts = urllib.parse.urlsplit(url)
    reason = _scrub(_reason(exc), parts.password or "")
    address = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    return StartupError(f"Redis at {address} cannot be reached: {reason} (config key redis.url)")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time (timed out)"
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text
