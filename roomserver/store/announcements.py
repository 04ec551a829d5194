"""Room announcements: lifecycle moves written with the move, claimed by one node's announcer."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from protocol.ids import TournamentStatus
from roomserver.store.pool import Connection, PoolStore


@dataclass(frozen=True, slots=True)
class Announcement:
    """A move to announce: the tournament and the status it moved to."""

    announcement_id: int
    tournament_id: str
    status: TournamentStatus


@dataclass(slots=True)
class ClaimedAnnouncements:
    """Announcements locked by one announcer until its transaction ends."""

    connection: Connection
    announcements: list[Announcement]
    announced: list[int] = field(default_factory=list)

    def done(self, announcement: Announcement) -> None:
        """The announcement was published: delete it when the claim ends."""
        self.announced.append(announcement.announcement_id)


class AnnouncementStore(PoolStore):
    """Claims and retires room announcements."""

    @contextlib.asynccontextmanager
    async def claim_announcements(self, limit: int) -> AsyncIterator[ClaimedAnnouncements]:
        """Claim up to `limit` announcements, oldest first; those marked `done` are deleted.

        Rows another announcer holds are skipped (`SKIP LOCKED`); a claim that ends without
        marking a row (an error, a crash) leaves it for the next claim.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                """SELECT announcement_id, tournament_id, status FROM room_announcements
                    ORDER BY announcement_id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                limit,
            )
            claim = ClaimedAnnouncements(
                connection,
                [Announcement(row[0], row[1], cast(TournamentStatus, row[2])) for row in rows],
            )
            yield claim
            if claim.announced:
                await connection.execute(
                    "DELETE FROM room_announcements WHERE announcement_id = ANY($1::bigint[])",
                    claim.announced,
                )
