"""What the use cases need of the rooms open on this node (the `rooms` layer implements it).

Services sit below the room runtime: they tell a live room that committed work moved its
standings or its lifecycle, and read its ranks, through these interfaces only.
"""

from collections.abc import Iterable
from typing import Protocol

from protocol.messages import ServerMessage
from roomserver.domain.tournament import Tournament


class LiveRoom(Protocol):
    """One tournament's room, open on this node."""

    @property
    def room_id(self) -> str:
        """The tournament's id."""
        ...

    @property
    def tournament(self) -> Tournament:
        """The tournament as last announced to the room."""
        ...

    def is_member(self, player_id: str) -> bool:
        """Whether the player is connected to this room on this node."""
        ...

    def rank_of(self, player_id: str) -> int | None:
        """The player's current rank."""
        ...

    async def record_score(
        self, player_id: str, name: str, score: int, reached_at_s: float, version: int
    ) -> int | None:
        """Apply a committed score change; returns the player's rank after it."""
        ...

    async def unregister(self, player_id: str) -> None:
        """Take a player who hopped off out of the standings."""
        ...

    async def lifecycle_changed(
        self, tournament: Tournament, announcement: ServerMessage, *, once: str | None = None
    ) -> None:
        """The tournament moved on: tell every member."""
        ...


class LiveRooms(Protocol):
    """The rooms open on this node."""

    def get(self, room_id: str) -> LiveRoom | None:
        """An open room, or None."""
        ...

    async def open(self, room_id: str) -> LiveRoom | None:
        """The tournament's room, opened if needed; None when there is no such tournament."""
        ...

    async def players_online(self, room_id: str) -> int:
        """Players connected to the room on any node."""
        ...

    async def ticker_node(self, room_id: str) -> str | None:
        """The node publishing the room's leaderboard, or None when no node has members."""
        ...

    async def push_chips(self, room_id: str, player_id: str, chips: int) -> None:
        """Push the player's chips after a registration credited them."""
        ...

    async def push_cash(self, room_id: str, player_ids: Iterable[str]) -> None:
        """Push the players' cash after a refund or a prize paid them."""
        ...
