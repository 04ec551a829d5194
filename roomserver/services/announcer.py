"""The room announcer: tells a tournament's members of each lifecycle move, exactly once.

A move (started, completed, cancelled) commits together with a row in `room_announcements`.
Any node's announcer claims the row, publishes the frame through the room with the row's id as
its idempotency key, and deletes the row. So a node that dies after the commit loses nothing
(another node's announcer finds the row), and one that dies after publishing but before the
delete publishes nothing twice (the broker remembers the key).
"""

import logging
import time
from typing import Final

import msgspec

from protocol.codec import format_ts
from protocol.ids import TournamentStatus
from protocol.messages import (
    LeaderboardEntry,
    PrizePayload,
    ServerMessage,
    TournamentCompleted,
    TournamentCompletedPayload,
    TournamentStarted,
    TournamentStartedPayload,
)
from roomserver.domain.tournament import Tournament
from roomserver.services.live_rooms import LiveRooms
from roomserver.store.announcements import Announcement
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)

_CLAIM_LIMIT: Final = 50
# Final standings in the completed frame: the prize winners and at least the leaderboard.
_MAX_STANDINGS_IN_FRAME: Final = 1000


class ClosingStanding(msgspec.Struct, frozen=True):
    """A final standing as `complete_tournament` records it."""

    rank: int
    player_id: str
    name: str
    score: int
    prize: int


class ClosingRefund(msgspec.Struct, frozen=True):
    """A buy-in refunded by a cancellation, as `cancel_tournament` records it."""

    player_id: str
    amount: int


class Closing(msgspec.Struct, frozen=True):
    """How a tournament ended, as recorded (tournament_closings.response)."""

    tournament_id: str
    status: TournamentStatus
    currency: str
    server_seed: str
    standings: list[ClosingStanding] = []
    refunds: list[ClosingRefund] = []

    def paid_players(self) -> list[str]:
        """The players whose cash the closing credited: prize winners, or refunded buy-ins."""
        return [s.player_id for s in self.standings if s.prize > 0] + [
            r.player_id for r in self.refunds if r.amount > 0
        ]


_closing_decoder: Final = msgspec.json.Decoder(Closing)


class RoomAnnouncer:
    """Publishes the moves waiting in `room_announcements` (see the module's docstring)."""

    def __init__(self, ledger: Ledger, rooms: LiveRooms, *, shared_rooms: bool) -> None:
        """An announcer for this node's `rooms`.

        With `shared_rooms` (nodes share the rooms' streams) a room not open here is opened to
        publish: its members are on other nodes. Otherwise a room not open has nobody to tell.
        """
        self._ledger = ledger
        self._rooms = rooms
        self._shared_rooms = shared_rooms

    async def announce_pending(self) -> int:
        """Publish what waits, oldest first; returns how many were announced.

        One that fails is left for the next call (so are those after it, to keep the order).
        """
        announced = 0
        async with self._ledger.claim_announcements(_CLAIM_LIMIT) as claim:
            for announcement in claim.announcements:
                try:
                    await self._announce(announcement)
                except Exception:
                    log.exception(
                        "tournament %s: could not announce %s; retrying later",
                        announcement.tournament_id,
                        announcement.status,
                    )
                    break
                claim.done(announcement)
                announced += 1
        return announced

    async def _announce(self, announcement: Announcement) -> None:
        tournament_id = announcement.tournament_id
        room = self._rooms.get(tournament_id)
        if room is None and self._shared_rooms:
            room = await self._rooms.open(tournament_id)
        if room is None:
            return
        tournament = await self._ledger.load_tournament(tournament_id)
        if tournament is None:
            return
        paid: list[str] = []
        if announcement.status == "running":
            message = started_announcement(tournament)
        else:
            response_json = await self._ledger.tournament_closing(tournament_id)
            if response_json is None:
                raise RuntimeError(f"tournament {tournament_id} closed with no closing record")
            message = closing_announcement(response_json)
            paid = _closing_decoder.decode(response_json).paid_players()
        await room.lifecycle_changed(
            tournament, message, once=f"announcement:{announcement.announcement_id}"
        )
        # The balances follow the announcement, which says why they changed.
        if paid:
            await self._rooms.push_cash(tournament_id, paid)


def started_announcement(tournament: Tournament) -> ServerMessage:
    """The `room.tournament.started` frame."""
    ends_at = tournament.config.ends_at
    return TournamentStarted(
        room=tournament.config.tournament_id,
        ts=_now(),
        payload=TournamentStartedPayload(
            status="running",
            server_seed_hash=tournament.server_seed_hash,
            ends_at=None if ends_at is None else format_ts(ends_at.timestamp()),
        ),
    )


def closing_announcement(response_json: str) -> ServerMessage:
    """The `room.tournament.completed` frame for a recorded completion or cancellation."""
    closing = _closing_decoder.decode(response_json)
    winners = sum(1 for standing in closing.standings if standing.prize > 0)
    shown = closing.standings[: max(_MAX_STANDINGS_IN_FRAME, winners)]
    return TournamentCompleted(
        room=closing.tournament_id,
        ts=_now(),
        payload=TournamentCompletedPayload(
            status=closing.status,
            standings=[LeaderboardEntry(s.player_id, s.name, s.score, s.rank) for s in shown],
            prizes=[
                PrizePayload(
                    player_id=s.player_id, rank=s.rank, amount=s.prize, currency=closing.currency
                )
                for s in closing.standings
                if s.prize > 0
            ],
            server_seed=closing.server_seed,
        ),
    )


def _now() -> str:
    return format_ts(time.time())
