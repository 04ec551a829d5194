"""Side-API rate limits: per key and category over a sliding minute, in memory or shared in Redis.

The limiter's windows are aligned to the clock's minutes and the previous window's count fades
as the current one goes on, so each test first waits until it is clear of a minute's edge: the
counts it asserts then all land in one window.

A stopped node must close its Redis connections (the last test): under uvloop, with warnings
as errors, one left open makes the session loop's `close()` block for ever. The Redis tests
therefore close whatever a node leaked (`close_leaked_redis`), so such a regression fails that
test instead of hanging the whole session.
"""

import asyncio
import gc
import time
import urllib.parse
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import redis.asyncio as redis

from roomserver.config import Config, RateLimitsPerMinute, RedisConfig
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    OTHER_ADMIN_KEY,
    admin_headers,
    api_config,
    api_url,
)
from tests.support.node import create_tournament

ERROR_FIELDS = {"code", "message", "retryable", "trace_id"}


async def _clear_of_minute_edge(needed_s: float) -> None:
    """Sleep, if need be, so that `needed_s` seconds fit before the next minute starts."""
    into_minute = time.time() % 60
    if into_minute + needed_s > 59.0:
        await asyncio.sleep(60.0 - into_minute + 0.2)


async def _get_config(client: httpx.AsyncClient, tournament_id: str, count: int) -> list[int]:
    """`count` config reads, `batch` at a time; their statuses in order."""
    statuses: list[int] = []
    batch = 50
    for start in range(0, count, batch):
        responses = await asyncio.gather(
            *(
                client.get(f"/internal/tournaments/{tournament_id}/config")
                for _ in range(min(batch, count - start))
            )
        )
        statuses.extend(response.status_code for response in responses)
    return statuses


def _assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["code"] == "RATE_LIMITED"
    assert body["retryable"] is True
    assert response.headers["X-Trace-Id"] == body["trace_id"]


async def test_the_1001st_config_read_in_a_minute_is_refused_for_that_key_only(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    path = f"/internal/tournaments/{tournament_id}/config"
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers(), timeout=30) as client,
        httpx.AsyncClient(
            base_url=api_url(node), headers=admin_headers(OTHER_ADMIN_KEY), timeout=30
        ) as other,
    ):
        await _clear_of_minute_edge(20.0)
        statuses = await _get_config(client, tournament_id, 1000)
        assert statuses == [200] * 1000
        _assert_rate_limited(await client.get(path))
        # Still refused: the refusal itself does not open the window again.
        _assert_rate_limited(await client.get(path))
        # Another key has its own count.
        response = await other.get(path)
        assert response.status_code == 200, response.text
        assert response.json()["tournament_id"] == tournament_id


@pytest.fixture
async def close_leaked_redis() -> AsyncIterator[None]:
    """After the test, disconnect every redis-py pool still holding connections.

    A safety net: a node that leaked one would otherwise hang the session at its end.
    """
    yield
    for candidate in gc.get_objects():
        if isinstance(candidate, redis.ConnectionPool):
            await candidate.disconnect()


def _redis_db(redis_url: str, db: int) -> str:
    """`redis_url` on another logical database (to tell this test's connections apart)."""
    parts = urllib.parse.urlsplit(redis_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))


async def _clients_on_db(redis_url: str, db: int) -> int:
    """Connections to the server that selected logical database `db` (ours excluded)."""
    client = redis.from_url(_redis_db(redis_url, 0))
    try:
        clients = await client.client_list()
    finally:
        await client.aclose()
    return sum(1 for entry in clients if int(entry["db"]) == db)


async def _forget_counts(redis_url: str) -> None:
    """Delete the limiter's counters in Redis, so the test starts from zero."""
    client = redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match="*roomserver-api*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


SHARED_COUNT_DB = 12


@pytest.mark.usefixtures("close_leaked_redis")
async def test_nodes_sharing_redis_share_one_count_per_key(
    start_node: NodeStarter, base_config: Config, ledger: Ledger, redis_url: str
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    path = f"/internal/tournaments/{tournament_id}/config"
    # The keys' names are fixed, so count in a logical database of this test's own, from zero.
    redis_url = _redis_db(redis_url, SHARED_COUNT_DB)
    config = api_config(
        msgspec.structs.replace(base_config, redis=RedisConfig(url=redis_url)),
        rate_limits_per_min=RateLimitsPerMinute(tournament_config=10),
    )
    async with (
        start_node(config) as node_a,
        start_node(config) as node_b,
        httpx.AsyncClient(base_url=api_url(node_a), headers=admin_headers()) as client_a,
        httpx.AsyncClient(base_url=api_url(node_b), headers=admin_headers()) as client_b,
        httpx.AsyncClient(
            base_url=api_url(node_b), headers=admin_headers(OTHER_ADMIN_KEY)
        ) as other_b,
    ):
        await _clear_of_minute_edge(10.0)
        await _forget_counts(redis_url)
        assert await _get_config(client_a, tournament_id, 6) == [200] * 6
        assert await _get_config(client_b, tournament_id, 4) == [200] * 4
        _assert_rate_limited(await client_a.get(path))
        _assert_rate_limited(await client_b.get(path))
        assert (await other_b.get(path)).status_code == 200
    await _forget_counts(redis_url)


async def test_nodes_without_redis_count_apart(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    path = f"/internal/tournaments/{tournament_id}/config"
    config = api_config(base_config, rate_limits_per_min=RateLimitsPerMinute(tournament_config=5))
    async with (
        start_node(config) as node_a,
        start_node(config) as node_b,
        httpx.AsyncClient(base_url=api_url(node_a), headers=admin_headers()) as client_a,
        httpx.AsyncClient(base_url=api_url(node_b), headers=admin_headers()) as client_b,
    ):
        await _clear_of_minute_edge(10.0)
        assert await _get_config(client_a, tournament_id, 5) == [200] * 5
        _assert_rate_limited(await client_a.get(path))
        # Node B never heard of node A's five.
        assert await _get_config(client_b, tournament_id, 5) == [200] * 5
        _assert_rate_limited(await client_b.get(path))


@pytest.mark.parametrize("limit", [1, 3])
async def test_a_small_limit_admits_exactly_that_many(
    start_node: NodeStarter, base_config: Config, ledger: Ledger, limit: int
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    config = api_config(
        base_config, rate_limits_per_min=RateLimitsPerMinute(tournament_config=limit)
    )
    async with (
        start_node(config) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
    ):
        await _clear_of_minute_edge(10.0)
        assert await _get_config(client, tournament_id, limit) == [200] * limit
        _assert_rate_limited(await client.get(f"/internal/tournaments/{tournament_id}/config"))
        # Other categories of the same key keep their own counts.
        status = await client.get(f"/internal/tournaments/{tournament_id}/status")
        assert status.status_code == 200, status.text


LEAK_DB = 13  # a logical database nothing else uses, so its clients are this test's


@pytest.mark.usefixtures("close_leaked_redis")
async def test_a_stopped_node_leaves_no_redis_connection_open(
    start_node: NodeStarter, base_config: Config, redis_url: str
) -> None:
    url = _redis_db(redis_url, LEAK_DB)
    config = api_config(msgspec.structs.replace(base_config, redis=RedisConfig(url=url)))
    async with (
        start_node(config) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
    ):
        ready = await client.get("/ready")  # the readiness client pings Redis
        assert ready.json()["redis"] == "ok"
        counted = await client.get("/internal/tournaments/t-none/config")  # the limiter counts
        assert counted.status_code == 404
        assert await _clients_on_db(redis_url, LEAK_DB) >= 1
    # Give the server a moment to see any close.
    for _ in range(20):
        if await _clients_on_db(redis_url, LEAK_DB) == 0:
            break
        await asyncio.sleep(0.05)
    assert await _clients_on_db(redis_url, LEAK_DB) == 0
