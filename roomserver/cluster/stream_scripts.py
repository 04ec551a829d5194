"""The Lua scripts and keys of a room's stream on Redis (see `roomserver.cluster.broker_redis`).

All keys of a room share the hash tag `{t:<room>}`, so a room's stream, its channel and its
ticker lease live on one Redis Cluster shard and one script can use them together.
"""

from dataclasses import dataclass
from typing import Final

# Both scripts start here. KEYS: stream, meta. `new_epoch`, `start_offset`: a new stream's epoch
# and first top. A room's stream starts (its epoch created, any stale entries dropped) when its
# meta is missing: first use, expiry, or Redis lost it.
OPEN_STREAM: Final = """
local function open_stream(new_epoch, start_offset)
  local epoch = redis.call('HGET', KEYS[2], 'epoch')
  if not epoch then
    epoch = new_epoch
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', start_offset)
  end
  return epoch
end
"""

# KEYS: stream, meta, channel, ticker lease, published idempotency keys. ARGV: head, tail, history
# size, ttl (s), epoch for a new stream, offset a new stream starts at, the ticker fence the frame
# needs ('' for none), the frame's idempotency key ('' for none), how long such keys are kept (s).
# Returns {offset, epoch} as strings (offsets stay below 2**53, and '%d' prints them whole where
# Lua's default number format would not): of the frame published, or of the one published earlier
# with the same idempotency key (nothing is published again); or the error STALE_FENCE when the
# fence does not hold the lease (nothing is published then).
PUBLISH: Final = (
    OPEN_STREAM
    + """
if ARGV[7] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[7] then
  return redis.error_reply('STALE_FENCE')
end
if ARGV[8] ~= '' then
  local earlier = redis.call('HGET', KEYS[5], ARGV[8])
  if earlier then
    local at = string.find(earlier, ' ', 1, true)
    return {string.sub(earlier, 1, at - 1), string.sub(earlier, at + 1)}
  end
end
local epoch = open_stream(ARGV[5], ARGV[6])
local offset = string.format('%d', redis.call('HINCRBY', KEYS[2], 'top', 1))
local frame = ARGV[1] .. offset .. ARGV[2]
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], offset .. '-0', 'f', frame)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[8], offset .. ' ' .. epoch)
  redis.call('EXPIRE', KEYS[5], ARGV[9])
end
redis.call(ARGV[10], KEYS[3], offset .. ' ' .. epoch .. ' ' .. frame)
return {offset, epoch}
"""
)

# KEYS: stream, meta. ARGV: ttl (s), epoch for a new stream, offset a new stream starts at.
# The stream's top, starting the stream when there is none; keeps a stream in use alive.
POSITION: Final = (
    OPEN_STREAM
    + """
local epoch = open_stream(ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {redis.call('HGET', KEYS[2], 'top'), epoch}
"""
)


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """A room's keys: stream, offset and epoch, channel, ticker lease, idempotency keys used."""

    stream: str
    meta: str
    channel: str
    lease: str
    once: str

    @classmethod
    def of(cls, prefix: str, room_id: str) -> "StreamKeys":
        """The keys of room `room_id`, every key and channel under `prefix`."""
        tag = f"{prefix}{{t:{room_id}}}"
        return cls(f"{tag}:stream", f"{tag}:meta", f"{tag}:frames", f"{tag}:ticker", f"{tag}:once")
