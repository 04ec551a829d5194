"""The `Presence` contract, run against every implementation (`presence_kind` picks one)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from roomserver.cluster.presence import Presence
from roomserver.cluster.presence_local import LocalPresence
from roomserver.cluster.presence_redis import RedisPresence
from tests.support.redis import shared_redis_client


@pytest.fixture(params=["local", "redis", "redis-cluster"])
def presence_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def presence(presence_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Presence]:
    if presence_kind == "local":
        yield LocalPresence()
        return
    async with shared_redis_client(request, presence_kind) as client:
        tag = secrets.token_hex(4)
        shared = RedisPresence(client, f"n-{tag}", key_prefix=f"t{tag}:")
        await shared.start()
        try:
            yield shared
        finally:
            await shared.close()


async def test_an_empty_room(presence: Presence) -> None:
    assert await presence.count("r") == 0
    assert not await presence.is_online("r", "a")


async def test_counts_distinct_players_with_several_connections(presence: Presence) -> None:
    assert await presence.add("r", "a", "c1")
    assert not await presence.add("r", "a", "c2")
    assert await presence.add("r", "b", "c3")
    assert await presence.count("r") == 2
    assert await presence.is_online("r", "a") and await presence.is_online("r", "b")


async def test_a_player_goes_offline_with_the_last_connection(presence: Presence) -> None:
    await presence.add("r", "a", "c1")
    await presence.add("r", "a", "c2")
    assert not await presence.remove("r", "a", "c1")
    assert await presence.is_online("r", "a")
    assert await presence.remove("r", "a", "c2")
    assert not await presence.is_online("r", "a")
    assert await presence.count("r") == 0


async def test_removing_an_unknown_connection_changes_nothing(presence: Presence) -> None:
    await presence.add("r", "a", "c1")
    assert not await presence.remove("r", "a", "other")
    assert not await presence.remove("r", "b", "c1")
    assert not await presence.remove("elsewhere", "a", "c1")
    assert await presence.count("r") == 1


async def test_adding_a_connection_twice_counts_it_once(presence: Presence) -> None:
    await presence.add("r", "a", "c1")
    assert not await presence.add("r", "a", "c1")
    assert await presence.remove("r", "a", "c1")
    assert await presence.count("r") == 0


async def test_rooms_are_separate(presence: Presence) -> None:
    await presence.add("r", "a", "c1")
    await presence.add("s", "a", "c2")
    await presence.add("s", "b", "c3")
    assert await presence.count("r") == 1
    assert await presence.count("s") == 2
    await presence.remove("s", "a", "c2")
    assert await presence.is_online("r", "a")
