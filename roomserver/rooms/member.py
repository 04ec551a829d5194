"""What a room needs of a member's connection; the gateway's `Session` is one."""

from collections.abc import Sequence
from typing import Protocol

from protocol.codes import CloseReason


class Member(Protocol):
    """One player's connection as a room sees it."""

    @property
    def player_id(self) -> str:
        """The player's id."""
        ...

    @property
    def display_name(self) -> str:
        """The name shown to the room."""
        ...

    def send(self, frame: bytes, wire: bytes | None = None) -> bool:
        """Write one text frame; `wire` is the frame pre-framed once for a broadcast.

        Returns:
            Whether the frame was written (False when the connection is closing or slow).
        """
        ...

    def send_batch(self, frames: Sequence[bytes], wire: bytes) -> bool:
        """Write several text frames at once; `wire` is all of them pre-framed, in order.

        Returns:
            Whether the frames were written (False when the connection is closing or slow).
        """
        ...

    def left_room(self, room_id: str) -> None:
        """Forget the membership of `room_id` (the room removed this connection)."""
        ...

    def close(self, reason: CloseReason) -> None:
        """Close the connection (a newer connection of the player replaced it)."""
        ...
