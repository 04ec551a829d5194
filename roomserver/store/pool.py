"""The connection pool, and what every part of the store shares.

That is: the pool itself, a ledger function's answer, and the current trace id on the events a
statement writes.
"""

from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from roomserver.domain.refusal import Refusal, Refused
from roomserver.ops.trace_context import current_trace_id

Connection = asyncpg.Connection | PoolConnectionProxy

_NEVER_RECYCLE = 2**62  # queries per connection before asyncpg replaces it


async def create_pool(dsn: str, *, min_size: int, max_size: int, timeout_s: float) -> asyncpg.Pool:
    """An asyncpg pool for the ledger."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=timeout_s,
        reset=_keep_session,
        # asyncpg closes a connection after 50,000 queries by default, and with it the prepared
        # statements and the functions' cached plans: a new backend and cold caches every 25 s
        # at 2,000 spins/s. Nothing here leaks per query, so keep connections.
        max_queries=_NEVER_RECYCLE,
    )
    assert pool is not None
    return pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset query.

    That query (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) costs a
    round trip per acquire, as much as a spin's own statement. Nothing here leaves session
    state behind: locks are transaction-scoped, settings are `set_config(..., true)`, no
    LISTEN, no cursors; asyncpg still rolls back a transaction left open before calling this.
    """


@dataclass(frozen=True, slots=True)
class LedgerReply:
    """A ledger function's answer: `OK`, `REPLAY` or a refusal, and the stored response."""

    status: Refusal
    response_json: str | None

    def accepted(self) -> str:
        """The (stored) response of an accepted call.

        Raises:
            Refused: the function's refusal.
        """
        if not self.status.accepted:
            raise Refused(self.status)
        assert self.response_json is not None
        return self.response_json


class PoolStore:
    """The base of every part of the store: statements over one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        """Statements over `pool`."""
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool."""
        return self._pool

    async def ping(self) -> None:
        """One round trip to the database (readiness); raises when it does not answer."""
        await self._pool.fetchval("SELECT 1")

    async def _reply(self, query: str, *args: object) -> LedgerReply:
        """Run a ledger function that answers `(status, response)`."""
        row = await self._fetchrow(query, *args)
        assert row is not None
        return LedgerReply(Refusal(row[0]), row[1])

    async def _fetchrow(self, query: str, *args: object) -> Any:
        """One row; the events the statement writes carry the current request's trace id."""
        trace_id = current_trace_id.get()
        if trace_id is None:
            return await self._pool.fetchrow(query, *args)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT set_config('roomserver.trace_id', $1, true)", trace_id)
            return await connection.fetchrow(query, *args)
