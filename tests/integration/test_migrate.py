"""Schema files run once; function files are the live definitions, re-applied by checksum.

A database built by the releases whose versioned files still defined the functions upgrades to
the one-file-per-function layout and ends with every function at its file's definition.
"""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Final

import asyncpg
import pytest

from roomserver.store.migrate import (
    FunctionDefinition,
    available_functions,
    available_migrations,
    migrate,
)
from tests.support.databases import connected, scratch_database
from tests.support.services import dsn_for_database

# The last release whose versioned files defined the functions themselves.
FUNCTIONS_IN_SCHEMA_UNTIL: Final = 4
_BODY: Final = re.compile(r"\$\$(.*)\$\$", re.S)


@contextlib.asynccontextmanager
async def database(admin_dsn: str, *, old: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh database, empty or (`old`) as a node of the old layout left it.

    The old layout: versioned files only, functions inside them.
    """
    release = FUNCTIONS_IN_SCHEMA_UNTIL if old else None
    async with (
        scratch_database(admin_dsn, "rs_migrate", release=release) as dsn,
        connected(dsn) as connection,
    ):
        yield connection


async def live_bodies(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """Every function of the public schema: its source, per overload."""
    rows = await connection.fetch(
        """SELECT p.proname, p.prosrc FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public'"""
    )
    bodies: dict[str, list[str]] = {}
    for row in rows:
        bodies.setdefault(row["proname"], []).append(row["prosrc"])
    return bodies


def file_body(function: FunctionDefinition) -> str:
    match = _BODY.search(function.sql)
    assert match is not None, f"{function.name}.sql has no $$ body"
    return match.group(1)


def test_each_function_file_defines_exactly_its_function() -> None:
    functions = available_functions()
    assert functions, "no function files are shipped"
    for function in functions:
        names = re.findall(
            r"create\s+or\s+replace\s+function\s+(\w+)\s*\(", function.sql, flags=re.I
        )
        assert names == [function.name], function.name


def test_no_schema_file_after_the_old_layout_defines_a_function() -> None:
    for migration in available_migrations():
        if migration.version > FUNCTIONS_IN_SCHEMA_UNTIL:
            assert not re.search(r"create\s+(or\s+replace\s+)?function", migration.sql, re.I), (
                f"{migration.version}_{migration.name}.sql defines a function: "
                "functions live in sql/functions/"
            )


async def test_an_old_database_upgrades_to_every_functions_file_definition(
    postgres_admin_dsn: str,
) -> None:
    async with database(postgres_admin_dsn, old=True) as connection:
        before = await live_bodies(connection)
        run = await migrate(connection)
        after = await live_bodies(connection)
        recorded = {
            r["name"]: r["checksum"]
            for r in await connection.fetch("SELECT name, checksum FROM schema_functions")
        }
    functions = available_functions()
    assert run.versions == [
        m.version for m in available_migrations() if m.version > FUNCTIONS_IN_SCHEMA_UNTIL
    ]
    assert sorted(run.functions) == [f.name for f in functions]
    changed = [f.name for f in functions if before.get(f.name) != [file_body(f)]]
    assert "place_spin" in changed, "the upgrade must change what the old files defined"
    for function in functions:
        assert after[function.name] == [file_body(function)], function.name
        assert recorded[function.name] == function.checksum


async def test_a_fresh_database_and_an_upgraded_one_define_the_same_functions(
    postgres_admin_dsn: str,
) -> None:
    async with database(postgres_admin_dsn) as fresh:
        await migrate(fresh)
        fresh_bodies = await live_bodies(fresh)
    async with database(postgres_admin_dsn, old=True) as old:
        await migrate(old)
        upgraded_bodies = await live_bodies(old)
    assert fresh_bodies == upgraded_bodies


async def test_a_changed_function_file_is_applied_again_and_only_it(
    postgres_admin_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with database(postgres_admin_dsn) as connection:
        first = await migrate(connection)
        unchanged = await migrate(connection)
        edited = [
            FunctionDefinition(f.name, f.sql.replace("$$", "$$ ", 1))
            if f.name == "tournament_score"
            else f
            for f in available_functions()
        ]
        monkeypatch.setattr("roomserver.store.migrate.available_functions", lambda: edited)
        again = await migrate(connection)
        recorded = await connection.fetchval(
            "SELECT checksum FROM schema_functions WHERE name = 'tournament_score'"
        )
        body = await connection.fetchval(
            "SELECT prosrc FROM pg_proc WHERE proname = 'tournament_score'"
        )
    assert first.functions and unchanged.functions == [] and unchanged.versions == []
    assert again.functions == ["tournament_score"]
    tournament_score = next(f for f in edited if f.name == "tournament_score")
    assert recorded == tournament_score.checksum
    assert body == file_body(tournament_score)


async def test_two_nodes_migrating_at_once_define_each_function_once(
    postgres_admin_dsn: str,
) -> None:
    async with database(postgres_admin_dsn) as connection:
        dsn = dsn_for_database(
            postgres_admin_dsn, await connection.fetchval("SELECT current_database()")
        )
        others = [await asyncpg.connect(dsn) for _ in range(2)]
        try:
            runs = await asyncio.gather(*(migrate(c) for c in [connection, *others]))
        finally:
            for other in others:
                await other.close()
    defined = sorted(name for run in runs for name in run.functions)
    assert defined == [f.name for f in available_functions()]
