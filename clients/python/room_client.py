"""A client of the public wire protocol: connect with a token, send messages, read frames.

Speaks only what PROTOCOL.md describes (imports `protocol`, never the server).
"""

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from protocol.codec import decode_server, encode
from protocol.codes import SUBPROTOCOL
from protocol.messages import AnyServerMessage, ClientMessage

Frame = TypeVar("Frame", bound=msgspec.Struct)


class RoomClient:
    """One player's connection."""

    def __init__(self, ws: ClientConnection) -> None:
        """Wrap an open connection (see `connect`)."""
        self.ws = ws

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str,
        *,
        origin: str | None = None,
        in_query: bool = False,
        open_timeout_s: float = 10.0,
        **options: Any,
    ) -> Self:
        """Open a connection, presenting the token as a bearer header or `?token=`."""
        headers = {} if in_query else {"Authorization": f"Bearer {token}"}
        # An unbounded receive queue: a test or load client that reads late must not stall the
        # closing handshake (websockets stops reading the socket when its queue is full).
        options.setdefault("max_queue", None)
        target = f"{url}?token={token}" if in_query else url
        ws = await connect(
            target,
            additional_headers=headers,
            origin=Origin(origin) if origin else None,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            open_timeout=open_timeout_s,
            compression=None,
            **options,
        )
        return cls(ws)

    async def __aenter__(self) -> Self:
        """The client itself; leaving the block closes it."""
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection with the closing handshake."""
        await self.ws.close()

    async def send(self, message: ClientMessage) -> None:
        """Send one message."""
        await self.ws.send(encode(message), text=True)

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (for malformed input)."""
        await self.ws.send(data)

    async def recv(self, timeout_s: float = 10.0) -> AnyServerMessage:
        """The next frame."""
        async with asyncio.timeout(timeout_s):
            data = await self.ws.recv(decode=False)
        return decode_server(data)

    async def recv_type(
        self, kind: type[Frame], timeout_s: float = 10.0, *, rid: str | None = None
    ) -> Frame:
        """Read frames until one of type `kind` (and `rid`, when given); others are skipped."""
        async with asyncio.timeout(timeout_s):
            while True:
                frame = await self.recv(timeout_s)
                if isinstance(frame, kind) and (rid is None or getattr(frame, "rid", None) == rid):
                    return frame

    async def replies(self, rids: Sequence[str], timeout_s: float = 10.0) -> dict[str, Any]:
        """The direct replies (any type) to the given request ids, in whatever order they come."""
        wanted, found = set(rids), {}
        async with asyncio.timeout(timeout_s):
            while wanted:
                frame = await self.recv(timeout_s)
                rid = getattr(frame, "rid", None)
                if rid in wanted:
                    wanted.discard(rid)
                    found[rid] = frame
        return found

    async def until_closed(self, timeout_s: float = 10.0) -> list[AnyServerMessage]:
        """Every frame until the server closes the connection; the code is in `close_code`."""
        frames: list[AnyServerMessage] = []
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    data = await self.ws.recv(decode=False)
                except ConnectionClosed:
                    return frames
                frames.append(decode_server(data))

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, once closed."""
        return self.ws.close_code

    async def collect(self, kinds: Sequence[type[Any]], duration_s: float) -> list[Any]:
        """Every frame of the given types received during `duration_s`."""
        frames: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration_s
        while (remaining := deadline - loop.time()) > 0:
            try:
                frame = await self.recv(remaining)
            except TimeoutError:
                break
            if isinstance(frame, tuple(kinds)):
                frames.append(frame)
        return frames
