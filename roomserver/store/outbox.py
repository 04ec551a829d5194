"""The outbox: events written in the transaction of the change they report, claimed by relays.

A relay claims due rows with `FOR UPDATE SKIP LOCKED`, publishes them, and settles the claim:
published, retried later with backoff, or dead after too many attempts.
"""

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol.codec import format_ts
from roomserver.domain.event_envelope import SCHEMA_VERSION, Event
from roomserver.store.pool import Connection, PoolStore


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
