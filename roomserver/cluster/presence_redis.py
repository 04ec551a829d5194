"""`Presence` on Redis: the players online in each room, counted over every node.

Per room, two hashes under the room's hash tag: each connection (qualified by its node) and each
player's connection count; a player is online while the count is positive, so a player connected
through two nodes counts once. Each script runs on one room's keys, atomically.

Each node also lists its own connections and renews a heartbeat. When a node's heartbeat stops
(it was killed), a surviving node removes that node's connections, once: players who already
reconnected through another node keep their other connection and stay online.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from roomserver.cluster.nodes import NodeLoad

log = logging.getLogger(__name__)

_SEPARATOR: Final = "\x00"

# KEYS: connections, players. ARGV: connection field, player. 1 when the player came online.
_ADD: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], 1) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then return 1 end
return 0
"""

# KEYS: connections, players. ARGV: connection field, player. 1 when the player went offline.
_REMOVE: Final = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

WentOffline = Callable[[str, str], Awaitable[None]]
"""Told (room, player) when reaping a dead node took a player's last connection to a room."""


class RedisPresence:
    """`Presence` over one Redis server, shared by every node (see the module's docstring)."""

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        node_id: str,
        *,
        heartbeat_s: float = 2.0,
        node_ttl_s: float = 10.0,
        key_prefix: str = "rs:",
    ) -> None:
        """Presence for `node_id`; `start` begins its heartbeat.

        Args:
            client: The Redis client.
            node_id: This node's name, unique among the live nodes.
            heartbeat_s: How often the node renews its heartbeat and looks for dead nodes.
            node_ttl_s: A node whose heartbeat is older than this is dead.
            key_prefix: Prefix of every key.
        """
        self._client = client
        self._node_id = node_id
        self._heartbeat_s = heartbeat_s
        self._node_ttl_s = node_ttl_s
        self._prefix = key_prefix
        self._nodes_key = f"{key_prefix}nodes"
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._task: asyncio.Task[None] | None = None
        self.on_went_offline: WentOffline | None = None
        # What this node reports with each heartbeat (server-info lists it for every node).
        self.own: Callable[[], NodeLoad] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Forget what an earlier run of this node left, beat once, and keep beating."""
        await self._reap(self._node_id)
        await self._beat()
        self._task = asyncio.create_task(self._run(), name="presence-heartbeat")

    async def close(self) -> None:
        """Stop beating and remove this node's connections (a clean shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(redis.RedisError, OSError):
            await self._reap(self._node_id)

    async def live_nodes(self) -> list[str]:
        """The nodes whose heartbeat is current."""
        now_ms = int(time.time() * 1000)
        nodes = await self._client.zrangebyscore(self._nodes_key, now_ms, "+inf")
        return sorted(_text(node) for node in nodes)

    async def live(self) -> list[NodeLoad]:
        """Every live node with the load of its last heartbeat (`NodeDirectory`)."""
        nodes = await self.live_nodes()
        if not nodes:
            return []
        keys = [self._info_key(node) for node in nodes]
        reports = (
            await self._client.mget_nonatomic(keys)
            if isinstance(self._client, RedisCluster)
            else await self._client.mget(keys)
        )
        return [
            msgspec.json.decode(report, type=NodeLoad) for report in reports if report is not None
        ]

    # ------------------------------------------------------------ Presence

    async def add(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Record a connection of this node; True when the player came online."""
        return await self._change(self._add, room_id, player_id, connection_id, added=True)

    async def remove(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Forget a connection of this node; True when the player went offline."""
        return await self._change(self._remove, room_id, player_id, connection_id, added=False)

    async def _change(
        self, script: AsyncScript, room_id: str, player_id: str, connection_id: str, *, added: bool
    ) -> bool:
        """The room's change (`script`) and this node's own list of its connections."""
        keys = list(self._room_keys(room_id))
        args = [self._field(player_id, self._node_id, connection_id), player_id]
        member = self._member(room_id, player_id, connection_id)
        node_key = self._node_key(self._node_id)
        if isinstance(self._client, RedisCluster):
            # The two keys live on different shards, and a cluster pipeline runs no script:
            # two calls at once.
            changed, _ = await asyncio.gather(
                script(keys=keys, args=args),
                self._client.sadd(node_key, member)
                if added
                else self._client.srem(node_key, member),
            )
            return bool(changed)
        # One round trip.
        async with self._client.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=args, client=pipe)
            if added:
                pipe.sadd(node_key, member)
            else:
                pipe.srem(node_key, member)
            changed, _ = await pipe.execute()
        return bool(changed)

    async def count(self, room_id: str) -> int:
        """Distinct players online in the room, on every node."""
        return int(await self._client.hlen(self._room_keys(room_id)[1]))

    async def is_online(self, room_id: str, player_id: str) -> bool:
        """Whether the player has a connection to the room on any node."""
        return bool(await self._client.hexists(self._room_keys(room_id)[1], player_id))

    # ------------------------------------------------------------ heartbeats

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._beat()
                await self._reap_dead()
            except (redis.RedisError, OSError) as exc:
                log.warning("presence heartbeat failed (%s)", exc)
            except Exception:
                log.exception("presence heartbeat failed")

    async def _beat(self) -> None:
        expires_ms = int((time.time() + self._node_ttl_s) * 1000)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._nodes_key, {self._node_id: expires_ms})
            if self.own is not None:
                report = msgspec.json.encode(self.own())
                pipe.set(self._info_key(self._node_id), report, px=int(self._node_ttl_s * 1000))
            await pipe.execute()

    async def _reap_dead(self) -> None:
        now_ms = int(time.time() * 1000)
        dead = await self._client.zrangebyscore(self._nodes_key, "-inf", now_ms)
        for raw in dead:
            node = _text(raw)
            # One node reaps each dead node; the claim outlives a slow reap, and goes with the
            # reap's end, so a node of the same name that dies again soon is reaped too.
            claim = f"{self._prefix}reaping:{node}"
            if await self._client.set(claim, self._node_id, nx=True, px=30_000):
                log.warning("node %s stopped beating; removing its connections", node)
                try:
                    await self._reap(node)
                finally:
                    await self._client.delete(claim)

    async def _reap(self, node: str) -> None:
        """Remove every connection `node` recorded, then the node itself."""
        node_key = self._node_key(node)
        members = await self._client.smembers(node_key)
        for raw in members:
            member = _text(raw)
            room_id, player_id, connection_id = member.split(_SEPARATOR)
            went_offline = await self._remove_connection(room_id, player_id, node, connection_id)
            if went_offline and node != self._node_id and self.on_went_offline is not None:
                try:
                    await self.on_went_offline(room_id, player_id)
                except Exception:
                    log.exception("could not announce %s offline in %s", player_id, room_id)
        await self._client.delete(node_key, self._info_key(node))
        await self._client.zrem(self._nodes_key, node)

    async def _remove_connection(
        self, room_id: str, player_id: str, node: str, connection_id: str
    ) -> bool:
        connections, players = self._room_keys(room_id)
        field = self._field(player_id, node, connection_id)
        return bool(await self._remove(keys=[connections, players], args=[field, player_id]))

    # ------------------------------------------------------------ keys

    def _room_keys(self, room_id: str) -> tuple[str, str]:
        tag = f"{self._prefix}{{t:{room_id}}}"
        return f"{tag}:presence:connections", f"{tag}:presence:players"

    def _node_key(self, node: str) -> str:
        return f"{self._prefix}node:{node}:connections"

    def _info_key(self, node: str) -> str:
        return f"{self._prefix}node:{node}:load"

    @staticmethod
    def _member(room_id: str, player_id: str, connection_id: str) -> str:
        return _SEPARATOR.join((room_id, player_id, connection_id))

    @staticmethod
    def _field(player_id: str, node: str, connection_id: str) -> str:
        return _SEPARATOR.join((player_id, node, connection_id))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
