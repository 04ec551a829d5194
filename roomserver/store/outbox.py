"""The outbox: events written in the transaction of the change they report, claimed by relays.

A relay claims due rows with `FOR UPDATE SKIP LOCKED`, publishes them, and settles the claim:
published, retried later with backoff, or dead after too many attempts. Published rows are
purged after the retention period (`events/retention.py`); pending and dead rows never are.
"""

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol.codec import format_ts
from roomserver.domain.event_envelope import SCHEMA_VERSION, Event
from roomserver.ops.metrics import OutboxBacklog
from roomserver.store.pool import Connection, PoolStore

# A VACUUM of a table that kept a large backlog may outlast the pool's statement timeout.
_VACUUM_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """The outcome of publishing a claimed batch: what failed, and why."""

    failures: Mapping[str, str]
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float


class ClaimedEvents:
    """Outbox rows claimed by one relay (locked until `settle`, invisible to other relays)."""

    def __init__(self, connection: Connection, events: list[Event]) -> None:
        """The claimed `events`, locked in `connection`'s open transaction."""
        self._connection = connection
        self.events = events

    async def settle(self, delivery: EventDelivery) -> None:
        """Mark published what was sent; back off, or give up on (dead), what failed."""
        published = [e.event_id for e in self.events if e.event_id not in delivery.failures]
        if published:
            await self._connection.execute(
                """UPDATE outbox SET state = 'published', published_at = clock_timestamp(),
                                     attempts = attempts + 1
                    WHERE event_id = ANY($1::uuid[])""",
                published,
            )
        if delivery.failures:
            await self._connection.execute(
                """UPDATE outbox o
                      SET attempts = o.attempts + 1,
                          last_error = left(f.reason, 500),
                          state = CASE WHEN o.attempts + 1 >= $2 THEN 'dead' ELSE 'pending' END,
                          -- exponential backoff with jitter, capped
                          next_attempt_at = clock_timestamp() + make_interval(secs =>
                              least($4::float8, $3::float8 * 2 ^ o.attempts)
                              * (0.5 + random() / 2))
                     FROM unnest($1::uuid[], $5::text[]) AS f (event_id, reason)
                    WHERE o.event_id = f.event_id""",
                list(delivery.failures),
                delivery.max_attempts,
                delivery.backoff_base_s,
                delivery.backoff_max_s,
                list(delivery.failures.values()),
            )


class OutboxStore(PoolStore):
    """Writes and claims outbox events."""

    async def emit_event(
        self,
        event_type: str,
        *,
        tournament_id: str | None,
        player_id: str | None,
        payload_json: str,
    ) -> None:
        """Write an event that reports no database change of its own (presence)."""
        await self._pool.execute(
            "SELECT emit_event($1, $2, $3, NULL, $4::jsonb)",
            event_type,
            tournament_id,
            player_id,
            payload_json,
        )

    @contextlib.asynccontextmanager
    async def claim_events(self, limit: int) -> AsyncIterator[ClaimedEvents]:
        """Claim up to `limit` due outbox rows, oldest first, for one relay.

        `FOR UPDATE SKIP LOCKED` on the row state (never "seq above the last one seen", which
        would skip a transaction that commits after a later one): a row another relay holds is
        passed over, and a crash before `settle` leaves the row pending for the next claim.

        The predicate is `outbox_pending`'s, so the scan reads only that partial index and
        sorts what is due: its cost follows the pending rows, never the published or dead
        ones. What keeps the index itself small is the retention job's VACUUM: each publish
        leaves a dead entry behind in it.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                """SELECT event_id::text, event_type, occurred_at, trace_id, tournament_id,
                          player_id, idempotency_key, payload::text
                     FROM outbox
                    WHERE state = 'pending' AND next_attempt_at <= clock_timestamp()
                    ORDER BY seq LIMIT $1
                      FOR UPDATE SKIP LOCKED""",
                limit,
            )
            yield ClaimedEvents(connection, [_event_from_row(row) for row in rows])

    async def purge_published(self, *, older_than_s: float, limit: int) -> int:
        """Delete at most `limit` rows published more than `older_than_s` ago; how many went.

        Pending and dead rows are never touched (the state is checked by the DELETE itself).
        The rows are found through the `outbox_published` index, bounded by the cutoff: it uses
        the stable `now()`, since a volatile `clock_timestamp()` cannot bound an index scan and
        a purge finding nothing old enough would read every published row. No `ORDER BY`: which
        old rows go first does not matter, and without statistics (nothing runs ANALYZE when
        autovacuum is off) the planner would sort every old row for each batch. They are
        deleted by `ctid`, straight to the heap tuples the scan found, without one more index
        lookup per row by `seq` (the sub-select locks each row, so its ctid holds until the
        DELETE reaches it). `SKIP LOCKED`: purgers on several nodes take disjoint batches
        instead of waiting on each other's rows.
        """
        status = await self._pool.execute(
            """DELETE FROM outbox
                WHERE ctid = ANY (ARRAY(
                          SELECT ctid FROM outbox
                           WHERE state = 'published'
                             AND published_at < now() - make_interval(secs => $1)
                           LIMIT $2
                             FOR UPDATE SKIP LOCKED))
                  AND state = 'published'""",
            older_than_s,
            limit,
        )
        return int(status.rsplit(" ", 1)[1])

    async def vacuum_outbox(self) -> None:
        """`VACUUM (SKIP_LOCKED)` the outbox: its heap and indexes lose their dead entries.

        Autovacuum may be off, and the relay's poll slows with every dead entry left in the
        pending index. Run outside any transaction (VACUUM refuses one); skipped, with only a
        server notice, while another node vacuums the table.
        """
        await self._pool.execute("VACUUM (SKIP_LOCKED) outbox", timeout=_VACUUM_TIMEOUT_S)

    async def outbox_dead_tuples(self) -> int:
        """Dead row versions in the outbox since its last VACUUM, as the statistics count them.

        Every publish and retry leaves one (a row changes state), and every purged row; 0 when
        statistics are off (`track_counts`).
        """
        count = await self._pool.fetchval(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"
        )
        return int(count or 0)

    async def outbox_backlog(self) -> OutboxBacklog:
        """What waits in the outbox: pending and dead rows, and the oldest pending event's age.

        Read through the partial indexes `outbox_pending` and `outbox_dead`: its cost follows
        the pending and dead rows, never the published ones. The age is by the database's
        clock, from the event's `occurred_at`; 0 when nothing is pending.
        """
        row = await self._pool.fetchrow(
            """WITH pending AS (
                   SELECT count(*) AS events, min(occurred_at) AS oldest
                     FROM outbox WHERE state = 'pending')
               SELECT p.events,
                      (SELECT count(*) FROM outbox WHERE state = 'dead'),
                      greatest(0, coalesce(
                          extract(epoch FROM clock_timestamp() - p.oldest), 0))::float8
                 FROM pending p"""
        )
        assert row is not None
        return OutboxBacklog(pending=row[0], dead=row[1], oldest_pending_age_s=row[2])


def _event_from_row(row: Any) -> Event:
    return Event(
        event_id=row[0],
        event_type=row[1],
        schema_version=SCHEMA_VERSION,
        occurred_at=format_ts(row[2].timestamp()),
        trace_id=row[3],
        tournament_id=row[4],
        player_id=row[5],
        idempotency_key=row[6],
        payload=msgspec.Raw(row[7].encode()),
    )
