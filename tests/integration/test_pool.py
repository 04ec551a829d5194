"""The ledger's connection pool keeps its connections (and their prepared statements)."""

import pytest

from roomserver.store.pool import create_pool

# asyncpg's default: a connection is closed and replaced after this many queries.
ASYNCPG_DEFAULT_MAX_QUERIES = 50_000


@pytest.mark.timeout(120)
async def test_a_busy_connection_is_not_replaced(database_dsn: str) -> None:
    pool = await create_pool(database_dsn, min_size=1, max_size=1, timeout_s=30)
    try:
        first = await pool.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as connection:
            statement = await connection.prepare("SELECT 1")
            for _ in range(ASYNCPG_DEFAULT_MAX_QUERIES):
                await statement.fetchval()
        # The pool counts one query per acquire: go past the default that way too.
        for _ in range(2):
            await pool.fetchval("SELECT 1")
        assert await pool.fetchval("SELECT pg_backend_pid()") == first
    finally:
        await pool.close()
