"""`Broker` on Redis: every node of a deployment publishes to and delivers from one stream per room.

Each frame is sequenced by one Lua script that, atomically, increments the room's offset, adds
the frame to the room's stream with the offset as its ID (bounded to the history size), and
publishes it on the room's channel. So a frame is in history before any node delivers it, and
every node sees the same frames with the same offsets in the same order.

A node delivers only what its subscription brings (its own frames included). It checks each
room's offsets: a duplicate is dropped, a gap is repaired from the stream. redis-py subscribes
again by itself after a reconnect but loses what was published meanwhile, so after every
(re)connect, and periodically, each subscribed room's position is checked and any missed frames
are read from the stream. The subscriptions themselves, their probes and their reconnects are
`roomserver.cluster.channels_redis`.

Keys of one room share the hash tag `{t:<room>}`, so a room lives on one Redis Cluster shard;
on a cluster the script publishes with `SPUBLISH` and nodes subscribe with `SSUBSCRIBE`, so a
room's frames travel only through its own shard.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from protocol.messages import ServerMessage
from roomserver.cluster.broker import Deliver, FrameTemplate, HearNote, StreamPosition
from roomserver.cluster.channels_redis import RedisChannels
from roomserver.cluster.stream_scripts import POSITION, PUBLISH, StreamKeys
from roomserver.cluster.ticker import StaleFence

log = logging.getLogger(__name__)

# A note on a room's channel starts so; a frame starts with its offset (digits).
_NOTE_PREFIX: Final = b"n "
# How long a frame's idempotency key is remembered: retries come within minutes, not days.
_ONCE_TTL_S: Final = 86400
_CLOSE_TIMEOUT_S: Final = 2.0


def _clock_offset() -> int:
    # As in the local broker: a new stream continues above every offset an earlier stream of
    # the room used, so a seq never goes backwards when Redis loses a stream.
    return time.time_ns() // 1000


@dataclass(slots=True)
class _Subscription:
    """A room this node delivers: its subscribers and the last position delivered."""

    keys: StreamKeys
    subscribers: list[Deliver] = field(default_factory=list)
    hearers: dict[Deliver, HearNote] = field(default_factory=dict)
    last: StreamPosition | None = None
    # Messages that arrived before `last` was known, delivered once it is.
    early: list[tuple[StreamPosition, bytes]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RedisBroker:
    """`Broker` over one Redis server (see the module's docstring)."""

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        history_size: int,
        *,
        node_id: str,
        stream_ttl_s: float = 600.0,
        check_interval_s: float = 2.0,
        probe_timeout_s: float = 5.0,
        key_prefix: str = "rs:",
        new_epoch: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        """A broker over `client`; `start` opens the subscription.

        Args:
            client: The Redis client (commands and scripts).
            history_size: Frames kept per room for resume.
            node_id: This node's name (its probe channel).
            stream_ttl_s: A room's stream expires after this long without a publish or a check
                by a node with members in it.
            check_interval_s: How often each subscribed room's position is checked, and the
                subscription probed.
            probe_timeout_s: A probe not back within this long means the subscription is dead:
                it is reconnected and every room resynchronised.
            key_prefix: Prefix of every key and channel.
            new_epoch: The epoch of a new stream.
        """
        self._client = client
        self._history_size = history_size
        self._ttl_s = max(1, int(stream_ttl_s))
        self._check_interval_s = check_interval_s
        self._probe_timeout_s = probe_timeout_s
        self._prefix = key_prefix
        self._new_epoch = new_epoch
        self._publish_script = client.register_script(PUBLISH)
        self._position_script = client.register_script(POSITION)
        self._channels = RedisChannels(
            client,
            node_id=node_id,
            key_prefix=key_prefix,
            on_message=self._on_message,
            on_reconnect=self._resync_soon,
            probe_timeout_s=probe_timeout_s,
        )
        self._publish_command = "SPUBLISH" if self._channels.sharded else "PUBLISH"
        self._rooms: dict[str, _Subscription] = {}
        self._by_channel: dict[bytes, _Subscription] = {}
        self._histories: dict[tuple[str, StreamPosition], asyncio.Task[list[bytes] | None]] = {}
        self._checks: asyncio.Task[None] | None = None
        self._resync = asyncio.Event()
        self._closing = False
        self.gaps_repaired = 0
        self.resyncs = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the subscription and start the periodic checks."""
        await self._channels.start()
        self._checks = asyncio.create_task(self._check(), name="broker-checks")

    async def close(self) -> None:
        """Stop the checks and close the subscriptions."""
        self._closing = True
        if self._checks is not None:
            self._checks.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await asyncio.shield(self._checks)
            self._checks = None
        await self._channels.close()

    # ------------------------------------------------------------ Broker

    async def publish(
        self,
        room_id: str,
        message: ServerMessage,
        *,
        fence: str | None = None,
        once: str | None = None,
    ) -> StreamPosition:
        """Sequence, store and publish one frame in one script call (see `Broker.publish`).

        Raises:
            StaleFence: `fence` no longer holds the room's ticker lease.
        """
        template = FrameTemplate.of(message)
        keys = StreamKeys.of(self._prefix, room_id)
        try:
            offset, epoch = await self._publish_script(
                keys=[keys.stream, keys.meta, keys.channel, keys.lease, keys.once],
                args=[
                    template.head,
                    template.tail,
                    self._history_size,
                    self._ttl_s,
                    self._new_epoch(),
                    _clock_offset(),
                    fence or "",
                    once or "",
                    _ONCE_TTL_S,
                    self._publish_command,
                ],
            )
        except redis.ResponseError as exc:
            if "STALE_FENCE" in str(exc):
                raise StaleFence(room_id) from None
            raise
        return StreamPosition(int(offset), _text(epoch))

    async def forward(self, room_id: str, note: bytes) -> None:
        """Publish `note` on the room's channel, unsequenced (see `Broker.forward`)."""
        await self._channels.publish(
            StreamKeys.of(self._prefix, room_id).channel, _NOTE_PREFIX + note
        )

    async def position(self, room_id: str) -> StreamPosition:
        """The room's current top, starting its stream when there is none."""
        return await self._position(StreamKeys.of(self._prefix, room_id))

    async def history(self, room_id: str, since: StreamPosition) -> list[bytes] | None:
        """The frames after `since`, or None when the stream cannot serve them all.

        Concurrent reads of the same room from the same position share one Redis call (a node
        that died sends all its clients back at once).
        """
        key = (room_id, since)
        pending = self._histories.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_history(room_id, since))
            self._histories[key] = pending
            pending.add_done_callback(lambda _: self._histories.pop(key, None))
        return await asyncio.shield(pending)

    async def subscribe(self, room_id: str, deliver: Deliver, hear: HearNote | None = None) -> None:
        """Deliver the room's frames to `deliver` (and its notes to `hear`) from now on.

        The first subscriber of a room on this node subscribes the node's connection to the
        room's channel.
        """
        subscription = self._rooms.get(room_id)
        if subscription is not None:
            subscription.subscribers.append(deliver)
            if hear is not None:
                subscription.hearers[deliver] = hear
            return
        keys = StreamKeys.of(self._prefix, room_id)
        subscription = _Subscription(keys, [deliver])
        if hear is not None:
            subscription.hearers[deliver] = hear
        self._rooms[room_id] = subscription
        self._by_channel[keys.channel.encode()] = subscription
        try:
            await self._channels.subscribe(keys.channel)
            # Everything published after the confirmation arrives on the channel; the top read
            # now is where delivery starts (earlier frames are history, not news).
            top = await self._position(keys)
        except BaseException:
            self._forget(room_id)
            raise
        async with subscription.lock:
            subscription.last = top
            early, subscription.early = subscription.early, []
            for position, frame in early:
                await self._accept(subscription, position, frame)

    async def unsubscribe(self, room_id: str, deliver: Deliver) -> None:
        """Stop calling `deliver`; the last local subscriber unsubscribes the channel."""
        subscription = self._rooms.get(room_id)
        if subscription is None or deliver not in subscription.subscribers:
            return
        subscription.subscribers.remove(deliver)
        subscription.hearers.pop(deliver, None)
        if not subscription.subscribers:
            self._forget(room_id)
            await self._channels.unsubscribe(subscription.keys.channel)

    # ------------------------------------------------------------ reading

    async def _on_message(self, channel: bytes, data: bytes) -> None:
        subscription = self._by_channel.get(channel)
        if subscription is None:
            return
        if data.startswith(_NOTE_PREFIX):
            note = data[len(_NOTE_PREFIX) :]
            for hear in tuple(subscription.hearers.values()):
                try:
                    hear(note)
                except Exception:
                    log.exception("a subscriber failed on a note")
            return
        offset, epoch, frame = data.split(b" ", 2)
        position = StreamPosition(int(offset), epoch.decode())
        if subscription.last is None:
            subscription.early.append((position, frame))
            return
        async with subscription.lock:
            await self._accept(subscription, position, frame)

    async def _accept(
        self, subscription: _Subscription, position: StreamPosition, frame: bytes
    ) -> None:
        """Deliver `frame` in order: drop a duplicate, repair a gap before it (lock held)."""
        last = subscription.last
        assert last is not None
        if position.epoch == last.epoch:
            if position.offset <= last.offset:
                return
            if position.offset > last.offset + 1:
                missed = await self._range(subscription.keys, last, position.offset - 1)
                if missed is not None:
                    self.gaps_repaired += 1
                    for offset, missed_frame in missed:
                        self._deliver(
                            subscription, StreamPosition(offset, last.epoch), missed_frame
                        )
                # Otherwise the window no longer holds them: the subscribers see the jump.
        self._deliver(subscription, position, frame)

    def _deliver(self, subscription: _Subscription, position: StreamPosition, frame: bytes) -> None:
        subscription.last = position
        for deliver in tuple(subscription.subscribers):
            try:
                deliver(position, frame)
            except Exception:
                log.exception("a subscriber failed on a frame")

    # ------------------------------------------------------------ repair

    async def _check(self) -> None:
        """Probe the subscription and check every room's position.

        Each interval, or at once after a reconnect.
        """
        while not self._closing:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that races the
            # event, and the broker would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._check_interval_s):
                    await self._resync.wait()
            resync = self._resync.is_set()
            self._resync.clear()
            try:
                if await self._channels.probe():
                    resync = True
                if resync:
                    self.resyncs += 1
                await self._catch_up_all()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("broker check failed (%s)", exc)
                self._resync.set()
                await asyncio.sleep(min(self._check_interval_s, 1.0))
            except Exception:
                log.exception("broker check failed")

    async def _catch_up_all(self) -> None:
        for subscription in list(self._rooms.values()):
            if subscription.last is None:
                continue
            top = await self._position(subscription.keys)
            async with subscription.lock:
                last = subscription.last
                if last is None or (top.epoch == last.epoch and top.offset <= last.offset):
                    continue
                if top.epoch != last.epoch:
                    # Redis lost the stream: the next frame starts the new epoch; the
                    # subscribers learn of it with that frame.
                    continue
                missed = await self._range(subscription.keys, last, top.offset)
                if missed is None:
                    continue
                self.gaps_repaired += 1
                for offset, frame in missed:
                    self._deliver(subscription, StreamPosition(offset, last.epoch), frame)

    def _resync_soon(self) -> None:
        # A subscribed connection (re)connected and subscribed again: what was published
        # meanwhile is read from the streams.
        self._resync.set()

    # ------------------------------------------------------------ Redis reads

    async def _position(self, keys: StreamKeys) -> StreamPosition:
        top, epoch = await self._position_script(
            keys=[keys.stream, keys.meta], args=[self._ttl_s, self._new_epoch(), _clock_offset()]
        )
        return StreamPosition(int(top), _text(epoch))

    async def _read_history(self, room_id: str, since: StreamPosition) -> list[bytes] | None:
        keys = StreamKeys.of(self._prefix, room_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.meta, ["epoch", "top"])
            pipe.xrange(keys.stream, min=f"{since.offset + 1}-0", max="+")
            (epoch, top), entries = await pipe.execute()
        if epoch is None or _text(epoch) != since.epoch or since.offset > int(top):
            return None
        frames = _consecutive(entries, since.offset + 1, int(top))
        return None if frames is None else [frame for _, frame in frames]

    async def _range(
        self, keys: StreamKeys, after: StreamPosition, through: int
    ) -> list[tuple[int, bytes]] | None:
        """The frames after `after` through `through`, or None when the stream lacks some."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hget(keys.meta, "epoch")
            pipe.xrange(keys.stream, min=f"{after.offset + 1}-0", max=f"{through}-0")
            epoch, entries = await pipe.execute()
        if epoch is None or _text(epoch) != after.epoch:
            return None
        return _consecutive(entries, after.offset + 1, through)

    def _forget(self, room_id: str) -> None:
        subscription = self._rooms.pop(room_id, None)
        if subscription is not None:
            self._by_channel.pop(subscription.keys.channel.encode(), None)


def _consecutive(
    entries: list[tuple[bytes, dict[bytes, bytes]]], first: int, last: int
) -> list[tuple[int, bytes]] | None:
    """The stream entries `first`..`last` with their offsets, or None when any is missing."""
    frames = [(int(entry_id.split(b"-", 1)[0]), fields[b"f"]) for entry_id, fields in entries]
    frames = [(offset, frame) for offset, frame in frames if offset <= last]
    expected = list(range(first, last + 1))
    if [offset for offset, _ in frames] != expected:
        return None
    return frames


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
