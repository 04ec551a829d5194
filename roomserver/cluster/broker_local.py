"""The in-process broker of a single node: bounded history per room, synchronous delivery."""

import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from protocol.codec import encode
from protocol.messages import ServerMessage
from roomserver.cluster.broker import Deliver, HearNote, StreamPosition

DEFAULT_STREAM_TTL_S: Final = 600.0
_SWEEP_EVERY_S: Final = 10.0


def _clock_offset() -> int:
    # The clock in microseconds: a new stream continues above every offset an earlier stream of
    # the room used (one frame per microsecond is far beyond any room), so a seq never goes
    # backwards across a restart; below 2**53 until the year 2255, so safe in JavaScript.
    return time.time_ns() // 1000


def _new_epoch() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True)
class _Stream:
    epoch: str
    top: int
    frames: deque[bytes]
    last_active_s: float
    subscribers: list[Deliver] = field(default_factory=list)
    hearers: dict[Deliver, HearNote] = field(default_factory=dict)
    # The idempotency keys of frames published, with their positions (few: announcements).
    once: dict[str, StreamPosition] = field(default_factory=dict)


class LocalBroker:
    """`Broker` in process memory.

    Each room's stream keeps its last `history_size` frames. A stream starts (a new random
    epoch, offsets from the clock) on first use and is dropped once it has had no subscriber
    and no publish for `stream_ttl_s`, so memory stays bounded by the rooms in use; a client
    resuming a dropped stream gets a snapshot (its epoch is gone).

    Delivery is synchronous: `publish` calls every subscriber before it returns, in publish
    order, on the caller's task. Subscribers must not block and must not publish from the
    callback.
    """

    def __init__(
        self,
        history_size: int,
        *,
        stream_ttl_s: float = DEFAULT_STREAM_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        start_offset: Callable[[], int] = _clock_offset,
        new_epoch: Callable[[], str] = _new_epoch,
    ) -> None:
        """Create an empty broker.

        Args:
            history_size: Frames kept per room for resume.
            stream_ttl_s: How long a stream without subscribers outlives its last publish.
            clock: Monotonic seconds, for expiry.
            start_offset: The offset a new stream starts at (its first frame gets the next).
            new_epoch: The epoch of a new stream.
        """
        self._history_size = history_size
        self._stream_ttl_s = stream_ttl_s
        self._clock = clock
        self._start_offset = start_offset
        self._new_epoch = new_epoch
        self._streams: dict[str, _Stream] = {}
        self._next_sweep_s = clock() + _SWEEP_EVERY_S

    def __len__(self) -> int:
        """The number of streams held."""
        return len(self._streams)

    async def publish(
        self,
        room_id: str,
        message: ServerMessage,
        *,
        fence: str | None = None,
        once: str | None = None,
    ) -> StreamPosition:
        """Sequence, store and deliver one frame (see `Broker.publish`).

        One node holds every ticker lease: a `fence` is never stale here.
        """
        if message.seq is not None:
            raise ValueError("a frame to publish must not have a seq yet")
        stream = self._stream(room_id)
        if once is not None and once in stream.once:
            return stream.once[once]
        stream.top += 1
        frame = encode(msgspec.structs.replace(message, seq=stream.top))
        stream.frames.append(frame)
        position = StreamPosition(stream.top, stream.epoch)
        if once is not None:
            stream.once[once] = position
        # A copy: a subscriber may unsubscribe from its callback.
        for deliver in tuple(stream.subscribers):
            deliver(position, frame)
        return position

    async def position(self, room_id: str) -> StreamPosition:
        """The room's current top (see `Broker.position`)."""
        stream = self._stream(room_id)
        return StreamPosition(stream.top, stream.epoch)

    async def history(self, room_id: str, since: StreamPosition) -> list[bytes] | None:
        """The frames after `since`, or None when they are not all held."""
        self._sweep()
        stream = self._streams.get(room_id)
        if stream is None or since.epoch != stream.epoch or since.offset > stream.top:
            return None
        # Offsets are consecutive: the window holds top-len+1 .. top.
        first = stream.top - len(stream.frames) + 1
        if since.offset + 1 < first:
            return None
        return list(itertools.islice(stream.frames, since.offset + 1 - first, None))

    async def forward(self, room_id: str, note: bytes) -> None:
        """Hand `note` to the room's subscribers that listen for notes (see `Broker.forward`)."""
        stream = self._streams.get(room_id)
        if stream is not None:
            for hear in tuple(stream.hearers.values()):
                hear(note)

    async def subscribe(self, room_id: str, deliver: Deliver, hear: HearNote | None = None) -> None:
        """Deliver the room's frames to `deliver` (and its notes to `hear`) from now on."""
        stream = self._stream(room_id)
        stream.subscribers.append(deliver)
        if hear is not None:
            stream.hearers[deliver] = hear

    async def unsubscribe(self, room_id: str, deliver: Deliver) -> None:
        """Stop delivering to `deliver`; the stream stays for resume until it expires."""
        stream = self._streams.get(room_id)
        if stream is not None and deliver in stream.subscribers:
            stream.subscribers.remove(deliver)
            stream.hearers.pop(deliver, None)
            stream.last_active_s = self._clock()

    def _stream(self, room_id: str) -> _Stream:
        self._sweep()
        stream = self._streams.get(room_id)
        now = self._clock()
        if stream is None:
            stream = _Stream(
                epoch=self._new_epoch(),
                top=self._start_offset(),
                frames=deque(maxlen=self._history_size),
                last_active_s=now,
            )
            self._streams[room_id] = stream
        else:
            stream.last_active_s = now
        return stream

    def _sweep(self) -> None:
        now = self._clock()
        if now < self._next_sweep_s:
            return
        self._next_sweep_s = now + _SWEEP_EVERY_S
        expired = [
            room_id
            for room_id, stream in self._streams.items()
            if not stream.subscribers and now - stream.last_active_s >= self._stream_ttl_s
        ]
        for room_id in expired:
            del self._streams[room_id]
