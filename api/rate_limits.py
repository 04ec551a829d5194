"""Per-key request limits over a sliding 60 s window (`limits`), shared through Redis if set.

The sliding-window counter weighs the previous window by how much of it still overlaps, so a
caller cannot get twice the limit by bursting at a window edge.
"""

import math
import time
from typing import Final, Literal

import redis.asyncio as redis
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio.cluster import RedisCluster

from api.errors import ApiError
from roomserver.config import RateLimitsPerMinute, RedisConfig

RateCategory = Literal["tournament_config", "token_validation", "results", "default"]
_NAMESPACE: Final = "roomserver-api"


class ApiRateLimiter:
    """Counts requests per caller and category."""

    def __init__(
        self,
        limits: RateLimitsPerMinute,
        redis_config: RedisConfig,
        redis_client: "redis.Redis | RedisCluster | None",
    ) -> None:
        """Counters in Redis when `redis_client` is given (shared by nodes), else in memory."""
        storage: Storage
        if isinstance(redis_client, RedisCluster):
            # The library's own cluster client: it needs one of its own to follow the slots.
            cluster_url = redis_config.url.replace("redis://", "redis+cluster://", 1)
            storage = RedisClusterStorage(f"async+{cluster_url}", implementation="redispy")
        elif redis_client is not None:
            # The node's own client's pool, so the node's shutdown closes its connections.
            storage = RedisStorage(
                f"async+{redis_config.url}",
                implementation="redispy",
                connection_pool=redis_client.connection_pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items = {
            "tournament_config": RateLimitItemPerMinute(limits.tournament_config),
            "token_validation": RateLimitItemPerMinute(limits.token_validation),
            "results": RateLimitItemPerMinute(limits.results),
            "default": RateLimitItemPerMinute(limits.default),
        }

    async def hit(self, category: RateCategory, caller: str) -> None:
        """Count one request.

        Raises:
            ApiError: RATE_LIMITED (429) with Retry-After in whole seconds.
        """
        item = self._items[category]
        if await self._limiter.hit(item, _NAMESPACE, category, caller):
            return
        stats = await self._limiter.get_window_stats(item, _NAMESPACE, category, caller)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(
            "RATE_LIMITED",
            f"more than {item.amount} requests a minute",
            headers={"Retry-After": str(retry_after)},
        )
