"""Spins in Postgres: the spin transaction (one round trip) and the player's next nonce.

The database settles two races of concurrent spins with unique constraints; `attempt_spin`
answers them as statuses (`NONCE_TAKEN`, `KEY_TAKEN`) so that callers never see a database
exception.
"""

import dataclasses
import datetime as dt
import operator
from dataclasses import dataclass
from typing import Final, Protocol

import asyncpg

from roomserver.domain.refusal import Refusal
from roomserver.store.pool import PoolStore


@dataclass(frozen=True, slots=True)
class SpinRecord:
    """What a spin attempt returns: a status, and for OK/REPLAY the stored response payload."""

    status: Refusal
    response_json: str | None
    score_reached_at: dt.datetime | None
    spins: int | None  # the standing's version


@dataclass(frozen=True, slots=True)
class SpinRequest:
    """Everything the spin transaction writes; the outcome was computed from the nonce.

    The fields are in the order of place_spin's parameters, which is how they are passed.
    """

    tournament_id: str
    player_id: str
    idempotency_key: str
    request_hash: bytes
    rg_json: str  # the player's RG claims and session (see rg_limits_admit in migration 0003)
    spin_id: str
    round_id: str
    stake: int
    win: int
    client_seed: str
    nonce: int
    math_version: str
    response_json: str  # the result payload; its `outcome` is recorded with the spin


# The unique constraint that refuses a nonce used twice by a player in a tournament.
_NONCE_CONSTRAINT: Final = "spins_nonce_unique"

_PLACE_SPIN: Final = """
SELECT status, response::text AS response, score_reached_at, spins
  FROM place_spin($1, $2, $3, $4, $5::jsonb, $6::uuid, $7::uuid, $8, $9, $10, $11, $12, $13::jsonb)
"""


_PLACE_SPINS: Final = """
SELECT ordinal, status, response::text AS response, score_reached_at, spins
  FROM place_spins($1::text[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[], $6::uuid[],
                   $7::uuid[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[],
                   $12::text[], $13::jsonb[])
"""


# A request's fields in the order of place_spin's (and place_spins') parameters.
_ARGUMENTS: Final = operator.attrgetter(*(f.name for f in dataclasses.fields(SpinRequest)))


class SpinPlacer(Protocol):
    """What places spins when they may be batched (`store.spin_batches.SpinBatcher`)."""

    async def place(self, request: SpinRequest) -> SpinRecord:
        """Place one spin; its own record."""
        ...


class SpinStore(PoolStore):
    """The spin transaction."""

    # Set by `Ledger.batch_spins`: spins then go through it, batched when they queue up.
    _spin_placer: SpinPlacer | None = None

    async def place_spin(self, request: SpinRequest) -> SpinRecord:
        """Run the spin transaction (one round trip); `attempt_spin` for callers that retry.

        Raises:
            asyncpg.UniqueViolationError: a concurrent spin took the nonce
                (`spins_nonce_unique`) or the key in another room.
        """
        row = await self._pool.fetchrow(_PLACE_SPIN, *_ARGUMENTS(request))
        assert row is not None
        return SpinRecord(Refusal(row[0]), row[1], row[2], row[3])

    async def place_spin_batch(self, requests: list[SpinRequest]) -> list[SpinRecord]:
        """Place several spins in one round trip and one transaction; one record per request.

        Each is placed on its own (a refusal is its own record; a key twice is placed once
        and replayed). They are placed in tournament and player order, the one order in which
        every batch takes chip locks.

        Raises:
            asyncpg.UniqueViolationError: a concurrent spin took a nonce or key (nothing of the
                batch was written).
            asyncpg.DeadlockDetectedError: (nothing of the batch was written).
        """
        order = sorted(
            range(len(requests)), key=lambda i: (requests[i].tournament_id, requests[i].player_id)
        )
        # One array per parameter: the requests' values column by column.
        columns = zip(*(_ARGUMENTS(requests[i]) for i in order), strict=True)
        rows = await self._pool.fetch(_PLACE_SPINS, *columns)
        records: dict[int, SpinRecord] = {
            order[row[0] - 1]: SpinRecord(Refusal(row[1]), row[2], row[3], row[4]) for row in rows
        }
        return [records[i] for i in range(len(requests))]

    async def attempt_spin(self, request: SpinRequest) -> SpinRecord:
        """Run the spin transaction (batched with others when `batch_spins` turned it on).

        See `attempt_spin_alone`.
        """
        if self._spin_placer is not None:
            return await self._spin_placer.place(request)
        return await self.attempt_spin_alone(request)

    async def attempt_spin_alone(self, request: SpinRequest) -> SpinRecord:
        """Run the spin transaction; a race with a concurrent spin is answered as a status.

        `NONCE_TAKEN`: a concurrent spin of the player took the nonce (take a fresh one and
        try again). `KEY_TAKEN`: a concurrent request with the same key committed first, in
        another room (trying again finds it stored). Nothing was written in either case.
        """
        try:
            return await self.place_spin(request)
        except asyncpg.UniqueViolationError as exc:
            status = (
                Refusal.NONCE_TAKEN
                if exc.constraint_name == _NONCE_CONSTRAINT
                else Refusal.KEY_TAKEN
            )
            return SpinRecord(status, None, None, None)

    async def next_nonce(self, tournament_id: str, player_id: str) -> int:
        """The first nonce the player has not used in this tournament."""
        value: int = await self._pool.fetchval(
            """SELECT coalesce(max(nonce) + 1, 0) FROM spins
                WHERE tournament_id = $1 AND player_id = $2""",
            tournament_id,
            player_id,
        )
        return value
