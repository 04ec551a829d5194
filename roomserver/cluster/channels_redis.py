"""The node's subscribed Redis channels: one connection, or one per shard of a Redis Cluster.

The broker subscribes the node to the channels of the rooms with members here and hands every
message to one callback. On one Redis server all channels share one subscribed connection. On a
Redis Cluster the rooms' channels are sharded (`SSUBSCRIBE`, `SPUBLISH`): a channel lives on
the shard owning its hash slot, so the node keeps one subscribed connection per shard it needs,
each with its own reader.

Every connection is watched the same way: redis-py subscribes again by itself after a reconnect
but loses what was published meanwhile, so each (re)connect is reported (`on_reconnect`) for
the broker to resynchronise; and a probe published to a channel of the connection's own finds a
connection that no longer receives anything (a dead peer the socket does not notice), which is
then dropped so it reconnects.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

log = logging.getLogger(__name__)

PROBE_PREFIX: Final = b"probe:"
_CONFIRM_TIMEOUT_S: Final = 10.0
_CLOSE_TIMEOUT_S: Final = 2.0

OnMessage = Callable[[bytes, bytes], Awaitable[None]]
"""Receives a message published on a subscribed channel: the channel and the data."""


@dataclass(slots=True)
class _Connection:
    """One subscribed connection and its reader."""

    name: str
    pubsub: PubSub
    probe_channel: str
    # A client of the connection's own (a cluster shard's), closed with it.
    owned: "redis.Redis | None" = None
    probe_seen_s: float = field(default_factory=time.monotonic)
    probes: int = 0
    reader: asyncio.Task[None] | None = None


class RedisChannels:
    """Subscriptions of one node (see the module's docstring)."""

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        *,
        node_id: str,
        key_prefix: str,
        on_message: OnMessage,
        on_reconnect: Callable[[], None],
        probe_timeout_s: float = 5.0,
    ) -> None:
        """Channels over `client`; `start` opens the first connection.

        Args:
            client: A Redis client, or a Redis Cluster client (sharded channels).
            node_id: This node's name (its probe channels).
            key_prefix: Prefix of the probe channels.
            on_message: Called with each message, in the order its connection received them.
            on_reconnect: Called after a connection (re)connects and subscribes again.
            probe_timeout_s: A probe not back within this long means its connection is dead.
        """
        self._client = client
        self._sharded = isinstance(client, RedisCluster)
        self._node_id = node_id
        self._prefix = key_prefix
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._probe_timeout_s = probe_timeout_s
        self._connections: dict[str, _Connection] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        self._confirmed: dict[bytes, asyncio.Future[None]] = {}
        self._closing = False

    @property
    def sharded(self) -> bool:
        """Whether channels are sharded (a Redis Cluster): `SPUBLISH`, not `PUBLISH`."""
        return self._sharded

    async def start(self) -> None:
        """Open the subscribed connection (on a cluster, connections open with their shards)."""
        if not self._sharded:
            await self._connection_for("")

    async def close(self) -> None:
        """Stop every reader and close every connection."""
        self._closing = True
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            # A read may be inside a reconnect, where a cancellation can be absorbed: dropping
            # the socket as well ends any read.
            if connection.pubsub.connection is not None:
                with contextlib.suppress(Exception):
                    await connection.pubsub.connection.disconnect()
            if connection.reader is not None:
                connection.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                        await asyncio.shield(connection.reader)
                if not connection.reader.done():
                    log.warning("subscription reader %s did not stop", connection.name)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await connection.pubsub.aclose()  # type: ignore[no-untyped-call]
            if connection.owned is not None:
                with contextlib.suppress(Exception):
                    await connection.owned.aclose()

    async def subscribe(self, channel: str) -> None:
        """Subscribe to `channel`; returns once Redis confirmed it.

        Everything published on the channel after this returns is received.
        """
        connection = await self._connection_for(self._shard_of(channel))
        key = channel.encode()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmed[key] = confirmed
        try:
            if self._sharded:
                await connection.pubsub.ssubscribe(channel)
            else:
                await connection.pubsub.subscribe(channel)
            async with asyncio.timeout(_CONFIRM_TIMEOUT_S):
                await confirmed
        finally:
            self._confirmed.pop(key, None)

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving `channel` (errors are ignored: the connection may be gone)."""
        connection = self._connections.get(self._shard_of(channel))
        if connection is None:
            return
        with contextlib.suppress(redis.RedisError, OSError):
            if self._sharded:
                await connection.pubsub.sunsubscribe(channel)
            else:
                await connection.pubsub.unsubscribe(channel)

    async def publish(self, channel: str, data: bytes) -> None:
        """Publish `data` on `channel` (sharded on a cluster)."""
        if self._sharded:
            await self._client.spublish(channel, data)
        else:
            await self._client.publish(channel, data)

    async def probe(self) -> bool:
        """Probe every connection; drop those silent for too long (they reconnect).

        Returns:
            Whether a connection was dropped (what it missed must be read from the streams).
        """
        dropped = False
        now = time.monotonic()
        for connection in list(self._connections.values()):
            connection.probes += 1
            await self.publish(
                connection.probe_channel, PROBE_PREFIX + str(connection.probes).encode()
            )
            if now - connection.probe_seen_s > self._probe_timeout_s:
                log.warning("subscription %s silent; reconnecting it", connection.name or "")
                connection.probe_seen_s = now
                if connection.pubsub.connection is not None:
                    await connection.pubsub.connection.disconnect()
                dropped = True
        return dropped

    # ------------------------------------------------------------ connections

    def _shard_of(self, channel: str) -> str:
        if not self._sharded:
            return ""
        assert isinstance(self._client, RedisCluster)
        node = self._client.get_node_from_key(channel)
        assert node is not None, f"no cluster node serves {channel}"
        return str(node.name)

    async def _connection_for(self, shard: str) -> _Connection:
        connection = self._connections.get(shard)
        if connection is not None:
            return connection
        lock = self._connecting.setdefault(shard, asyncio.Lock())
        async with lock:
            connection = self._connections.get(shard)
            if connection is None:
                connection = await self._connect(shard)
                self._connections[shard] = connection
            return connection

    async def _connect(self, shard: str) -> _Connection:
        owned = None
        if self._sharded:
            assert isinstance(self._client, RedisCluster)
            node = self._client.get_node(node_name=shard)
            assert node is not None, f"no cluster node {shard}"
            kwargs = node.connection_kwargs
            owned = redis.Redis(
                host=node.host,
                port=int(node.port),
                username=kwargs.get("username"),
                password=kwargs.get("password"),
                socket_keepalive=True,
            )
            pubsub = owned.pubsub()
            probe_channel = self._probe_channel_on(shard)
            await pubsub.ssubscribe(probe_channel)
        else:
            pubsub = self._client.pubsub()
            probe_channel = f"{self._prefix}probe:{self._node_id}"
            await pubsub.subscribe(probe_channel)
        assert pubsub.connection is not None
        connection = _Connection(shard, pubsub, probe_channel, owned)

        # redis-py keeps a weak reference to the callback: a bound method of this object.
        pubsub.connection.register_connect_callback(self._connected)
        connection.reader = asyncio.create_task(
            self._read(connection), name=f"subscription-reader-{shard or 'main'}"
        )
        return connection

    async def _connected(self, _connection: object) -> None:
        # Called on every connect of a subscribed connection, after it subscribed again.
        self._on_reconnect()

    def _probe_channel_on(self, shard: str) -> str:
        """A probe channel of this node whose hash slot the shard `shard` owns."""
        assert isinstance(self._client, RedisCluster)
        for n in itertools.count():
            channel = f"{self._prefix}probe:{self._node_id}:{{{n}}}"
            node = self._client.get_node_from_key(channel)
            if node is not None and node.name == shard:
                return channel
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ reading

    async def _read(self, connection: _Connection) -> None:
        """Hand on what the connection brings, for as long as the channels are open."""
        backoff_s = 0.05
        while not self._closing:
            try:
                # Blocking, with no read timeout: a timeout inside the client can leave a
                # cancellation behind that later hits this task. A dead peer is found by the
                # probe instead.
                message = await connection.pubsub.get_message(timeout=None)
                backoff_s = 0.05
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if self._closing:
                    return
                # Redis is away: room frames pause (they are never sent unsequenced).
                log.warning("subscription lost (%s); retrying", exc)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
                self._on_reconnect()
                continue
            except Exception:
                # Never let a reader die: every room on its connection would stop receiving.
                log.exception("subscription failed; retrying")
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
                self._on_reconnect()
                continue
            if message is not None:
                try:
                    await self._handle(connection, message)
                except Exception:
                    log.exception("could not deliver a message")

    async def _handle(self, connection: _Connection, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind in ("subscribe", "ssubscribe"):
            confirmed = self._confirmed.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if kind not in ("message", "smessage"):
            return
        data: bytes = message["data"]
        if data.startswith(PROBE_PREFIX):
            connection.probe_seen_s = time.monotonic()
            return
        await self._on_message(channel, data)
