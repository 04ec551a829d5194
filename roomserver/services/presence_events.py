"""Presence as events: a player's connection joined or left a tournament's room on a node.

They change nothing in the database; they go out through the outbox like every other event,
so the Tournament System hears of them in order with the money events.
"""

import logging
from typing import Final

import msgspec

from protocol.codec import format_ts
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)
_encoder: Final = msgspec.json.Encoder()


class PresenceEvents:
    """Records `room.player.connected` and `room.player.disconnected`."""

    def __init__(self, ledger: Ledger) -> None:
        """Events written to `ledger`'s outbox."""
        self._ledger = ledger

    async def connected(
        self, room_id: str, player_id: str, *, node_id: str, connected_at_s: float
    ) -> None:
        """The player's connection (opened at `connected_at_s`) joined the room on `node_id`."""
        await self._record("room.player.connected", room_id, player_id, node_id, connected_at_s)

    async def disconnected(
        self, room_id: str, player_id: str, *, node_id: str, connected_at_s: float
    ) -> None:
        """The player's connection left the room (or closed) on `node_id`."""
        await self._record("room.player.disconnected", room_id, player_id, node_id, connected_at_s)

    async def _record(
        self, event_type: str, room_id: str, player_id: str, node_id: str, connected_at_s: float
    ) -> None:
        # A notice: failing to record it never fails the join or the leave.
        payload = {"node_id": node_id, "connected_at": format_ts(connected_at_s)}
        try:
            await self._ledger.emit_event(
                event_type,
                tournament_id=room_id,
                player_id=player_id,
                payload_json=_encoder.encode(payload).decode(),
            )
        except Exception:
            log.exception("could not record %s of %s", event_type, player_id)
