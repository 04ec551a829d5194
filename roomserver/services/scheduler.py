"""The tournament scheduler: starts, ends and pays out tournaments on time, and cancels on request.

Every node runs one. The pure state machine (`lifecycle`) says what is due; the database applies
it with a compare-and-set on the status, so when two nodes see the same tournament due, one moves
it and the other finds it moved. Completion and cancellation are single idempotent transactions:
run twice, or crashed midway and run again, they pay once. The clock is the database's, one for
every node; the schedule lives in the database, so a restart picks up where it stopped. A move
commits with its announcement (see `roomserver.services.announcer`), which this node publishes
right after the commit; each tick also publishes any that a node which died left behind.
"""

import asyncio
import logging
import time
from typing import Final

from protocol.ids import TournamentStatus
from roomserver.domain import lifecycle
from roomserver.domain.refusal import Refusal
from roomserver.services.announcer import RoomAnnouncer
from roomserver.services.live_rooms import LiveRooms
from roomserver.store.ledger import Ledger
from roomserver.store.pool import LedgerReply
from roomserver.store.tournaments import LifecycleCandidate

log = logging.getLogger(__name__)

# A late scheduler may owe several steps at once (start, then end, then complete).
_MAX_STEPS: Final = 3
# How often announcements left behind (their node died after the move) are looked for.
_ANNOUNCEMENT_SWEEP_S: Final = 1.0


class TournamentScheduler:
    """Moves tournaments through their lifecycle and announces each move to the room."""

    def __init__(
        self, ledger: Ledger, rooms: LiveRooms, *, tick_s: float, shared_rooms: bool = False
    ) -> None:
        """A scheduler ticking every `tick_s` seconds.

        With `shared_rooms` (nodes share the rooms' streams), moves are announced even when the
        room is not open here: the members are on other nodes.
        """
        self._ledger = ledger
        self._rooms = rooms
        self._tick_s = tick_s
        self.announcer = RoomAnnouncer(ledger, rooms, shared_rooms=shared_rooms)
        self._moving: set[str] = set()

    async def run(self) -> None:
        """Tick until cancelled.

        Each due tournament is moved in its own task, so one waiting on a lock (a payout behind
        a busy account) never holds up the others; a tournament still being moved is skipped by
        later ticks, and a failed move is retried at the next one.
        """
        next_sweep_s = 0.0
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
                now = time.monotonic()
                if now >= next_sweep_s:
                    # What a node that died between a move and its announcement left behind.
                    next_sweep_s = now + _ANNOUNCEMENT_SWEEP_S
                    try:
                        await self.announcer.announce_pending()
                    except Exception:
                        log.exception("tournament scheduler could not announce")
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
            await self.announcer.announce_pending()
        return reply

    async def _apply(
        self, tournament_id: str, status: TournamentStatus, event: lifecycle.Event
    ) -> TournamentStatus | None:
        """Apply one event; the new status, or None when this node did not move it."""
        if event == "complete":
            reply = await self._ledger.complete_tournament(tournament_id)
            if reply.status is not Refusal.OK:
                return None
            log.info("tournament %s completed", tournament_id)
            await self.announcer.announce_pending()
            return "completed"
        to_status = lifecycle.next_status(status, event)
        if not await self._ledger.move_tournament(tournament_id, status, to_status):
            return None
        log.info("tournament %s: %s -> %s", tournament_id, status, to_status)
        if event == "start":
            await self.announcer.announce_pending()
        return to_status
