"""Integration fixtures: a migrated database and in-process nodes on 127.0.0.1:0.

After every integration test the books are audited: every transaction sums to zero, every
running balance equals its entries, and no player balance is negative.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest

from roomserver.config import (
    ApiConfig,
    Config,
    EventsConfig,
    LifecycleConfig,
    PostgresConfig,
    ServerConfig,
)
from roomserver.node import Node, running_node
from roomserver.store.ledger import Ledger
from roomserver.store.migrate import apply_migrations
from roomserver.store.pool import create_pool
from tests.support.node import TEST_AUTH


@pytest.fixture(scope="session")
async def ledger(database_dsn: str) -> AsyncIterator[Ledger]:
    """A ledger on the session's fresh, migrated database."""
    pool = await create_pool(database_dsn, min_size=1, max_size=8, timeout_s=30)
    async with pool.acquire() as connection:
        await apply_migrations(connection)
    try:
        yield Ledger(pool)
    finally:
        await pool.close()


@pytest.fixture(autouse=True)
async def books_balance(ledger: Ledger) -> AsyncIterator[None]:
    """Audit the ledger after the test."""
    yield
    assert await ledger.audit() == []


@pytest.fixture
def base_config(database_dsn: str, tmp_path: Path) -> Config:
    """A node on a free loopback port, on the test database, its events in a private file."""
    return Config(
        server=ServerConfig(host="127.0.0.1", port=0, close_timeout_s=2.0),
        postgres=PostgresConfig(dsn=database_dsn, pool_min_size=1, pool_max_size=8),
        auth=TEST_AUTH,
        api=ApiConfig(port=0),
        lifecycle=LifecycleConfig(tick_s=0.1),
        events=EventsConfig(file=str(tmp_path / "events.jsonl"), poll_interval_s=0.05),
    )


class NodeStarter(Protocol):
    def __call__(
        self, config: Config | None = None
    ) -> contextlib.AbstractAsyncContextManager[Node]: ...


@pytest.fixture
def start_node(base_config: Config) -> NodeStarter:
    """Run an in-process node for an `async with` block (with `base_config` when given none)."""

    def starter(config: Config | None = None) -> contextlib.AbstractAsyncContextManager[Node]:
        return running_node(config or base_config)

    return starter
