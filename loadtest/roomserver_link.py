"""The links for our own wire (PROTOCOL.md v1): a minted token, `room.join`, then `spin`.

`roomserver-bench` triggers `bench.publish` instead (a node with `server.bench_publish`): the
peers' event on our wire, for the fan-out benchmark.
"""

import calendar
import functools
import time
from typing import ClassVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from loadtest.links import (
    CONNECTION_CLOSED,
    Joined,
    Link,
    ReplyHandler,
    SocketLink,
    Target,
    websocket_options,
)
from loadtest.peer_links import PUBLISH_PAYLOAD
from loadtest.tokens import mint_token
from protocol.codec import encode
from protocol.codes import SUBPROTOCOL
from protocol.messages import BenchPublish, RoomJoin, Spin


class _Head(msgspec.Struct):
    """Just what the generator reads of a server frame; the payload stays undecoded."""

    type: str
    rid: str | None = None
    room: str | None = None
    seq: int | None = None
    ts: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")


class _JoinReply(msgspec.Struct):
    seq: int = 0
    replayed: int = 0
    epoch: str | None = None


class _ErrorReply(msgspec.Struct):
    code: str = "INTERNAL"


_head = msgspec.json.Decoder(_Head)
_join_reply = msgspec.json.Decoder(_JoinReply)
_error_reply = msgspec.json.Decoder(_ErrorReply)


class _Clock:
    """`2026-11-21T10:00:00.123Z` to epoch seconds, the whole-second part cached."""

    __slots__ = ("_prefix", "_seconds")

    def __init__(self) -> None:
        self._prefix = ""
        self._seconds = 0.0

    def epoch_s(self, ts: str) -> float:
        prefix = ts[:19]
        if prefix != self._prefix:
            self._seconds = float(calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S")))
            self._prefix = prefix
        return self._seconds + int(ts[20:23]) / 1000.0


class RoomserverLink(SocketLink):
    """One player's connection to a roomserver node."""

    wire: ClassVar[str] = "roomserver"
    replies: ClassVar[bool] = True

    def __init__(self, ws: ClientConnection, target: Target) -> None:
        """Start reading the open `ws`; every spin stakes the target's `stake`."""
        self._stake = target.stake
        self._clock = _Clock()
        self._next_rid = 0
        self._spins: dict[str, ReplyHandler] = {}
        # Frames still to come that a `room.resumed` announced as replayed (they follow it).
        self._replaying = 0
        super().__init__(ws, target)

    @classmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> Link:
        """Connect as `player_id` with a token minted for the player."""
        ws = await connect(
            target.url,
            additional_headers={"Authorization": f"Bearer {mint_token(target, player_id)}"},
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            **websocket_options(target, source_host),
        )
        return cls(ws, target)

    async def join(
        self, room: str, since_seq: int | None = None, since_epoch: str | None = None
    ) -> Joined:
        """Send `room.join` and wait for `room.snapshot` (or `room.resumed` with `since_seq`).

        Raises:
            LinkError: the error code of a refused join, or CONNECTION_CLOSED.
        """
        rid = self._rid()
        request = RoomJoin(rid=rid, room=room, since_seq=since_seq, since_epoch=since_epoch)
        return await self._join(rid, encode(request))

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Send a `spin` with idempotency key `key`; its `spin.result` or error is the reply."""
        rid = self._rid()
        self._spins[rid] = on_reply
        if not self._write_now(
            encode(Spin(rid=rid, room=room, stake=self._stake, idempotency_key=key))
        ):
            del self._spins[rid]
            on_reply(CONNECTION_CLOSED)

    def _rid(self) -> str:
        self._next_rid += 1
        return f"r{self._next_rid}"

    def _on_frame(self, data: bytes, received_s: float) -> None:
        head = _head.decode(data)
        if head.seq is not None and head.room is not None and head.ts is not None:
            if self._replaying:
                self._replaying -= 1
                self.on_replay(head.room, head.seq)
            else:
                self.on_push(head.room, head.seq, self._clock.epoch_s(head.ts), received_s)
            return
        rid = head.rid
        if rid is None:
            return
        kind = head.type
        if kind == "spin.result":
            on_reply = self._spins.pop(rid, None)
            if on_reply is not None:
                on_reply(None)
        elif kind in ("room.snapshot", "room.resumed"):
            reply = _join_reply.decode(head.payload)
            resumed = kind == "room.resumed"
            if resumed:
                self._replaying = reply.replayed
            self._joined(rid, Joined(reply.seq, resumed, reply.replayed, reply.epoch or ""))
        elif kind == "error":
            code = _error_reply.decode(head.payload).code
            if (on_reply := self._spins.pop(rid, None)) is not None:
                on_reply(code)
            elif not self._join_refused(rid, code):
                self.on_error(code)

    def _on_closed(self) -> None:
        super()._on_closed()
        spins, self._spins = self._spins, {}
        for on_reply in spins.values():
            on_reply(CONNECTION_CLOSED)


# The rid of every `bench.publish`: an error the node answers one with is counted, not matched.
BENCH_RID = "bench"
_BENCH_PAYLOAD = msgspec.Raw(msgspec.json.encode(PUBLISH_PAYLOAD))


@functools.lru_cache(maxsize=65536)
def _bench_publish(room: str) -> bytes:
    return encode(BenchPublish(rid=BENCH_RID, room=room, payload=_BENCH_PAYLOAD))


class RoomserverBenchLink(RoomserverLink):
    """Our wire doing the peers' job: `bench.publish` of their payload, `bench.update` to all.

    The node must run with `server.bench_publish`. A publish has no reply: like a peer's, it is
    done once sent. Each member's `bench.update` is a room frame, timed like any other.
    """

    wire: ClassVar[str] = "roomserver-bench"
    replies: ClassVar[bool] = False

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Publish the peers' payload to the room; done once sent (`key` is unused)."""
        self._send_now(_bench_publish(room), on_reply)
