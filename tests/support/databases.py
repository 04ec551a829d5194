"""Scratch databases for schema tests: empty ones, and ones as an earlier release left them."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from roomserver.store.migrate import available_migrations
from tests.support.node import unique
from tests.support.services import create_database, drop_database, dsn_for_database


@contextlib.asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to `dsn`, closed afterwards."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def scratch_database(
    admin_dsn: str, prefix: str, *, release: int | None = None
) -> AsyncIterator[str]:
    """A fresh database on the server of `admin_dsn`, dropped afterwards; yields its DSN.

    Its name starts with `prefix`. With `release`, it is built as the release whose last
    migration was that version left it (see `build_as_release`); without, it stays empty.
    """
    name = f"{prefix}_{unique('db').replace('-', '_')}"
    await create_database(admin_dsn, name)
    try:
        dsn = dsn_for_database(admin_dsn, name)
        if release is not None:
            async with connected(dsn) as connection:
                await build_as_release(connection, release)
        yield dsn
    finally:
        await drop_database(admin_dsn, name)


async def build_as_release(connection: asyncpg.Connection, version: int) -> None:
    """Run the versioned schema files up to `version` only, as a node of that release did.

    Each is recorded in the schema_migrations table as apply_migrations keeps it, so that
    migrating the database afterwards applies the rest.
    """
    await connection.execute(
        """CREATE TABLE schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    for migration in available_migrations():
        if migration.version <= version:
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
