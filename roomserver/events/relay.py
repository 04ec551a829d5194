"""The outbox relay: publishes the events transactions wrote, at least once, never inventing any.

A batch is claimed with `FOR UPDATE SKIP LOCKED` and stays locked while it is published, so two
relays (on one node or many) never hold the same event; rows are marked only after the sink
said they are out. A relay that dies between sending and marking leaves the rows pending and
they are sent again: consumers deduplicate by `event_id` (SQS FIFO does it for five minutes).
A failing event is retried with exponential backoff and, after `max_attempts`, parked as `dead`.
"""

import asyncio
import logging

from roomserver.config import EventsConfig
from roomserver.domain.event_envelope import EventSink
from roomserver.store.ledger import Ledger
from roomserver.store.outbox import EventDelivery

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves outbox rows to a sink."""

    def __init__(self, ledger: Ledger, sink: EventSink, config: EventsConfig) -> None:
        """A relay from `ledger`'s outbox to `sink`."""
        self._ledger = ledger
        self._sink = sink
        self._config = config

    async def run(self) -> None:
        """Relay until cancelled; idles `poll_interval_s` whenever the outbox has nothing due."""
        while True:
            try:
                relayed = await self.relay_batch()
            except Exception:
                log.exception("outbox relay failed; retrying")
                relayed = 0
            if relayed < self._config.batch_size:
                await asyncio.sleep(self._config.poll_interval_s)

    async def relay_batch(self) -> int:
        """Claim, publish and mark one batch; returns how many events it held."""
        config = self._config
        async with self._ledger.claim_events(config.batch_size) as claim:
            if not claim.events:
                return 0
            try:
                failures = await self._sink.publish(claim.events)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                failures = {event.event_id: reason for event in claim.events}
            if failures:
                log.warning(
                    "%d of %d events not published: %s",
                    len(failures),
                    len(claim.events),
                    next(iter(failures.values())),
                )
            await claim.settle(
                EventDelivery(
                    failures=failures,
                    max_attempts=config.max_attempts,
                    backoff_base_s=config.backoff_base_s,
                    backoff_max_s=config.backoff_max_s,
                )
            )
            return len(claim.events)
