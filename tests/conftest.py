"""Session fixtures backed by real PostgreSQL, Redis and SQS servers.

See ``tests/support/services.py`` for how each server is found or started.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import pytest
import uvloop

from roomserver.events.sinks import region_of, sqs_client
from tests.support.redis_cluster import redis_cluster
from tests.support.services import (
    POSTGRES_DSN_ENV,
    REDIS_URL_ENV,
    SQS_ENDPOINT_ENV,
    ServiceUnavailableError,
    acquire_postgres,
    acquire_redis,
    acquire_sqs,
    create_database,
    drop_database,
    dsn_for_database,
)

# A node of an existing Redis Cluster to test against; else the tests start one.
REDIS_CLUSTER_URL_ENV = "ROOMSERVER_TEST_REDIS_CLUSTER_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Runs asyncio tests and fixtures on uvloop, as the server does.

    pytest-asyncio creates its loops through the current event loop policy.
    Its ``pytest_asyncio_loop_factories`` hook is not used: it parametrizes only
    async tests, so a sync test using an async fixture (directly or through an
    autouse one) makes pytest-asyncio rebuild the session loop and tear down
    the session's async fixtures. Overriding ``event_loop_policy`` is deprecated.
    """
    with warnings.catch_warnings():
        # The policy API is deprecated from Python 3.14; pytest-asyncio 1.5
        # still uses it, and silences the same warning around its own calls.
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


CHECKOUT: Final = Path(__file__).resolve().parents[1]
# What a node started from the checkout writes by default: the events file, the embedded
# PostgreSQL's data and logs.
CHECKOUT_VAR: Final = CHECKOUT / "var"

FileState = tuple[int, int]  # size, mtime in ns


def files_under(root: Path, skip: frozenset[Path] = frozenset()) -> dict[Path, FileState]:
    """Every file below `root` with its size and mtime; directories in `skip` are not entered."""
    files: dict[Path, FileState] = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if Path(directory, d) not in skip]
        for name in names:
            path = Path(directory, name)
            try:
                stat = path.stat()
            except OSError:  # removed while walking
                continue
            files[path] = (stat.st_size, stat.st_mtime_ns)
    return files


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests run in a temporary directory and must leave the checkout's var/ as they found it.

    The working directory is a fresh temporary one, so defaults relative to it (the events
    file, the embedded data directory, ./config.toml) never reach the checkout. A test that
    still writes under var/ (a subprocess started in the checkout, say) fails the session
    here. A PostgreSQL data directory already in var/ (a sandbox node's) is not compared: its
    server writes to it while it runs.
    """
    skip = frozenset(path.parent for path in CHECKOUT_VAR.glob("**/PG_VERSION"))
    before = files_under(CHECKOUT_VAR, skip)
    previous = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(previous)
    after = files_under(CHECKOUT_VAR, skip)
    changed = sorted(
        str(path.relative_to(CHECKOUT))
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path)
    )
    if changed:
        pytest.fail(
            "tests wrote into the checkout (every test must write under a temporary "
            f"directory): {', '.join(changed)}"
        )


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """Superuser DSN of the PostgreSQL server used by this test session."""
    service = acquire_postgres(os.environ.get(POSTGRES_DSN_ENV))
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="session")
async def database_dsn(postgres_admin_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty database, dropped at the end of the session."""
    name = f"rs_test_{secrets.token_hex(6)}"
    await create_database(postgres_admin_dsn, name)
    try:
        yield dsn_for_database(postgres_admin_dsn, name)
    finally:
        await drop_database(postgres_admin_dsn, name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the Redis server used by this test session."""
    service = acquire_redis(os.environ.get(REDIS_URL_ENV))
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """URL of a node of a Redis Cluster of three shards (started for the session)."""
    configured = os.environ.get(REDIS_CLUSTER_URL_ENV)
    if configured:
        yield configured
        return
    try:
        with redis_cluster() as url:
            yield url
    except ServiceUnavailableError as exc:
        pytest.skip(f"no Redis Cluster: {exc}")


@pytest.fixture(scope="session")
def sqs_endpoint_url() -> Iterator[str]:
    """URL of the SQS endpoint used by this test session."""
    service = acquire_sqs(os.environ.get(SQS_ENDPOINT_ENV))
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture
async def sqs_queue_url(sqs_endpoint_url: str) -> AsyncIterator[str]:
    """URL of a fresh, empty FIFO queue (deduplication by id only), deleted afterwards."""
    async with sqs_client(region_of(sqs_endpoint_url), sqs_endpoint_url) as client:
        created = await client.create_queue(
            QueueName=f"rs-test-{secrets.token_hex(6)}.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
        )
        queue_url = created["QueueUrl"]
        try:
            yield queue_url
        finally:
            await client.delete_queue(QueueUrl=queue_url)
