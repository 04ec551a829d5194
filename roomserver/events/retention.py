"""Outbox retention: published rows leave the table, so the relay's poll stays cheap.

Every node that relays also runs this job. Each round deletes the rows published more than
`events.retention_s` ago, `events.purge_batch` at a time (each batch its own short
transaction), then VACUUMs the outbox itself, since autovacuum may be off and the relay's poll
slows with every dead entry its partial index keeps; then it reads the outbox backlog for the
metrics. Pending and dead rows are never deleted. Several nodes purging at once take disjoint
batches (`SKIP LOCKED`), and a VACUUM finding the table busy with another skips it.
"""

import asyncio
import logging
from dataclasses import dataclass

from roomserver.config import EventsConfig
from roomserver.ops.metrics import NodeMetrics
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionRound:
    """What one round did."""

    purged: int
    vacuumed: bool
    # The last batch was not full: nothing old enough is left, the job may idle.
    caught_up: bool


class OutboxRetention:
    """Purges published outbox rows, vacuums the outbox, and reads its backlog for the metrics."""

    def __init__(
        self, ledger: Ledger, config: EventsConfig, metrics: NodeMetrics | None = None
    ) -> None:
        """Retention of `ledger`'s outbox by `config`; each round's backlog into `metrics`."""
        self._ledger = ledger
        self._config = config
        self._metrics = metrics

    async def run(self) -> None:
        """Run rounds until cancelled, idling `purge_interval_s` once caught up."""
        while True:
            try:
                caught_up = (await self.run_round()).caught_up
            except Exception:
                log.exception("outbox retention failed; retrying")
                caught_up = True
            if caught_up:
                await asyncio.sleep(self._config.purge_interval_s)

    async def run_round(self) -> RetentionRound:
        """Purge batches until caught up or `purge_interval_s` has passed, vacuum, read backlog.

        Bounding the round's purging by time keeps a large first backlog (a table that kept
        everything) from holding back the VACUUM and the metrics for long.
        """
        config = self._config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.purge_interval_s
        purged = 0
        while True:
            batch = await self._ledger.purge_published(
                older_than_s=config.retention_s, limit=config.purge_batch
            )
            purged += batch
            caught_up = batch < config.purge_batch
            if caught_up or loop.time() >= deadline:
                break
        if purged:
            log.debug("purged %d published outbox events", purged)
        vacuumed = config.vacuum and await self._needs_vacuum(purged)
        if vacuumed:
            await self._ledger.vacuum_outbox()
        if self._metrics is not None:
            self._metrics.outbox_backlog = await self._ledger.outbox_backlog()
        return RetentionRound(purged=purged, vacuumed=vacuumed, caught_up=caught_up)

    async def _needs_vacuum(self, purged: int) -> bool:
        """After a purge; else when the relay's updates alone left a batch of dead rows.

        Each publish leaves a dead row version and a dead entry in the pending index whether
        or not anything is old enough to purge yet (the first `retention_s` after a start).
        """
        if purged:
            return True
        return await self._ledger.outbox_dead_tuples() >= self._config.purge_batch
