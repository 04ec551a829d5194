"""The link for our own wire (PROTOCOL.md v1): a minted token, `room.join`, `spin`."""

import asyncio
import calendar
import time
from typing import Any, ClassVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from loadtest.links import Joined, Link, LinkError, ReplyHandler, Target, register_wire
from loadtest.tokens import mint_token
from protocol.codec import encode
from protocol.codes import SUBPROTOCOL
from protocol.messages import RoomJoin, Spin


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


@register_wire
class RoomserverLink(Link):
    """One player's connection to a roomserver node."""

    wire: ClassVar[str] = "roomserver"
    replies: ClassVar[bool] = True

    def __init__(self, ws: ClientConnection, target: Target) -> None:
        super().__init__()
        self._ws = ws
        self._stake = target.stake
        self._clock = _Clock()
        self._next_rid = 0
        self._spins: dict[str, ReplyHandler] = {}
        self._joins: dict[str, asyncio.Future[Joined]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> Link:
        token = mint_token(target, player_id)
        options: dict[str, Any] = {}
        if source_host is not None:
            options["local_addr"] = (source_host, 0)
        ws = await connect(
            target.url,
            additional_headers={"Authorization": f"Bearer {token}"},
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            open_timeout=target.open_timeout_s,
            compression=None,
            max_queue=None,
            ping_interval=None,
            # Loopback load: never through an HTTP(S)_PROXY from the environment.
            proxy=None,
            **options,
        )
        return cls(ws, target)

    async def join(self, room: str, since_seq: int | None = None) -> Joined:
        rid = self._rid()
        joined: asyncio.Future[Joined] = asyncio.get_running_loop().create_future()
        self._joins[rid] = joined
        await self._ws.send(encode(RoomJoin(rid=rid, room=room, since_seq=since_seq)), text=True)
        return await joined

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        rid = self._rid()
        self._spins[rid] = on_reply
        frame = encode(Spin(rid=rid, room=room, stake=self._stake, idempotency_key=key))
        # Written now, not queued behind a task: an open-loop send must leave at its time.
        self._ws.protocol.send_text(frame)
        self._ws.send_data()

    async def close(self) -> None:
        await self._ws.close()
        await asyncio.wait([self._reader])

    def drop(self) -> None:
        self._ws.transport.abort()

    def _rid(self) -> str:
        self._next_rid += 1
        return f"r{self._next_rid}"

    async def _read(self) -> None:
        ws = self._ws
        try:
            while True:
                data = await ws.recv(decode=False)
                received_s = time.time()
                head = _head.decode(data)
                if head.seq is not None and head.room is not None and head.ts is not None:
                    self.on_push(head.room, head.seq, self._clock.epoch_s(head.ts), received_s)
                    continue
                if head.rid is None:
                    continue
                self._answer(head)
        except ConnectionClosed:
            pass
        finally:
            self._fail_pending("CONNECTION_CLOSED")
            if not self.closed.done():
                self.closed.set_result(ws.close_code)

    def _answer(self, head: _Head) -> None:
        rid = head.rid
        assert rid is not None
        kind = head.type
        if kind == "spin.result":
            on_reply = self._spins.pop(rid, None)
            if on_reply is not None:
                on_reply(None)
        elif kind in ("room.snapshot", "room.resumed"):
            joined = self._joins.pop(rid, None)
            if joined is not None and not joined.done():
                reply = _join_reply.decode(head.payload)
                joined.set_result(Joined(reply.seq, kind == "room.resumed", reply.replayed))
        elif kind == "error":
            code = _error_reply.decode(head.payload).code
            if (on_reply := self._spins.pop(rid, None)) is not None:
                on_reply(code)
            elif (joined := self._joins.pop(rid, None)) is not None and not joined.done():
                joined.set_exception(LinkError(code))

    def _fail_pending(self, code: str) -> None:
        spins, self._spins = self._spins, {}
        for on_reply in spins.values():
            on_reply(code)
        for joined in self._joins.values():
            if not joined.done():
                joined.set_exception(LinkError(code))
        self._joins.clear()
