"""Spins batched per round trip when they queue up: one `place_spins` call places several.

No timer: a spin goes to PostgreSQL at once, alone, while fewer than `max_in_flight` spin calls
are running (so an idle node adds no delay). When all of them are busy, arriving spins wait in
a queue, and each call that finishes sends up to `max_batch` of them in one call and one
transaction. Each spin in a batch is placed on its own (`place_spins` calls `place_spin` for
each), so a refused spin never fails its neighbours and a key that comes twice has one effect.

The commit comes before any reply. A batch that fails as a whole fails each of its spins as a
spin on its own would have failed: nothing of it was acknowledged. The exception is a race that
PostgreSQL settles by refusing the whole transaction (a nonce or key taken by a concurrent
spin, a deadlock): nothing was written, and each spin of the batch is placed again alone, where
the race is answered as a status.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from roomserver.store.spins import SpinRecord, SpinRequest

PlaceOne = Callable[[SpinRequest], Awaitable[SpinRecord]]
PlaceMany = Callable[[list[SpinRequest]], Awaitable[list[SpinRecord]]]

# The whole transaction refused, nothing written: placing each spin alone settles it.
_RETRY_ALONE: Final = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError)


class SpinBatcher:
    """Places spins alone while PostgreSQL has room, in batches when they queue up."""

    def __init__(
        self, place_one: PlaceOne, place_many: PlaceMany, *, max_batch: int, max_in_flight: int
    ) -> None:
        """Spins through `place_one` (alone) and `place_many` (a batch)."""
        self._place_one = place_one
        self._place_many = place_many
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._queue: list[tuple[SpinRequest, asyncio.Future[SpinRecord]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  # calls that placed more than one spin
        self.largest_batch = 0

    async def place(self, request: SpinRequest) -> SpinRecord:
        """Place one spin, alone or in the next batch; returns its own record."""
        if self._in_flight < self._max_in_flight and not self._queue:
            self._in_flight += 1
            try:
                return await self._place_one(request)
            finally:
                self._in_flight -= 1
                self._dispatch()
        waiter: asyncio.Future[SpinRecord] = asyncio.get_running_loop().create_future()
        self._queue.append((request, waiter))
        self._dispatch()
        return await waiter

    def _dispatch(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[SpinRequest, asyncio.Future[SpinRecord]]]) -> None:
        requests = [request for request, _ in batch]
        try:
            if len(requests) == 1:
                records = [await self._place_one(requests[0])]
            else:
                self.batches += 1
                self.largest_batch = max(self.largest_batch, len(requests))
                try:
                    records = await self._place_many(requests)
                except _RETRY_ALONE:
                    records = list(await asyncio.gather(*map(self._place_one, requests)))
        except asyncio.CancelledError:
            for _, waiter in batch:
                waiter.cancel()
            raise
        except Exception as exc:
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for (_, waiter), record in zip(batch, records, strict=True):
                if not waiter.done():
                    waiter.set_result(record)
        finally:
            self._in_flight -= 1
            self._dispatch()
