"""A Redis client for a test, closed when the test ends."""

import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster


@contextlib.asynccontextmanager
async def redis_client(url: str, name: str | None = None) -> AsyncIterator["redis.Redis"]:
    """A client of the Redis server at `url`; `name` names its connections (CLIENT LIST)."""
    client = redis.from_url(url, client_name=name)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def shared_redis_client(
    request: pytest.FixtureRequest, kind: str
) -> AsyncIterator["redis.Redis | RedisCluster"]:
    """A client of the session's Redis (`kind` "redis") or Redis Cluster ("redis-cluster")."""
    if kind == "redis-cluster":
        client = RedisCluster.from_url(request.getfixturevalue("redis_cluster_url"))
        await client.initialize()
        try:
            yield client
        finally:
            await client.aclose()
        return
    async with redis_client(request.getfixturevalue("redis_url")) as plain:
        yield plain


async def kill_subscriptions(url: str, name: str) -> int:
    """Kill the subscribed connections named `name` (only this test's, never a neighbour's).

    Returns:
        How many were killed.
    """
    async with redis_client(url) as admin:
        killed = 0
        for client in await admin.client_list(_type="pubsub"):
            if client.get("name") == name:
                await admin.client_kill_filter(_id=client["id"])
                killed += 1
        return killed
