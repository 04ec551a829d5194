"""A load-test connection, whatever the server's wire: join a room, cause events, hear pushes.

The scenarios speak to `Link`; each wire (our protocol, and the peers' fan-out servers in
`peer_links`) is one subclass, and `wires` names them. A link reads its socket in one task and
hands every pushed room frame to `on_push` with the time it arrived, so latency is measured
where the frame lands.
"""

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidState

# room, seq, the server's send time and our receive time (both epoch seconds).
PushHandler = Callable[[str, int, float, float], None]
# room, seq of a frame replayed after a resume (a missed frame, not a delivery to time).
ReplayHandler = Callable[[str, int], None]
# The outcome of one triggered event: None when it succeeded, else an error code.
ReplyHandler = Callable[[str | None], None]
# An error code the server sent for an event already done (one with no reply to wait for).
ErrorHandler = Callable[[str], None]

CONNECTION_CLOSED = "CONNECTION_CLOSED"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the server is and how to enter it."""

    url: str
    wire: str = "roomserver"
    jwt_secret: str = ""
    jwt_issuer: str = "casino-system"
    jwt_audience: str = "roomserver"
    stake: int = 10
    open_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Joined:
    """The server's answer to a join."""

    seq: int  # the room's current seq: the next push carries seq + 1
    resumed: bool = False  # the server replays what was missed after `since_seq`
    replayed: int = 0  # how many frames it replays
    epoch: str = ""  # the room stream's epoch (our wire), for a later `since_epoch`


class LinkError(Exception):
    """The server refused a request (its error code is the message)."""

    def __init__(self, code: str) -> None:
        """A refusal with the server's error `code`."""
        super().__init__(code)
        self.code = code


def _ignore_push(room: str, seq: int, sent_s: float, received_s: float) -> None:
    return None


def _ignore_replay(room: str, seq: int) -> None:
    return None


def _ignore_error(code: str) -> None:
    return None


class Link(ABC):
    """One connection of the load generator."""

    wire: ClassVar[str]
    # Whether `trigger` moves money (a spin) and so has a reply to time.
    replies: ClassVar[bool] = False

    def __init__(self) -> None:
        """A link that drops pushes until `on_push` is set; `closed` resolves when it ends."""
        self.on_push: PushHandler = _ignore_push
        self.on_replay: ReplayHandler = _ignore_replay
        self.on_error: ErrorHandler = _ignore_error
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    @abstractmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> "Link":
        """Connect (from `source_host` when given) and be ready to join."""

    @abstractmethod
    async def join(
        self, room: str, since_seq: int | None = None, since_epoch: str | None = None
    ) -> Joined:
        """Enter the room; with `since_seq` (of `since_epoch`), ask for the frames missed after it.

        Replayed frames go to `on_replay`, later ones to `on_push`.
        """

    @abstractmethod
    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Cause one event in the room now (a spin, or a published update) without waiting."""

    @abstractmethod
    async def close(self) -> None:
        """Close with the closing handshake."""

    @abstractmethod
    def drop(self) -> None:
        """Cut the TCP connection with no closing handshake (a lost network)."""


def websocket_options(target: Target, source_host: str | None) -> dict[str, Any]:
    """`websockets.connect` options every link uses (and `local_addr` for a source address)."""
    options: dict[str, Any] = {
        "open_timeout": target.open_timeout_s,
        "compression": None,
        # Read everything as it comes: a slow reader must not stall the socket.
        "max_queue": None,
        "ping_interval": None,
        # Loopback load: never through an HTTP(S)_PROXY from the environment.
        "proxy": None,
    }
    if source_host is not None:
        options["local_addr"] = (source_host, 0)
    return options


class SocketLink(Link):
    """A link over one WebSocket whose frames a reader task hands to `_on_frame`.

    Joins wait on a future under a key the wire's answer carries (the room, or a request id).
    """

    def __init__(self, ws: ClientConnection, target: Target) -> None:
        """Start reading the open `ws`; joins time out after the target's open timeout."""
        super().__init__()
        self._ws = ws
        self._timeout_s = target.open_timeout_s
        self._joins: dict[str, asyncio.Future[Joined]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _join(self, key: str, request: bytes) -> Joined:
        joined: asyncio.Future[Joined] = asyncio.get_running_loop().create_future()
        self._joins[key] = joined
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._ws.send(request, text=True)
                return await joined
        finally:
            if self._joins.get(key) is joined:
                del self._joins[key]

    def _joined(self, key: str, joined: Joined) -> None:
        waiting = self._joins.pop(key, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(joined)

    def _join_refused(self, key: str, code: str) -> bool:
        """Fail the join waiting under `key`; False when there is none."""
        waiting = self._joins.pop(key, None)
        if waiting is None:
            return False
        if not waiting.done():
            waiting.set_exception(LinkError(code))
        return True

    def _write_now(self, frame: bytes) -> bool:
        """Write a text frame now; False when the connection is no longer open.

        Not queued behind a task: an open-loop send must leave at its time.
        """
        try:
            self._ws.protocol.send_text(frame)
        except InvalidState:
            return False
        self._ws.send_data()
        return True

    def _send_now(self, frame: bytes, on_reply: ReplyHandler) -> None:
        """A fire-and-forget event: sent is done."""
        on_reply(None if self._write_now(frame) else CONNECTION_CLOSED)

    async def close(self) -> None:
        """Close with the closing handshake and wait for the reader to end."""
        await self._ws.close()
        await asyncio.wait([self._reader])

    def drop(self) -> None:
        """Abort the TCP connection; the reader ends as the socket does."""
        self._ws.transport.abort()

    async def _read(self) -> None:
        ws = self._ws
        try:
            while True:
                data = await ws.recv(decode=False)
                self._on_frame(data, time.time())
        except ConnectionClosed:
            pass
        finally:
            self._on_closed()
            if not self.closed.done():
                self.closed.set_result(ws.close_code)

    def _on_closed(self) -> None:
        """The socket ended: fail whatever still waits for an answer."""
        for joined in self._joins.values():
            if not joined.done():
                joined.set_exception(LinkError(CONNECTION_CLOSED))
        self._joins.clear()

    @abstractmethod
    def _on_frame(self, data: bytes, received_s: float) -> None:
        """Handle one frame from the server."""
