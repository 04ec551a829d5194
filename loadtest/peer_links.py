"""Links for the peers of the fan-out benchmark (bench/README.md): the same job on other servers.

Every peer speaks the bench wire: join a room (the answer carries the room's seq), publish a
payload to it, and every member, the publisher included, receives one `update` {room, seq, ts,
payload} per publish, `ts` being the server's send time in epoch milliseconds. The wires differ
only in framing:

- `ws-json`: JSON text frames on a plain WebSocket (the bare websockets and Node.js ws peers);
- `socketio`: Socket.IO v5 events over Engine.IO v4 on a WebSocket, spoken here directly;
- `colyseus`: Colyseus 0.18 room messages: HTTP matchmaking, then a WebSocket per room with
  msgpack-encoded messages.

A peer has nothing to answer, so `trigger` is fire-and-forget. Only what the measurement needs
is decoded from a frame (room, seq, ts); the payload is skipped.
"""

import asyncio
import contextlib
import functools
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidState

from loadtest.links import (
    CONNECTION_CLOSED,
    Joined,
    Link,
    LinkError,
    ReplyHandler,
    SocketLink,
    Target,
    websocket_options,
)


def _leaderboard_payload() -> dict[str, Any]:
    """A published payload the size of our `leaderboard.updated` one (a top 10, one change)."""
    entries = [[f"lt-{i:06d}", f"lt-{i:06d}", 12345 - 100 * (i - 1), i] for i in range(1, 11)]
    return {"entries": entries, "changed": [["lt-000002", 3, 2]]}


PUBLISH_PAYLOAD: dict[str, Any] = _leaderboard_payload()
_PAYLOAD_JSON = msgspec.json.encode(PUBLISH_PAYLOAD)


class _Body(msgspec.Struct):
    """What is read of a room frame; any other field (the payload) is skipped undecoded."""

    room: str = ""
    seq: int = 0
    ts: float = 0.0


class _Frame(msgspec.Struct):
    type: str
    room: str = ""
    seq: int = 0
    ts: float = 0.0


# ---------------------------------------------------------------- ws-json


_frame = msgspec.json.Decoder(_Frame)


@functools.lru_cache(maxsize=65536)
def _json_publish(room: str) -> bytes:
    return b'{"type":"publish","room":%s,"payload":%s}' % (msgspec.json.encode(room), _PAYLOAD_JSON)


class WsJsonLink(SocketLink):
    """The bench wire as JSON text frames on a plain WebSocket (the `--url` as given)."""

    wire: ClassVar[str] = "ws-json"
    replies: ClassVar[bool] = False

    @classmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> Link:
        """Connect to the `--url`; the peer knows no players, so `player_id` is unused."""
        ws = await connect(target.url, **websocket_options(target, source_host))
        return cls(ws, target)

    async def join(
        self, room: str, since_seq: int | None = None, since_epoch: str | None = None
    ) -> Joined:
        """Send `join` and wait for `joined`; a peer cannot resume: `since_*` are unused."""
        request = b'{"type":"join","room":%s}' % msgspec.json.encode(room)
        return await self._join(room, request)

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Publish the payload to the room; done once sent."""
        self._send_now(_json_publish(room), on_reply)

    def _on_frame(self, data: bytes, received_s: float) -> None:
        frame = _frame.decode(data)
        if frame.type == "update":
            self.on_push(frame.room, frame.seq, frame.ts / 1000.0, received_s)
        elif frame.type == "joined":
            self._joined(frame.room, Joined(frame.seq))


# ---------------------------------------------------------------- socketio

# Engine.IO v4 packet types lead a frame: 0 open, 1 close, 2 ping, 3 pong, 4 message; a message
# carries a Socket.IO v5 packet: 0 connect, 1 disconnect, 2 event, 3 ack, 4 connect error.
_EIO_PING = b"2"
_EIO_PONG = b"3"
_EIO_CLOSE = b"1"
_SIO_CONNECT = b"40"
_SIO_DISCONNECT = b"41"
_SIO_CONNECT_ERROR = b"44"
_SIO_EVENT = b"42"

_event = msgspec.json.Decoder(tuple[str, _Body])


@functools.lru_cache(maxsize=65536)
def _socketio_publish(room: str) -> bytes:
    return b'42["publish",{"room":%s,"payload":%s}]' % (msgspec.json.encode(room), _PAYLOAD_JSON)


def socketio_url(url: str) -> str:
    """The Engine.IO WebSocket endpoint at the host and port of `url` (its path is ignored)."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme in ("wss", "https") else "ws"
    return f"{scheme}://{parts.netloc}/socket.io/?EIO=4&transport=websocket"


class SocketIoLink(SocketLink):
    """Socket.IO events `join`, `publish` (sent) and `joined`, `update` (received)."""

    wire: ClassVar[str] = "socketio"
    replies: ClassVar[bool] = False

    @classmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> Link:
        """Connect to the Engine.IO endpoint and wait for the Socket.IO namespace's connect.

        Raises:
            LinkError: SOCKETIO_NO_OPEN or SOCKETIO_CONNECT_ERROR when the handshake fails.
        """
        options = websocket_options(target, source_host)
        ws = await connect(socketio_url(target.url), **options)
        try:
            async with asyncio.timeout(target.open_timeout_s):
                opened = await ws.recv(decode=False)
                if opened[:1] != b"0":
                    raise LinkError("SOCKETIO_NO_OPEN")
                await ws.send(_SIO_CONNECT, text=True)
                while True:
                    answer = await ws.recv(decode=False)
                    if answer[:2] == _SIO_CONNECT:
                        break
                    if answer[:2] == _SIO_CONNECT_ERROR:
                        raise LinkError("SOCKETIO_CONNECT_ERROR")
                    if answer == _EIO_PING:
                        await ws.send(_EIO_PONG, text=True)
        except BaseException:
            ws.transport.abort()
            raise
        return cls(ws, target)

    async def join(
        self, room: str, since_seq: int | None = None, since_epoch: str | None = None
    ) -> Joined:
        """Emit `join` and wait for `joined`; a peer cannot resume: `since_*` are unused."""
        request = b'42["join",{"room":%s}]' % msgspec.json.encode(room)
        return await self._join(room, request)

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Emit `publish` with the payload to the room; done once sent."""
        self._send_now(_socketio_publish(room), on_reply)

    def _on_frame(self, data: bytes, received_s: float) -> None:
        head = data[:2]
        if head == _SIO_EVENT:
            name, body = _event.decode(memoryview(data)[2:])
            if name == "update":
                self.on_push(body.room, body.seq, body.ts / 1000.0, received_s)
            elif name == "joined":
                self._joined(body.room, Joined(body.seq))
        elif data == _EIO_PING:
            self._ws.protocol.send_text(_EIO_PONG)
            self._ws.send_data()
        elif head == _SIO_DISCONNECT or data == _EIO_CLOSE:
            self._ws.transport.close()


# ---------------------------------------------------------------- colyseus

# Colyseus 0.18 protocol codes (the low 5 bits of a frame's first byte).
_JOIN_ROOM = 10
_ERROR = 11
_LEAVE_ROOM = 12
_ROOM_DATA = 13
_CODE_MASK = 0x1F
# The Colyseus room type of the bench peer, and its matchmaking request.
COLYSEUS_ROOM_TYPE = "bench"


class _Seat(msgspec.Struct):
    """A seat reservation from the matchmaker."""

    roomId: str  # noqa: N815 - the matchmaker's field names
    sessionId: str  # noqa: N815
    processId: str  # noqa: N815


class _MatchmakeError(msgspec.Struct):
    code: int = 0
    error: str = ""


_seat = msgspec.json.Decoder(_Seat)
_matchmake_error = msgspec.json.Decoder(_MatchmakeError)
_body = msgspec.msgpack.Decoder(_Body)


def _room_data(kind: str, message: object) -> bytes:
    """A ROOM_DATA frame: the code, the type as a Colyseus string, the message in msgpack."""
    name = kind.encode()
    assert len(name) < 32
    return bytes([_ROOM_DATA, 0xA0 | len(name)]) + name + msgspec.msgpack.encode(message)


@functools.lru_cache(maxsize=65536)
def _colyseus_publish(room: str) -> bytes:
    return _room_data("publish", {"room": room, "payload": PUBLISH_PAYLOAD})


def _read_number(data: bytes, at: int) -> tuple[int, int]:
    """A Colyseus number (msgpack-like prefix, little-endian body): value, next offset."""
    prefix = data[at]
    if prefix < 0x80:
        return prefix, at + 1
    size = {0xCC: 1, 0xCD: 2, 0xCE: 4}.get(prefix)
    if size is None:
        return 0, len(data)
    return int.from_bytes(data[at + 1 : at + 1 + size], "little"), at + 1 + size


def _read_string(data: bytes, at: int) -> tuple[bytes, int]:
    """A Colyseus string (msgpack fixstr or str 8): value, next offset."""
    prefix = data[at]
    if 0xA0 <= prefix < 0xC0:
        size, at = prefix & 0x1F, at + 1
    elif prefix == 0xD9:
        size, at = data[at + 1], at + 2
    else:
        return b"", len(data)
    return data[at : at + size], at + size


def _error_code(frame: bytes) -> str:
    """The code of an ERROR frame [11][code][message]."""
    code, _ = _read_number(frame, 1)
    return f"COLYSEUS_{code}"


async def _http_post(
    host: str, port: int, path: str, body: bytes, source_host: str | None
) -> tuple[int, bytes]:
    """One HTTP/1.1 POST of JSON on its own connection: status and body."""
    local_addr = (source_host, 0) if source_host is not None else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
    try:
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Accept: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (path.encode(), host.encode(), port, len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        else:
            data = await reader.read()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                data = _dechunk(data)
    finally:
        writer.transport.abort()
    return status, data


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    at = 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";", 1)[0], 16)
        if size == 0:
            break
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2
    return bytes(out)


class ColyseusLink(Link):
    """A Colyseus client: per room, a matchmade seat and a WebSocket to the room.

    `--url` gives the host and port of the Colyseus server (its path is ignored). The first
    frame on a room's socket is JOIN_ROOM; the client acknowledges it with JOIN_ROOM, then the
    room's messages flow: ROOM_DATA [13][type][msgpack message].
    """

    wire: ClassVar[str] = "colyseus"
    replies: ClassVar[bool] = False

    def __init__(self, target: Target, source_host: str | None) -> None:
        """A client of the server at the target's host and port, with no room joined yet."""
        super().__init__()
        parts = urlsplit(target.url)
        self._secure = parts.scheme in ("wss", "https")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._secure else 80)
        self._target = target
        self._source_host = source_host
        self._sockets: dict[str, ClientConnection] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._joins: dict[str, asyncio.Future[Joined]] = {}

    @classmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> Link:
        """The client; nothing is connected yet (`player_id` is unused)."""
        # A Colyseus connection belongs to one room: it is opened by `join`.
        return cls(target, source_host)

    async def join(
        self, room: str, since_seq: int | None = None, since_epoch: str | None = None
    ) -> Joined:
        """Take a seat in the room, open its socket and wait for `joined`.

        A peer cannot resume: `since_*` are unused.

        Raises:
            LinkError: ALREADY_JOINED, a refused matchmaking (MATCHMAKE_...) or a protocol
                failure (COLYSEUS_...).
        """
        if room in self._sockets or room in self._joins:
            raise LinkError("ALREADY_JOINED")
        joined: asyncio.Future[Joined] = asyncio.get_running_loop().create_future()
        self._joins[room] = joined
        try:
            async with asyncio.timeout(self._target.open_timeout_s):
                ws = await self._enter(room)
                self._sockets[room] = ws
                self._readers.append(asyncio.get_running_loop().create_task(self._read(ws)))
                return await asyncio.shield(joined)
        finally:
            self._joins.pop(room, None)

    async def _enter(self, room: str) -> ClientConnection:
        request = msgspec.json.encode({"room": room})
        path = f"/matchmake/joinOrCreate/{COLYSEUS_ROOM_TYPE}"
        status, body = await _http_post(self._host, self._port, path, request, self._source_host)
        if status != 200:
            failure = _matchmake_error.decode(body) if body[:1] == b"{" else _MatchmakeError()
            raise LinkError(f"MATCHMAKE_{failure.code or status}")
        seat = _seat.decode(body)
        scheme = "wss" if self._secure else "ws"
        url = (
            f"{scheme}://{self._host}:{self._port}/{seat.processId}/{seat.roomId}"
            f"?sessionId={seat.sessionId}"
        )
        ws = await connect(url, **websocket_options(self._target, self._source_host))
        try:
            first = await ws.recv(decode=False)
            if not first:
                raise LinkError("COLYSEUS_PROTOCOL")
            code = first[0] & _CODE_MASK
            if code == _ERROR:
                raise LinkError(_error_code(first))
            if code != _JOIN_ROOM:
                raise LinkError("COLYSEUS_PROTOCOL")
            await ws.send(bytes([_JOIN_ROOM]), text=False)
        except BaseException:
            ws.transport.abort()
            raise
        return ws

    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Publish the payload on the room's socket; NOT_JOINED for a room not joined."""
        ws = self._sockets.get(room)
        if ws is None:
            on_reply("NOT_JOINED")
            return
        try:
            ws.protocol.send_binary(_colyseus_publish(room))
        except InvalidState:
            on_reply(CONNECTION_CLOSED)
            return
        ws.send_data()
        on_reply(None)

    async def close(self) -> None:
        """Leave every room; sockets the rooms have not closed within 5 s are closed here."""
        for ws in self._sockets.values():
            # LEAVE_ROOM: the room lets the client go and closes the socket (code 4000).
            with contextlib.suppress(ConnectionClosed):
                await ws.send(bytes([_LEAVE_ROOM]), text=False)
        if self._readers:
            _, pending = await asyncio.wait(self._readers, timeout=5.0)
            if pending:
                await asyncio.gather(*(ws.close() for ws in self._sockets.values()))
                await asyncio.wait(self._readers)
        if not self.closed.done():  # never joined: no socket to end
            self.closed.set_result(None)

    def drop(self) -> None:
        """Abort every room's TCP connection."""
        for ws in self._sockets.values():
            ws.transport.abort()
        if not self._sockets and not self.closed.done():
            self.closed.set_result(None)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            while True:
                data = await ws.recv(decode=False)
                received_s = time.time()
                if not data or data[0] & _CODE_MASK != _ROOM_DATA:
                    continue
                kind, at = _read_string(data, 1)
                if kind == b"update":
                    body = _body.decode(memoryview(data)[at:])
                    self.on_push(body.room, body.seq, body.ts / 1000.0, received_s)
                elif kind == b"joined":
                    body = _body.decode(memoryview(data)[at:])
                    joined = self._joins.get(body.room)
                    if joined is not None and not joined.done():
                        joined.set_result(Joined(body.seq))
        except ConnectionClosed:
            pass
        finally:
            for joined in self._joins.values():
                if not joined.done():
                    joined.set_exception(LinkError(CONNECTION_CLOSED))
            if not self.closed.done():
                self.closed.set_result(ws.close_code)
