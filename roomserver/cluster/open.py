"""The broker and presence a node runs with: in process, or on Redis when `redis.url` is set."""

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from roomserver.cluster.broker import Broker
from roomserver.cluster.broker_local import LocalBroker
from roomserver.cluster.broker_redis import RedisBroker
from roomserver.cluster.nodes import LocalNodes, NodeDirectory, NodeLoad
from roomserver.cluster.presence import Presence
from roomserver.cluster.presence_local import LocalPresence
from roomserver.cluster.presence_redis import RedisPresence, WentOffline
from roomserver.cluster.ticker import LocalTickers, Tickers
from roomserver.cluster.ticker_redis import RedisTickers
from roomserver.config import RedisConfig, RoomsConfig
from roomserver.ops.startup import redis_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cluster:
    """How this node's rooms share their streams, presence and tickers with the other nodes."""

    broker: Broker
    presence: Presence
    nodes: NodeDirectory
    tickers: Tickers
    shared: bool

    def on_ticker_granted(self, granted: Callable[[str], None]) -> None:
        """Have `granted` called with a room's id when this node takes the room's ticker."""
        if isinstance(self.tickers, RedisTickers):
            self.tickers.on_granted = granted

    def on_went_offline(self, announce: WentOffline) -> None:
        """Have `announce` publish the players a dead node's removal took offline."""
        if isinstance(self.presence, RedisPresence):
            self.presence.on_went_offline = announce

    def report_load(self, own: Callable[[], NodeLoad]) -> None:
        """Have `own` tell this node's load to the node directory (with each heartbeat)."""
        if isinstance(self.nodes, LocalNodes | RedisPresence):
            self.nodes.own = own


def redis_client(config: RedisConfig) -> "redis.Redis | RedisCluster":
    """A client of the configured Redis: one server, or a Redis Cluster (`redis.cluster`).

    TCP keepalive on every connection, the subscriptions' included; a peer that died without
    closing is also found by the broker's own probes.
    """
    if config.cluster:
        return RedisCluster.from_url(config.url, socket_keepalive=True)
    return redis.from_url(config.url, socket_keepalive=True)


@contextlib.asynccontextmanager
async def open_cluster(
    redis_config: RedisConfig, rooms: RoomsConfig, node_id: str
) -> AsyncIterator[Cluster]:
    """The Redis broker and presence when `redis.url` is set, else the in-process ones.

    Raises:
        StartupError: Redis cannot be reached at start.
    """
    if not redis_config.url:
        nodes = LocalNodes(lambda: NodeLoad(node_id, "", "", 0, 0))
        yield Cluster(
            LocalBroker(rooms.history_size),
            LocalPresence(),
            nodes,
            LocalTickers(node_id),
            shared=False,
        )
        return
    client = redis_client(redis_config)
    broker = RedisBroker(client, rooms.history_size, node_id=node_id)
    presence = RedisPresence(client, node_id)
    tickers = RedisTickers(client, node_id, lease_s=redis_config.ticker_lease_s)
    try:
        try:
            if isinstance(client, RedisCluster):
                await client.initialize()
            await client.ping()
            await broker.start()
            await presence.start()
            await tickers.start()
        except (redis.RedisError, OSError) as exc:
            raise redis_error(exc, redis_config.url) from None
        log.info("rooms shared through Redis as node %s", node_id)
        yield Cluster(broker, presence, presence, tickers, shared=True)
    finally:
        await tickers.close()
        await presence.close()
        await broker.close()
        await client.aclose()
