"""Schema migrations: numbered SQL files applied in order at start, recorded in a table.

Safe to run twice and from two nodes at once: the whole run holds a transaction-scoped advisory
lock, so a second node waits, then finds everything applied.
"""

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

_LOCK_ID: Final = 0x726F6F6D  # "room": the advisory lock every node takes to migrate
_FILE_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migration files shipped with the package, in order."""
    found = []
    for entry in resources.files("roomserver").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


async def apply_migrations(connection: "asyncpg.Connection | PoolConnectionProxy") -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now."""
    applied_now = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")
        }
        for migration in available_migrations():
            if migration.version in done:
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied_now.append(migration.version)
    return applied_now
