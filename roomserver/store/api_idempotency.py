"""Stored side-API responses, by caller and idempotency key.

A request reserves its key with a lease, runs, then stores its response for replays (or releases
the key when it failed); a reservation whose request died is taken over when its lease runs out.
"""

import uuid
from dataclasses import dataclass

from roomserver.store.pool import PoolStore


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A side-API response kept for an idempotency key: its status and its body's bytes."""

    request_hash: bytes
    status_code: int
    body: bytes


@dataclass(frozen=True, slots=True)
class ApiKeyClaim:
    """What claiming a side-API idempotency key found.

    Exactly one of: `reservation` (the key is now this request's: run it, then complete or
    release the key), `response` (a request finished under the key), or neither (another
    request holds the key and is still running). `request_hash` is the hash the key belongs to.
    """

    request_hash: bytes
    reservation: uuid.UUID | None = None
    response: StoredResponse | None = None


class ApiIdempotencyStore(PoolStore):
    """Side-API idempotency keys and the responses stored under them."""

    async def claim_api_key(
        self, caller: str, key: str, request_hash: bytes, lease_s: float
    ) -> ApiKeyClaim:
        """Reserve `caller`'s idempotency key `key` for a request, or say who has it.

        A reservation whose lease ran out (its request died) is taken over, but only by the same
        request (same hash); a finished request's response is returned for replay.
        """
        reservation = uuid.uuid4()
        claimed = await self._pool.fetchval(
            """INSERT INTO api_idempotency AS a (caller, idempotency_key, request_hash,
                                                 reservation, lease_until)
               VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
               ON CONFLICT (caller, idempotency_key) DO UPDATE
                  SET reservation = EXCLUDED.reservation, lease_until = EXCLUDED.lease_until
                WHERE a.status_code IS NULL AND a.lease_until < now()
                  AND a.request_hash = EXCLUDED.request_hash
               RETURNING true""",
            caller,
            key,
            request_hash,
            reservation,
            lease_s,
        )
        if claimed:
            return ApiKeyClaim(request_hash, reservation=reservation)
        # A new statement, so a reservation committed by a concurrent request is visible.
        row = await self._pool.fetchrow(
            """SELECT request_hash, status_code, response_body, response::text
                 FROM api_idempotency WHERE caller = $1 AND idempotency_key = $2""",
            caller,
            key,
        )
        if row is None:  # released between the two statements: try again
            return await self.claim_api_key(caller, key, request_hash, lease_s)
        stored_hash = bytes(row["request_hash"])
        if row["status_code"] is None:
            return ApiKeyClaim(stored_hash)
        body = row["response_body"]
        # Rows kept before responses were stored as bytes replay their jsonb text.
        body = bytes(body) if body is not None else str(row["response"]).encode()
        return ApiKeyClaim(
            stored_hash, response=StoredResponse(stored_hash, row["status_code"], body)
        )

    async def complete_api_key(
        self, caller: str, key: str, reservation: uuid.UUID, status_code: int, body: bytes
    ) -> bool:
        """Store the response of the request holding `reservation`.

        Returns:
            False when the key is no longer its own (its lease ran out and another request took
            the key over).
        """
        done = await self._pool.execute(
            """UPDATE api_idempotency
                  SET status_code = $4, response_body = $5, reservation = NULL,
                      lease_until = NULL
                WHERE caller = $1 AND idempotency_key = $2 AND reservation = $3""",
            caller,
            key,
            reservation,
            status_code,
            body,
        )
        return bool(done == "UPDATE 1")

    async def release_api_key(self, caller: str, key: str, reservation: uuid.UUID) -> None:
        """Give a reserved key up (its request failed), so that a retry runs afresh."""
        await self._pool.execute(
            """DELETE FROM api_idempotency
                WHERE caller = $1 AND idempotency_key = $2 AND reservation = $3""",
            caller,
            key,
            reservation,
        )
