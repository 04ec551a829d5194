"""Presence: which players are connected to a room, counted across every node serving it.

A player may hold several connections to one room (a replaced connection overlaps its
successor for a moment; a player may open the room on two nodes). Presence counts connections
per player and reports players: a player is online while at least one of their connections is.
Connection ids are unique per node; an implementation shared by nodes qualifies them with the
node's id, and expires a node's connections when its heartbeats stop.
"""

from typing import Protocol


class Presence(Protocol):
    """Per-room connection counts of each member, and the players online."""

    async def add(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Record a connection of the player to the room.

        Returns:
            Whether the player came online (it was the player's first connection there).
        """
        ...

    async def remove(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Forget a connection (a no-op for one not recorded).

        Returns:
            Whether the player went offline (it was the player's last connection there).
        """
        ...

    async def count(self, room_id: str) -> int:
        """The number of distinct players online in the room."""
        ...

    async def is_online(self, room_id: str, player_id: str) -> bool:
        """Whether the player has a connection to the room."""
        ...
