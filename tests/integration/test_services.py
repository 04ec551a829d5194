"""The service fixtures and the embedded PostgreSQL run real servers."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil  # type: ignore[import-untyped, unused-ignore]
import pytest
import redis.asyncio
import uvloop

from roomserver.ops.embedded_postgres import EmbeddedPostgresError, start_embedded_postgres
from tests.support.services import (
    acquire_postgres,
    acquire_redis,
    free_tcp_port,
    postgres_problem,
    redis_problem,
)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A temporary directory outside pytest's, whose permissions pgserver may widen."""
    path = Path(tempfile.mkdtemp(prefix="roomserver-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_processes(data_dir: Path) -> list[int]:
    return [
        process.pid
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "postgres" and str(data_dir) in (process.info["cmdline"] or [])
    ]


async def test_database_dsn_is_a_database_of_its_own(
    database_dsn: str, postgres_admin_dsn: str
) -> None:
    connection = await asyncpg.connect(database_dsn)
    try:
        name = await connection.fetchval("SELECT current_database()")
    finally:
        await connection.close()
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        admin_name = await admin.fetchval("SELECT current_database()")
    finally:
        await admin.close()
    # A session database is created for this run: never the server's own database.
    assert name.startswith("rs_test_")
    assert name != admin_name


async def test_redis_url_answers_ping(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server binary to start")
async def test_redis_is_started_when_none_is_found() -> None:
    nowhere = f"redis://127.0.0.1:{free_tcp_port()}/0"

    service = await asyncio.to_thread(acquire_redis, "", nowhere)
    try:
        assert service.origin == "started"
        assert service.url != nowhere
        assert await asyncio.to_thread(redis_problem, service.url) is None
    finally:
        await asyncio.to_thread(service.stop)
    assert await asyncio.to_thread(redis_problem, service.url) is not None


@pytest.mark.slow
async def test_postgres_is_started_when_none_is_found() -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_tcp_port()}/postgres"

    service = await asyncio.to_thread(acquire_postgres, None, nowhere)
    try:
        assert service.origin == "started"
        assert await asyncio.to_thread(postgres_problem, service.url) is None
    finally:
        await asyncio.to_thread(service.stop)
    assert await asyncio.to_thread(postgres_problem, service.url) is not None


@pytest.mark.slow
async def test_embedded_postgres_keeps_data_across_restarts(scratch_dir: Path) -> None:
    data_dir = scratch_dir / "pg"

    first = await asyncio.to_thread(start_embedded_postgres, data_dir)
    try:
        connection = await asyncpg.connect(first.dsn)
        try:
            assert await connection.fetchval("SELECT 1") == 1
            assert await connection.fetchval("SELECT current_database()") == "roomserver"
            await connection.execute("CREATE TABLE survivor (note text)")
            await connection.execute("INSERT INTO survivor VALUES ('kept')")
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(first.stop)
    assert _postgres_processes(first.data_dir) == []
    await asyncio.to_thread(first.stop)  # a second stop is a no-op

    second = await asyncio.to_thread(start_embedded_postgres, data_dir)
    try:
        connection = await asyncpg.connect(second.dsn)
        try:
            assert await connection.fetchval("SELECT note FROM survivor") == "kept"
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(second.stop)
    assert _postgres_processes(second.data_dir) == []


def test_embedded_postgres_reports_why_it_cannot_start(scratch_dir: Path) -> None:
    data_dir = scratch_dir / "pg"
    data_dir.mkdir()
    (data_dir / "unrelated.txt").write_text("not a PostgreSQL data directory")

    with pytest.raises(EmbeddedPostgresError, match="exists but is not empty"):
        start_embedded_postgres(data_dir)


async def test_tests_run_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
