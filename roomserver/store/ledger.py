"""The double-entry ledger: the one entry point to everything the node keeps in Postgres.

The database enforces the money rules itself (see sql/schema/0001_ledger.sql): entries are
append-only, every transaction sums to zero, player balances never go negative. `Ledger`
composes one store per aggregate, each module holding its SQL next to its records; the hub, the
services and the side API move money only through it.
"""

from roomserver.store.announcements import AnnouncementStore
from roomserver.store.api_idempotency import ApiIdempotencyStore
from roomserver.store.audit import AuditStore
from roomserver.store.outbox import OutboxStore
from roomserver.store.players import PlayerStore
from roomserver.store.reports import ReportStore
from roomserver.store.results import ResultStore
from roomserver.store.spin_batches import SpinBatcher
from roomserver.store.spins import SpinStore
from roomserver.store.tournaments import TournamentStore
from roomserver.store.wallet import WalletStore


class Ledger(
    TournamentStore,
    PlayerStore,
    SpinStore,
    ResultStore,
    WalletStore,
    ReportStore,
    OutboxStore,
    AnnouncementStore,
    ApiIdempotencyStore,
    AuditStore,
):
    """Every store over one asyncpg pool (`Ledger(pool)`)."""

    def batch_spins(self, *, max_batch: int, max_in_flight: int) -> SpinBatcher | None:
        """From now on, spins that queue up go to PostgreSQL several per call.

        A spin goes alone while fewer than `max_in_flight` spin calls run; `max_batch` 1
        turns batching off. Returns the batcher (None when off).
        """
        if max_batch <= 1:
            self._spin_placer = None
            return None
        batcher = SpinBatcher(
            self.attempt_spin_alone,
            self.place_spin_batch,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
        )
        self._spin_placer = batcher
        return batcher
