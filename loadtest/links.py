"""A load-test connection, whatever the server's wire: join a room, cause events, hear pushes.

The scenarios speak to `Link`; each wire (our protocol, and the peers' fan-out servers in
`peer_links`) is one subclass. A link reads its socket in one task and hands every pushed room
frame to `on_push` with the time it arrived, so latency is measured where the frame lands.
"""

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

# room, seq, the server's send time and our receive time (both epoch seconds).
PushHandler = Callable[[str, int, float, float], None]
# The outcome of one triggered event: None when it succeeded, else an error code.
ReplyHandler = Callable[[str | None], None]


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


class LinkError(Exception):
    """The server refused a request (its error code is the message)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _ignore_push(room: str, seq: int, sent_s: float, received_s: float) -> None:
    return None


class Link(ABC):
    """One connection of the load generator."""

    wire: ClassVar[str]
    # Whether `trigger` moves money (a spin) and so has a reply to time.
    replies: ClassVar[bool] = False

    def __init__(self) -> None:
        self.on_push: PushHandler = _ignore_push
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    @abstractmethod
    async def open(cls, target: Target, player_id: str, source_host: str | None) -> "Link":
        """Connect (from `source_host` when given) and be ready to join."""

    @abstractmethod
    async def join(self, room: str, since_seq: int | None = None) -> Joined:
        """Enter the room; with `since_seq`, ask for the frames missed after it."""

    @abstractmethod
    def trigger(self, room: str, key: str, on_reply: ReplyHandler) -> None:
        """Cause one event in the room now (a spin, or a published update) without waiting."""

    @abstractmethod
    async def close(self) -> None:
        """Close with the closing handshake."""

    @abstractmethod
    def drop(self) -> None:
        """Cut the TCP connection with no closing handshake (a lost network)."""


_WIRES: dict[str, type[Link]] = {}


def register_wire(link_class: type[Link]) -> type[Link]:
    """Make a wire selectable with `--wire NAME`."""
    _WIRES[link_class.wire] = link_class
    return link_class


def link_class(wire: str) -> type[Link]:
    """The link for a wire name."""
    # Importing the modules registers their wires.
    from loadtest import peer_links, roomserver_link  # noqa: F401

    try:
        return _WIRES[wire]
    except KeyError:
        raise ValueError(f"unknown wire {wire!r} (known: {', '.join(sorted(_WIRES))})") from None


def wire_names() -> list[str]:
    """Every selectable wire."""
    link_class("roomserver")
    return sorted(_WIRES)


def now_s() -> float:
    """Wall-clock epoch seconds (the clock the servers stamp frames with)."""
    return time.time()
