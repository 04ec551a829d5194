"""The tournament scheduler: starts, ends and pays out tournaments on time, and cancels on request.

Every node runs one. The pure state machine (`lifecycle`) says what is due; the database applies
it with a compare-and-set on the status, so when two nodes see the same tournament due, one moves
it and the other finds it moved. Completion and cancellation are single idempotent transactions:
run twice, or crashed midway and run again, they pay once. The clock is the database's, one for
every node; the schedule lives in the database, so a restart picks up where it stopped. After a
change commits, this node's room (if open) announces it to its members.
"""

import asyncio
import logging
import time
from collections.abc import Callable
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
from roomserver.domain import lifecycle
from roomserver.domain.refusal import Refusal
from roomserver.domain.tournament import Tournament
from roomserver.services.live_rooms import LiveRooms
from roomserver.store.ledger import Ledger
from roomserver.store.pool import LedgerReply
from roomserver.store.tournaments import LifecycleCandidate

log = logging.getLogger(__name__)

# A late scheduler may owe several steps at once (start, then end, then complete).
_MAX_STEPS: Final = 3
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


class TournamentScheduler:
    """Moves tournaments through their lifecycle and announces each move to the room."""

    def __init__(
        self, ledger: Ledger, rooms: LiveRooms, *, tick_s: float, shared_rooms: bool = False
    ) -> None:
        """A scheduler ticking every `tick_s` seconds.

        With `shared_rooms` (nodes share the rooms' streams), the node that moves a tournament
        announces it even when the room is not open here: the members are on other nodes.
        """
        self._ledger = ledger
        self._rooms = rooms
        self._tick_s = tick_s
        self._shared_rooms = shared_rooms
        self._moving: set[str] = set()

    async def run(self) -> None:
        """Tick until cancelled.

        Each due tournament is moved in its own task, so one waiting on a lock (a payout behind
        a busy account) never holds up the others; a tournament still being moved is skipped by
        later ticks, and a failed move is retried at the next one.
        """
        async with asyncio.TaskGroup() as moves:
            while True:
                try:
                    candidates = await self._ledger.lifecycle_candidates()
                except Exception:
                    log.exception("tournament scheduler could not read the schedule")
                    candidates = []
                for candidate in candidates:
                    if candidate.tournament_id not in self._moving:
                        self._moving.add(candidate.tournament_id)
                        moves.create_task(self._move(candidate))
                await asyncio.sleep(self._tick_s)

    async def _move(self, candidate: LifecycleCandidate) -> None:
        try:
            await self._catch_up(candidate)
        except Exception:
            log.exception("tournament %s: lifecycle step failed", candidate.tournament_id)
        finally:
            self._moving.discard(candidate.tournament_id)

    async def advance(self, tournament_id: str) -> int:
        """Apply what is due for one tournament now (e.g. right after it was created)."""
        applied = 0
        for candidate in await self._ledger.lifecycle_candidates(tournament_id):
            applied += await self._catch_up(candidate)
        return applied

    async def _catch_up(self, candidate: LifecycleCandidate) -> int:
        applied = 0
        status = candidate.status
        for _step in range(_MAX_STEPS):
            event = lifecycle.due_event(
                candidate.kind, status, candidate.starts_at, candidate.ends_at, candidate.now
            )
            if event is None:
                break
            moved_to = await self._apply(candidate.tournament_id, status, event)
            if moved_to is None:
                break  # another node got there first; it carries on from here
            applied += 1
            status = moved_to
        return applied

    async def cancel(self, tournament_id: str) -> LedgerReply:
        """Cancel with refunds, once; the stored record on a repeat.

        The caller turns a refusal (`NOT_FOUND`, `TOURNAMENT_FINISHED`) into its error.
        """
        reply = await self._ledger.cancel_tournament(tournament_id)
        if reply.status is Refusal.OK:
            assert reply.response_json is not None
            await self._announce_closing(tournament_id, reply.response_json)
        return reply

    async def _apply(
        self, tournament_id: str, status: TournamentStatus, event: lifecycle.Event
    ) -> TournamentStatus | None:
        """Apply one event; the new status, or None when this node did not move it."""
        if event == "complete":
            reply = await self._ledger.complete_tournament(tournament_id)
            if reply.status is not Refusal.OK:
                return None
            assert reply.response_json is not None
            log.info("tournament %s completed", tournament_id)
            await self._announce_closing(tournament_id, reply.response_json)
            return "completed"
        to_status = lifecycle.next_status(status, event)
        if not await self._ledger.move_tournament(tournament_id, status, to_status):
            return None
        log.info("tournament %s: %s -> %s", tournament_id, status, to_status)
        if event == "start":
            await self._announce_started(tournament_id)
        return to_status

    async def _announce_started(self, tournament_id: str) -> None:
        def started(tournament: Tournament) -> ServerMessage:
            ends_at = tournament.config.ends_at
            return TournamentStarted(
                room=tournament_id,
                ts=_now(),
                payload=TournamentStartedPayload(
                    status=tournament.status,
                    server_seed_hash=tournament.server_seed_hash,
                    ends_at=None if ends_at is None else format_ts(ends_at.timestamp()),
                ),
            )

        await self._announce(tournament_id, started)

    async def _announce_closing(self, tournament_id: str, response_json: str) -> None:
        """Announce the closing, then push each paid player connected here their new cash.

        The balances follow the announcement, which says why they changed.
        """
        await self._announce(tournament_id, lambda _: closing_announcement(response_json))
        paid = _closing_decoder.decode(response_json).paid_players()
        if paid:
            await self._rooms.push_cash(tournament_id, paid)

    async def _announce(
        self, tournament_id: str, announcement: Callable[[Tournament], ServerMessage]
    ) -> None:
        """Tell the room's members, with its new state.

        On a single node, only when the room is open (no member, nobody to tell); with shared
        rooms, the room is opened to publish, and every node's room follows the frame.
        """
        room = self._rooms.get(tournament_id)
        if room is None and self._shared_rooms:
            room = await self._rooms.open(tournament_id)
        if room is None:
            return
        tournament = await self._ledger.load_tournament(tournament_id)
        if tournament is not None:
            await room.lifecycle_changed(tournament, announcement(tournament))


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
