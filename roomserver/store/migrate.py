"""The database's schema and functions, brought up to date at start.

Two kinds of SQL files ship with the package, under `store/sql/`:

- `schema/NNNN_name.sql`: versioned DDL (tables, constraints, triggers), applied once each, in
  order, and recorded in `schema_migrations`. Append-only: a file that ran on someone's
  database is never edited. The first four also created the functions of their time; those are
  history, and every live definition is in `functions/`.
- `functions/<name>.sql`: one PL/pgSQL or SQL function per file, `CREATE OR REPLACE`, applied
  after the schema whenever its checksum differs from the one recorded in `schema_functions`.
  Changing a function is editing its one file. A change of a function's arguments also needs a
  schema file that drops the old signature (CREATE OR REPLACE would add an overload).

Safe to run twice and from two nodes at once: the whole run is one transaction holding an
advisory lock, so a second node waits, then finds everything applied.
"""

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

_LOCK_ID: Final = 0x726F6F6D  # "room": the advisory lock every node takes to migrate
_SCHEMA_FILE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FUNCTION_FILE: Final = re.compile(r"^([a-z0-9_]+)\.sql$")

Connection = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned schema file."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    """The one file defining a database function."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """Hex SHA-256 of the file: a changed file is applied again."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationRun:
    """What one run applied: schema versions, and functions (re)defined."""

    versions: list[int]
    functions: list[str]


def _sql_dir(kind: str) -> Traversable:
    return resources.files("roomserver.store").joinpath("sql", kind)


def available_migrations() -> list[Migration]:
    """The versioned schema files shipped with the package, in order."""
    found = []
    for entry in _sql_dir("schema").iterdir():
        match = _SCHEMA_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


def available_functions() -> list[FunctionDefinition]:
    """The function files shipped with the package, by name."""
    found = []
    for entry in _sql_dir("functions").iterdir():
        match = _FUNCTION_FILE.match(entry.name)
        if match:
            found.append(FunctionDefinition(match[1], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda f: f.name)


async def migrate(connection: Connection) -> MigrationRun:
    """Apply every schema file not yet recorded, then every function file whose checksum changed.

    All in one transaction, under the advisory lock.
    """
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        versions = await _apply_schema(connection)
        functions = await _apply_functions(connection)
    return MigrationRun(versions, functions)


async def apply_migrations(connection: Connection) -> list[int]:
    """`migrate`, returning the schema versions applied now."""
    return (await migrate(connection)).versions


async def _apply_schema(connection: Connection) -> list[int]:
    await connection.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    done = {r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")}
    applied = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        await connection.execute(migration.sql)
        await connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )
        applied.append(migration.version)
    return applied


async def _apply_functions(connection: Connection) -> list[str]:
    await connection.execute(
        """CREATE TABLE IF NOT EXISTS schema_functions (
               name text PRIMARY KEY,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    recorded = {
        r["name"]: r["checksum"]
        for r in await connection.fetch("SELECT name, checksum FROM schema_functions")
    }
    applied = []
    for function in available_functions():
        if recorded.get(function.name) == function.checksum:
            continue
        await connection.execute(function.sql)
        await connection.execute(
            """INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()""",
            function.name,
            function.checksum,
        )
        applied.append(function.name)
    return applied
