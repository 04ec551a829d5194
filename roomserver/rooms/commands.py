"""The commands a room's actor takes: posted by other tasks, applied in the room's task."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from protocol.messages import ServerMessage
from roomserver.domain.tournament import Tournament
from roomserver.rooms.member import Member


def _future() -> "asyncio.Future[None]":
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class Join:
    """A member joins (or rejoins with `since_seq`); its snapshot or resume is the reply."""

    member: Member
    since_seq: int | None
    since_epoch: str | None
    balance: int
    rid: str | None
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class Leave:
    """A member leaves (`reply`: answer `room.left`) or its connection closed."""

    member: Member
    rid: str | None
    reply: bool
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class Score:
    """A committed score change; the player's rank after it is the answer."""

    player_id: str
    name: str
    score: int
    reached_at_s: float
    version: int
    done: asyncio.Future[int | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class Unregister:
    """A player hopped off: out of the standings."""

    player_id: str
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class Lifecycle:
    """The tournament moved on: publish the announcement (once, given an idempotency key)."""

    tournament: Tournament
    announcement: ServerMessage
    once: str | None
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class Balances:
    """Direct `balance` frames to players connected here, after their money moved."""

    balances: Mapping[str, int]
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class WentOffline:
    """A player's last connection, on a node that died, was removed: tell the room."""

    player_id: str
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class Heard:
    """Another node told the standings it committed (an encoded `StandingsNote`)."""

    note: bytes


@dataclass(slots=True)
class Seen:
    """The ticker published a leaderboard (the encoded frame): what members saw."""

    frame: bytes


class Refresh:
    """A lifecycle frame went by: reload the tournament (another node may have moved it)."""


REFRESH: Final = Refresh()
# How every lifecycle and leaderboard frame starts (msgspec writes the tag first).
LIFECYCLE_PREFIX: Final = b'{"type":"room.tournament.'
LEADERBOARD_PREFIX: Final = b'{"type":"leaderboard.updated"'


class Flush:
    """The coalescing tick is due."""


FLUSH: Final = Flush()
Command = (
    Join
    | Leave
    | Score
    | Unregister
    | Lifecycle
    | Balances
    | WentOffline
    | Heard
    | Seen
    | Refresh
    | Flush
)
