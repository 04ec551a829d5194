"""Per-key request limits over a sliding 60 s window (`limits`), shared through Redis if set.

The sliding-window counter weighs the previous window by how much of it still overlaps, so a
caller cannot get twice the limit by bursting at a window edge.
"""

import math
import time
from typing import Final, Literal

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiError
from roomserver.config import RateLimitsPerMinute

RateCategory = Literal["tournament_config", "token_validation", "results", "default"]
_NAMESPACE: Final = "roomserver-api"


class ApiRateLimiter:
    """Counts requests per caller and category."""

    def __init__(self, limits: RateLimitsPerMinute, redis_url: str) -> None:
        storage: Storage
        if redis_url:
            storage = RedisStorage(f"async+{redis_url}", implementation="redispy")
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
