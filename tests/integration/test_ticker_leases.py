"""Ticker leases on a real Redis: one holder per room, fencing, and handing the lease over."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from protocol.messages import PlayerConnected, PresencePayload
from roomserver.cluster.broker_redis import RedisBroker
from roomserver.cluster.stream_scripts import StreamKeys
from roomserver.cluster.ticker import StaleFence
from roomserver.cluster.ticker_redis import RedisTickers
from tests.support.redis import redis_client

LEASE_S = 0.6


@contextlib.asynccontextmanager
async def tickers(
    client: redis.Redis, prefix: str, *names: str
) -> AsyncIterator[tuple[list[RedisTickers], dict[str, list[str]]]]:
    """Started leases of nodes `names`, and the rooms each was granted (in order)."""
    granted: dict[str, list[str]] = {name: [] for name in names}
    started = []
    for name in names:
        node = RedisTickers(client, name, lease_s=LEASE_S, key_prefix=prefix)
        node.on_granted = granted[name].append
        await node.start()
        started.append(node)
    try:
        yield started, granted
    finally:
        for node in started:
            await node.close()


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def presence(count: int) -> PlayerConnected:
    return PlayerConnected(
        room="r", ts="2026-01-01T00:00:00.000Z", payload=PresencePayload(players_online=count)
    )


async def test_one_node_holds_a_room_and_only_its_fence_publishes(redis_url: str) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    async with (
        redis_client(redis_url) as client,
        tickers(client, prefix, "node-a", "node-b") as ((a, b), granted),
    ):
        broker = RedisBroker(client, 8, node_id="node-a", key_prefix=prefix)
        a.want("r")
        b.want("r")
        await until(lambda: (a.fence("r") is None) != (b.fence("r") is None))
        holder, other = (a, b) if a.fence("r") is not None else (b, a)
        fence = holder.fence("r")
        assert fence is not None
        holder_name = fence.split(" ")[0]
        assert granted[holder_name] == ["r"]
        assert await a.owner("r") == await b.owner("r") == holder_name
        # The lease is renewed: after several lease times the same fence still holds.
        await asyncio.sleep(3 * LEASE_S)
        assert holder.fence("r") == fence and other.fence("r") is None
        top = await broker.position("r")
        assert (await broker.publish("r", presence(1), fence=fence)).offset == top.offset + 1
        with pytest.raises(StaleFence):
            await broker.publish("r", presence(2), fence=f"{holder_name} 999")
        assert (await broker.position("r")).offset == top.offset + 1


async def test_a_lease_that_expired_passes_on_and_the_old_fence_is_refused(
    redis_url: str,
) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    async with (
        redis_client(redis_url) as client,
        tickers(client, prefix, "node-a", "node-b") as ((a, b), _),
    ):
        broker = RedisBroker(client, 8, node_id="node-a", key_prefix=prefix)
        a.want("r")
        await until(lambda: a.fence("r") is not None)
        b.want("r")
        old = a.fence("r")
        assert old is not None
        # The holder paused past its lease: Redis let the key expire.
        await client.delete(StreamKeys.of(prefix, "r").lease)
        # Whichever node renews first takes it, with a new fence.
        await until(lambda: (a.fence("r") or old) != old or b.fence("r") is not None)
        top = await broker.position("r")
        with pytest.raises(StaleFence):
            await broker.publish("r", presence(1), fence=old)
        assert await broker.position("r") == top
        # The old holder learns it at its next renewal (lost, or granted anew).
        await until(lambda: a.fence("r") != old)
        new = a.fence("r") or b.fence("r")
        assert new is not None and new != old
        assert (await broker.publish("r", presence(2), fence=new)).offset == top.offset + 1


async def test_a_holder_that_drops_the_room_hands_it_over_at_once(redis_url: str) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    async with (
        redis_client(redis_url) as client,
        tickers(client, prefix, "node-a", "node-b") as ((a, b), granted),
    ):
        a.want("r")
        await until(lambda: a.fence("r") is not None)
        b.want("r")
        await asyncio.sleep(LEASE_S / 2)
        assert b.fence("r") is None
        a.drop("r")
        assert a.fence("r") is None
        # Released, not left to expire: the other node's next renewal takes it.
        await until(lambda: b.fence("r") is not None, timeout_s=LEASE_S)
        assert granted["node-b"] == ["r"]
        assert await a.owner("r") == "node-b"
        b.drop("r")
        async with asyncio.timeout(2.0):
            while await b.owner("r") is not None:
                await asyncio.sleep(0.01)


async def test_closing_while_renewing_always_returns(redis_url: str) -> None:
    # Renewals every few milliseconds, closes at every moment of the cycle: a cancellation
    # that lands as the wait times out (or inside the client) must not keep close() waiting.
    prefix = f"t{secrets.token_hex(4)}:"
    slowest = 0.0
    async with redis_client(redis_url) as client:
        for attempt in range(150):
            node = RedisTickers(client, "node-a", lease_s=0.015, key_prefix=prefix)
            await node.start()
            node.want(f"r{attempt}")
            await asyncio.sleep((attempt % 15) / 1000)
            started = time.monotonic()
            async with asyncio.timeout(2.0):
                await node.close()
            slowest = max(slowest, time.monotonic() - started)
    # A close waits for at most one renewal round trip and one release.
    assert slowest < 0.1
