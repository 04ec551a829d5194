"""An outbox relay in a process of its own that can SIGKILL itself mid-delivery (for crash tests).

    python -m tests.integration.relay_process --dsn DSN --queue-url URL --endpoint-url URL \
        --prefix TOURNAMENT_PREFIX --crash-at {none,before_send,after_send,mid_batch} \
        --after-batches N --batch-size B

Runs `OutboxRelay.run` against the SQS queue. With a crash point, the N-th batch the sink is
given kills the process with SIGKILL (no cleanup, no settle):

- before_send: before the real sink is called;
- after_send: after the real sink returned, before the relay marks the rows;
- mid_batch: after the first half of the batch went through the real sink.

Otherwise (or if the crash point is never reached) it exits 0 once the outbox holds no pending
row whose tournament id starts with the prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Final, Literal, get_args

from roomserver.config import EventsConfig
from roomserver.domain.event_envelope import Event, EventSink
from roomserver.events.relay import OutboxRelay
from roomserver.events.sinks import open_sqs_sink
from roomserver.store.ledger import Ledger
from roomserver.store.pool import create_pool

CrashPoint = Literal["none", "before_send", "after_send", "mid_batch"]
CRASH_POINTS: Final[tuple[str, ...]] = get_args(CrashPoint)
POLL_INTERVAL_S: Final = 0.05


def die() -> None:
    """Ends this process the way a power cut or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingSink:
    """Passes batches to a real sink; kills the process at `crash_at` on batch `after_batches`."""

    def __init__(self, inner: EventSink, crash_at: CrashPoint, after_batches: int) -> None:
        self._inner = inner
        self._crash_at = crash_at
        self._after_batches = after_batches
        self._batches = 0

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Publishes through the real sink, unless this is the batch to die on."""
        self._batches += 1
        if self._crash_at == "none" or self._batches != self._after_batches:
            return await self._inner.publish(events)
        if self._crash_at == "before_send":
            die()
        elif self._crash_at == "after_send":
            await self._inner.publish(events)
            die()
        else:
            await self._inner.publish(events[: len(events) // 2])
            die()
        raise AssertionError("still alive after SIGKILL")

    async def close(self) -> None:
        """Closes the real sink."""
        await self._inner.close()


async def pending_with_prefix(ledger: Ledger, prefix: str) -> int:
    """Outbox rows still to deliver whose tournament id starts with `prefix`."""
    count = await ledger.pool.fetchval(
        """SELECT count(*) FROM outbox
            WHERE state = 'pending' AND starts_with(tournament_id, $1)""",
        prefix,
    )
    assert isinstance(count, int)
    return count


async def main(arguments: argparse.Namespace) -> int:
    """Relays until killed, or until the prefix's events are all delivered (then returns 0)."""
    config = EventsConfig(
        sqs_queue_url=arguments.queue_url,
        sqs_endpoint_url=arguments.endpoint_url,
        batch_size=arguments.batch_size,
        poll_interval_s=POLL_INTERVAL_S,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
        max_attempts=1000,
    )
    pool = await create_pool(arguments.dsn, min_size=1, max_size=2, timeout_s=30)
    try:
        ledger = Ledger(pool)
        sink = CrashingSink(
            await open_sqs_sink(arguments.queue_url, arguments.endpoint_url),
            arguments.crash_at,
            arguments.after_batches,
        )
        try:
            relay = asyncio.create_task(OutboxRelay(ledger, sink, config).run())
            try:
                while await pending_with_prefix(ledger, arguments.prefix):
                    if relay.done():
                        relay.result()  # run() only ends by raising
                    await asyncio.sleep(POLL_INTERVAL_S)
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
        finally:
            await sink.close()
    finally:
        await pool.close()
    return 0


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--prefix", required=True, help="the tournament ids to wait for")
    parser.add_argument("--crash-at", choices=CRASH_POINTS, default="none")
    parser.add_argument("--after-batches", type=int, default=1, help="die on this batch (1-based)")
    parser.add_argument("--batch-size", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_arguments(sys.argv[1:]))))
