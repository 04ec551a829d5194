"""`Tickers` on Redis: a room's lease is one key, `SET NX PX`, with a fencing token.

The lease key `rs:{t:<room>}:ticker` holds `<node> <token>`, the token from the room's fence
counter, so every grant has a fence never used before. The holder renews it every third of its
time to live; when the holder dies (or pauses), the key expires and the next node that wants it
takes it with a new token. The room's publish script compares the fence a publish carries with
the key (same hash tag, same shard), so a holder that lost the lease cannot push.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from roomserver.cluster.stream_scripts import StreamKeys

log = logging.getLogger(__name__)

_FENCE_TTL_S: Final = 86400

# KEYS: lease, fence counter. ARGV: node, lease time to live (ms). Returns the node's fence
# (renewed, or newly granted), or false when another node holds the lease.
_TAKE_OR_RENEW: Final = """
local held = redis.call('GET', KEYS[1])
if held then
  if string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return held
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local fence = ARGV[1] .. ' ' .. token
redis.call('SET', KEYS[1], fence, 'PX', ARGV[2])
return fence
"""

# KEYS: lease. ARGV: fence. Gives the lease up only when it is still this fence.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTickers:
    """`Tickers` shared by every node on one Redis (see the module's docstring)."""

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        node_id: str,
        *,
        lease_s: float = 3.0,
        key_prefix: str = "rs:",
    ) -> None:
        """Leases of node `node_id`; `start` begins competing for the wanted ones.

        Args:
            client: The Redis client.
            node_id: This node's name, stored in the leases it holds.
            lease_s: A lease not renewed for this long passes to another node.
            key_prefix: Prefix of every key.
        """
        self._client = client
        self._node_id = node_id
        self._lease_ms = max(1, int(lease_s * 1000))
        self._prefix = key_prefix
        self._take = client.register_script(_TAKE_OR_RENEW)
        self._release = client.register_script(_RELEASE)
        self._wanted: set[str] = set()
        self._fences: dict[str, str] = {}
        self._renew_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Ends the renewal loop even when a cancellation is swallowed on its way (one that
        # lands as `asyncio.timeout` expires, or inside the Redis client), which left `close`
        # waiting for ever.
        self._closing = False
        self._releases: set[asyncio.Task[None]] = set()
        self.on_granted: Callable[[str], None] = lambda _room_id: None
        """Called with a room's id when this node takes its lease (a new fence)."""

    async def start(self) -> None:
        """Start renewing (and taking) the wanted leases."""
        self._task = asyncio.create_task(self._renew_forever(), name="ticker-leases")

    async def close(self) -> None:
        """Stop renewing and give up every lease held, so another node takes them at once."""
        if self._task is not None:
            self._closing = True
            self._renew_now.set()
            self._task.cancel()
            # Not `await task` under suppress(CancelledError): that would also swallow a
            # cancellation of the caller of close().
            await asyncio.wait({self._task})
            if not self._task.cancelled() and self._task.exception() is not None:
                log.error("ticker leases stopped on an error", exc_info=self._task.exception())
            self._task = None
        fences, self._fences = self._fences, {}
        for room_id, fence in fences.items():
            with contextlib.suppress(redis.RedisError, OSError):
                await self._release(keys=[StreamKeys.of(self._prefix, room_id).lease], args=[fence])

    # ------------------------------------------------------------ Tickers

    def want(self, room_id: str) -> None:
        """See `Tickers.want`: the lease is asked for at once."""
        if room_id not in self._wanted:
            self._wanted.add(room_id)
            self._renew_now.set()

    def drop(self, room_id: str) -> None:
        """See `Tickers.drop`."""
        self._wanted.discard(room_id)
        fence = self._fences.pop(room_id, None)
        if fence is not None and self._task is not None:
            task = asyncio.ensure_future(self._give_up(room_id, fence))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    def fence(self, room_id: str) -> str | None:
        """See `Tickers.fence`."""
        return self._fences.get(room_id)

    def lost(self, room_id: str, fence: str) -> None:
        """See `Tickers.lost`."""
        if self._fences.get(room_id) == fence:
            del self._fences[room_id]

    async def owner(self, room_id: str) -> str | None:
        """See `Tickers.owner`."""
        held = await self._client.get(StreamKeys.of(self._prefix, room_id).lease)
        if held is None:
            return None
        text = held.decode() if isinstance(held, bytes) else str(held)
        return text.rsplit(" ", 1)[0]

    # ------------------------------------------------------------ renewing

    async def _renew_forever(self) -> None:
        interval_s = self._lease_ms / 3000
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await self._renew_now.wait()
            self._renew_now.clear()
            if self._closing:
                return
            try:
                await self._renew()
            except (redis.RedisError, OSError) as exc:
                # Redis is away: the leases expire there; a publish with a stale fence is
                # refused when it comes back, so the fences held here can stay as they are.
                log.warning("ticker leases not renewed (%s)", exc)
            except Exception:
                log.exception("ticker leases not renewed")

    async def _renew(self) -> None:
        rooms = sorted(self._wanted)
        if not rooms:
            return
        calls: list[tuple[list[str], list[str | int]]] = [
            (
                [
                    StreamKeys.of(self._prefix, room_id).lease,
                    f"{self._prefix}{{t:{room_id}}}:fence",
                ],
                [self._node_id, self._lease_ms, _FENCE_TTL_S],
            )
            for room_id in rooms
        ]
        results: list[object]
        if isinstance(self._client, RedisCluster):
            # Rooms spread over shards, and a cluster pipeline runs no script: all at once.
            results = list(
                await asyncio.gather(*(self._take(keys=keys, args=args) for keys, args in calls))
            )
        else:
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    await self._take(keys=keys, args=args, client=pipe)
                results = await pipe.execute()
        for room_id, result in zip(rooms, results, strict=True):
            if room_id not in self._wanted:
                continue  # dropped while the renewal ran; `drop` gave it up
            if not result:
                self._fences.pop(room_id, None)
                continue
            fence = result.decode() if isinstance(result, bytes) else str(result)
            if self._fences.get(room_id) != fence:
                self._fences[room_id] = fence
                self.on_granted(room_id)

    async def _give_up(self, room_id: str, fence: str) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            await self._release(keys=[StreamKeys.of(self._prefix, room_id).lease], args=[fence])
