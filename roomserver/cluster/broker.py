"""The broker: sequences a room's broadcast frames, keeps their recent history, fans them out.

The shape follows Centrifuge's broker. `publish` gives the frame the room stream's next offset
(the frame's `seq`) and returns the stream position `(offset, epoch)`; `history` serves the
frames after a position while the bounded window still covers it; `subscribe` delivers every
frame of the room in publish order, the publishing node's own frames included, so each node
hands its members exactly what the stream holds. Presence is a separate interface
(`roomserver.cluster.presence`).

How a frame gets its `seq`: `publish` takes the message (a `ServerMessage` with no `seq`) and
the broker encodes it. The offset is assigned where the stream lives: in process for
`LocalBroker`, inside one Lua script for a Redis broker (INCR the offset, XADD the frame, PUBLISH
it, all atomic). The bytes stored and fanned out must carry that offset, yet the script cannot
run msgspec. So the frame is encoded once, before the offset is known, as a `FrameTemplate`: the
encoded bytes split around the `seq` value. The script joins `head .. offset .. tail`, with no
round trip between choosing the offset and storing the frame and no lock across nodes. The local
broker, which knows the offset before it encodes, encodes the message with its `seq` directly;
`FrameTemplate.render` gives byte-identical frames, which the contract tests check.
"""

from collections.abc import Callable
from typing import Final, NamedTuple, Protocol

import msgspec

from protocol.codec import encode
from protocol.messages import ServerMessage

# A `seq` no real stream reaches (offsets are microseconds since 1970, below 2**53), used only
# to find where the value sits in the encoded bytes.
_SEQ_PLACEHOLDER: Final = 2**62 + 12345
_SEQ_FIELD: Final = b'"seq":'


class StreamPosition(NamedTuple):
    """A place in a room's stream: the offset of a frame (its `seq`) and the stream's epoch.

    Offsets of different epochs are not comparable: a new epoch starts whenever the stream's
    history was lost.
    """

    offset: int
    epoch: str


Deliver = Callable[[StreamPosition, bytes], None]
"""Receives one published frame (already encoded, its `seq` set) and its position."""

HearNote = Callable[[bytes], None]
"""Receives one note forwarded to a room (see `Broker.forward`)."""


class FrameTemplate(NamedTuple):
    """An encoded frame with a hole for its `seq`: `head + str(offset).encode() + tail`."""

    head: bytes
    tail: bytes

    @classmethod
    def of(cls, message: ServerMessage) -> "FrameTemplate":
        """Encode `message` once, leaving its `seq` to be filled in.

        Raises:
            ValueError: when the message already has a `seq` (a frame is sequenced once).
        """
        if message.seq is not None:
            raise ValueError("a frame to publish must not have a seq yet")
        frame = encode(msgspec.structs.replace(message, seq=_SEQ_PLACEHOLDER))
        # msgspec encodes the required `payload` first and the envelope's optional fields after
        # it; only `ts`, a string, follows `seq`, and a quote inside a string is escaped. So the
        # last `"seq":<placeholder>` is the envelope's own, whatever the payload holds (a
        # `bench.update` payload is any JSON a client wrote).
        value = str(_SEQ_PLACEHOLDER).encode()
        at = frame.rindex(_SEQ_FIELD + value) + len(_SEQ_FIELD)
        return cls(frame[:at], frame[at + len(value) :])

    def render(self, offset: int) -> bytes:
        """The frame with `offset` as its `seq`."""
        return self.head + str(offset).encode() + self.tail


class Broker(Protocol):
    """Sequencing, history and fan-out of room frames; one implementation per deployment."""

    async def publish(
        self,
        room_id: str,
        message: ServerMessage,
        *,
        fence: str | None = None,
        once: str | None = None,
    ) -> StreamPosition:
        """Give `message` the room's next offset as its `seq`, keep it in history, fan it out.

        `message` is not modified; it must not carry a `seq`. A frame only the room's ticker
        may publish carries the ticker's `fence` (see `roomserver.cluster.ticker`). A frame
        that must go out once however often it is retried carries an idempotency key, `once`:
        a frame already published with it is not published again.

        Returns:
            The position of the published frame (of the earlier one, for a repeated `once`).

        Raises:
            StaleFence: `fence` no longer holds the room's ticker lease; nothing was published.
        """
        ...

    async def forward(self, room_id: str, note: bytes) -> None:
        """Tell every node with the room open (this one included) `note`: not a frame.

        Notes carry what nodes tell each other about a room (the standings they committed); they
        have no `seq`, are not kept, and reach the nodes subscribed at that moment at most once.
        """
        ...

    async def position(self, room_id: str) -> StreamPosition:
        """The room stream's current top: the offset of its last frame (a snapshot's `seq`).

        Starts the stream (a new epoch, offsets from the clock) when there is none.
        """
        ...

    async def history(self, room_id: str, since: StreamPosition) -> list[bytes] | None:
        """The frames after `since`, oldest first.

        Returns:
            The frames (empty when `since` is the top), or None when they cannot all be served:
            `since` is of another epoch, ahead of the top, or older than the window held.
        """
        ...

    async def subscribe(self, room_id: str, deliver: Deliver, hear: HearNote | None = None) -> None:
        """Call `deliver` with each frame published to the room from now on, in publish order.

        `hear`, when given, is called with each note forwarded to the room from now on.
        """
        ...

    async def unsubscribe(self, room_id: str, deliver: Deliver) -> None:
        """Stop calling `deliver` for the room (a no-op when it was not subscribed)."""
        ...
