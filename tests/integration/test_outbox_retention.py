"""Outbox retention and the outbox metrics against real PostgreSQL.

The outbox is shared by every test of the session, so each test writes its rows under a unique
tournament id (prefix), looks at those, and deletes them at the end. Rows meant to be purged
were "published" two days ago and the purges keep a day, so no other test's row is ever old
enough to count; only the test with `retention_s = 0` also deletes other tests' published rows,
which nothing reads any more.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Final

import asyncpg
import httpx
import msgspec
import pytest

from roomserver.config import Config, EventsConfig
from roomserver.events.retention import OutboxRetention
from roomserver.ops.metrics import NodeMetrics
from roomserver.store.ledger import Ledger
from roomserver.store.pool import create_pool
from tests.integration.conftest import NodeStarter
from tests.support.node import unique

DAY_S: Final = 86_400.0
# Rows "published" this long ago are older than a retention of a day; no real row is.
OLD_S: Final = 2 * DAY_S


# ---------------------------------------------------------------- helpers


@pytest.fixture
async def prefix(ledger: Ledger) -> AsyncIterator[str]:
    """A fresh tournament id for this test's outbox rows, which are deleted afterwards."""
    tournament_id = unique("retention")
    yield tournament_id
    await ledger.pool.execute(
        "DELETE FROM outbox WHERE starts_with(tournament_id, $1)", tournament_id
    )


async def insert_events(
    ledger: Ledger,
    prefix: str,
    count: int,
    *,
    state: str,
    published_ago_s: float | None = None,
    occurred_ago_s: float = 0.0,
) -> list[str]:
    """Writes `count` outbox rows in `state` as they would be after delivery; their ids.

    Pending rows are due in an hour, so no relay claims them meanwhile.
    """
    rows = await ledger.pool.fetch(
        """INSERT INTO outbox (event_type, trace_id, tournament_id, player_id, payload, state,
                               attempts, occurred_at, next_attempt_at, published_at)
           SELECT 'player.score.updated', 'retention-test', $1::text, $1::text || '-p' || n,
                  jsonb_build_object('n', n), $2::text,
                  CASE $2::text WHEN 'pending' THEN 0 ELSE 1 END,
                  clock_timestamp() - make_interval(secs => $3::float8),
                  clock_timestamp() + interval '1 hour',
                  clock_timestamp() - make_interval(secs => $4::float8)
             FROM generate_series(1, $5::integer) AS n
           RETURNING event_id::text""",
        prefix,
        state,
        occurred_ago_s,
        published_ago_s,
        count,
    )
    return [row[0] for row in rows]


async def states(ledger: Ledger, prefix: str) -> dict[str, str]:
    """The state of each of the prefix's rows still in the outbox, by event id."""
    rows = await ledger.pool.fetch(
        "SELECT event_id::text, state FROM outbox WHERE starts_with(tournament_id, $1)", prefix
    )
    return {row[0]: row[1] for row in rows}


async def purge_until_caught_up(ledger: Ledger, *, limit: int, older_than_s: float) -> int:
    """Purges batch after batch until one comes back short; how many rows went."""
    purged = 0
    while True:
        batch = await ledger.purge_published(older_than_s=older_than_s, limit=limit)
        assert batch <= limit
        purged += batch
        if batch < limit:
            return purged


async def vacuum_count(ledger: Ledger) -> int:
    """How many times the outbox was vacuumed by hand (the statistics count it at once)."""
    count = await ledger.pool.fetchval(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"
    )
    assert isinstance(count, int)
    return count


def gauge(metrics: NodeMetrics, name: str) -> float | None:
    """The gauge's value as a scrape would show it (None: not shown)."""
    return metrics.registry.get_sample_value(name)


# ---------------------------------------------------------------- 1. what goes, what stays


@pytest.mark.timeout(60)
async def test_purge_removes_only_published_rows_older_than_retention(
    ledger: Ledger, prefix: str
) -> None:
    old = await insert_events(
        ledger, prefix, 3, state="published", published_ago_s=OLD_S, occurred_ago_s=OLD_S
    )
    # Published an hour ago: written long before, but kept for the rest of the day.
    young = await insert_events(
        ledger, prefix, 2, state="published", published_ago_s=3600, occurred_ago_s=OLD_S
    )
    dead = await insert_events(ledger, prefix, 1, state="dead", occurred_ago_s=OLD_S)
    pending = await insert_events(ledger, prefix, 1, state="pending", occurred_ago_s=OLD_S)

    purged = await ledger.purge_published(older_than_s=DAY_S, limit=1000)

    assert purged == len(old)
    assert await states(ledger, prefix) == (
        dict.fromkeys(young, "published") | dict.fromkeys(dead, "dead") | {pending[0]: "pending"}
    )
    assert await ledger.purge_published(older_than_s=DAY_S, limit=1000) == 0


@pytest.mark.timeout(60)
async def test_pending_and_dead_rows_stay_even_with_no_retention(
    ledger: Ledger, prefix: str
) -> None:
    # What earlier tests published goes first, so the small batches below are ours.
    await purge_until_caught_up(ledger, limit=5000, older_than_s=0)
    published = await insert_events(
        ledger, prefix, 4, state="published", published_ago_s=OLD_S, occurred_ago_s=OLD_S
    )
    # A dead row older than any retention; another with a publish time as well, which no relay
    # writes, so only the state decides.
    dead = await insert_events(ledger, prefix, 1, state="dead", occurred_ago_s=OLD_S)
    dead += await insert_events(
        ledger, prefix, 1, state="dead", published_ago_s=OLD_S, occurred_ago_s=OLD_S
    )
    # Pending for two days (its sink has been down), and pending right now.
    pending = await insert_events(ledger, prefix, 1, state="pending", occurred_ago_s=OLD_S)
    pending += await insert_events(ledger, prefix, 1, state="pending")
    retention = OutboxRetention(ledger, EventsConfig(retention_s=0, purge_batch=3, vacuum=False))

    done = await retention.run_round()

    assert done.caught_up and not done.vacuumed
    assert done.purged == len(published)
    assert await states(ledger, prefix) == (
        dict.fromkeys(dead, "dead") | dict.fromkeys(pending, "pending")
    )
    assert await ledger.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'published'") == 0


# ---------------------------------------------------------------- 2. bounded batches


@pytest.mark.timeout(60)
async def test_one_purge_removes_at_most_one_batch(ledger: Ledger, prefix: str) -> None:
    batch = 40
    ids = await insert_events(
        ledger, prefix, 2 * batch + 20, state="published", published_ago_s=OLD_S
    )
    assert len(ids) == 100

    remaining = []
    for _ in range(4):
        purged = await ledger.purge_published(older_than_s=DAY_S, limit=batch)
        remaining.append((purged, len(await states(ledger, prefix))))

    assert remaining == [(40, 60), (40, 20), (20, 0), (0, 0)]


@pytest.mark.timeout(60)
async def test_a_round_purges_batch_after_batch_then_vacuums(ledger: Ledger, prefix: str) -> None:
    await insert_events(ledger, prefix, 250, state="published", published_ago_s=OLD_S)
    kept = await insert_events(ledger, prefix, 1, state="dead", published_ago_s=OLD_S)
    retention = OutboxRetention(ledger, EventsConfig(retention_s=DAY_S, purge_batch=100))
    vacuums = await vacuum_count(ledger)

    done = await retention.run_round()

    assert (done.purged, done.vacuumed, done.caught_up) == (250, True, True)
    assert await states(ledger, prefix) == {kept[0]: "dead"}
    assert await vacuum_count(ledger) == vacuums + 1

    # Turned off: no VACUUM, even after a purge.
    await insert_events(ledger, prefix, 5, state="published", published_ago_s=OLD_S)
    no_vacuum = OutboxRetention(
        ledger, EventsConfig(retention_s=DAY_S, purge_batch=100, vacuum=False)
    )
    done = await no_vacuum.run_round()
    assert (done.purged, done.vacuumed) == (5, False)
    assert await vacuum_count(ledger) == vacuums + 1
    # Without a purge, the relay's dead row versions alone decide (as the statistics count them).
    assert await ledger.outbox_dead_tuples() >= 0


async def test_retention_is_validated() -> None:
    assert EventsConfig().retention_s == 3600
    assert msgspec.convert({"retention_s": 0}, EventsConfig).retention_s == 0
    for bad in ({"retention_s": -1}, {"purge_batch": 0}, {"purge_interval_s": 0}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, EventsConfig)


# ---------------------------------------------------------------- 3. several purgers


@pytest.mark.timeout(60)
async def test_two_purgers_at_once_take_disjoint_batches(
    ledger: Ledger, database_dsn: str, prefix: str
) -> None:
    rows = 600
    await insert_events(ledger, prefix, rows, state="published", published_ago_s=OLD_S)
    kept = await insert_events(ledger, prefix, 1, state="dead", published_ago_s=OLD_S)
    kept += await insert_events(ledger, prefix, 1, state="pending", occurred_ago_s=OLD_S)
    pools = [await create_pool(database_dsn, min_size=1, max_size=2, timeout_s=30)]
    try:
        pools.append(await create_pool(database_dsn, min_size=1, max_size=2, timeout_s=30))
        ledgers = [Ledger(pool) for pool in pools]
        counts = await asyncio.gather(
            *(purge_until_caught_up(each, limit=25, older_than_s=DAY_S) for each in ledgers)
        )
        # Whole rounds at once, VACUUM included: one may skip the table the other holds.
        await insert_events(ledger, prefix, rows, state="published", published_ago_s=OLD_S)
        config = EventsConfig(retention_s=DAY_S, purge_batch=25)
        rounds = await asyncio.gather(
            *(OutboxRetention(each, config).run_round() for each in ledgers)
        )
    finally:
        for pool in pools:
            await pool.close()

    # Every row was deleted once: no purger counted a row the other deleted, none failed.
    assert sum(counts) == rows
    assert all(counts), f"both purgers should have done work: {counts}"
    assert sum(done.purged for done in rounds) == rows
    assert all(done.caught_up for done in rounds)
    assert any(done.vacuumed for done in rounds)
    assert set(await states(ledger, prefix)) == set(kept)


@pytest.mark.timeout(60)
async def test_a_purge_passes_over_rows_another_purger_holds(
    ledger: Ledger, database_dsn: str, prefix: str
) -> None:
    ids = await insert_events(ledger, prefix, 30, state="published", published_ago_s=OLD_S)
    held = ids[:10]
    connection = await asyncpg.connect(database_dsn)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(
            "SELECT 1 FROM outbox WHERE event_id = ANY($1::uuid[]) FOR UPDATE", held
        )
        async with asyncio.timeout(5):  # it never waits for the held rows
            purged = await ledger.purge_published(older_than_s=DAY_S, limit=1000)
        assert purged == 20
        assert set(await states(ledger, prefix)) == set(held)
        await transaction.rollback()
    finally:
        await connection.close()
    assert await ledger.purge_published(older_than_s=DAY_S, limit=1000) == 10
    assert await states(ledger, prefix) == {}


# ---------------------------------------------------------------- 4. metrics


async def backlog_now(ledger: Ledger) -> tuple[int, int, float]:
    """Pending and dead rows and the oldest pending event's age, counted over the table."""
    row = await ledger.pool.fetchrow(
        """SELECT count(*) FILTER (WHERE state = 'pending'),
                  count(*) FILTER (WHERE state = 'dead'),
                  coalesce(extract(epoch FROM clock_timestamp() - min(occurred_at)
                                   FILTER (WHERE state = 'pending')), 0)::float8
             FROM outbox"""
    )
    assert row is not None
    return row[0], row[1], row[2]


@pytest.mark.timeout(60)
async def test_metrics_show_pending_dead_and_oldest_pending_age(
    ledger: Ledger, prefix: str
) -> None:
    metrics = NodeMetrics()
    retention = OutboxRetention(ledger, EventsConfig(retention_s=DAY_S, vacuum=False), metrics)
    assert gauge(metrics, "roomserver_outbox_pending") is None, "shown before any reading"
    await retention.run_round()
    before_pending = gauge(metrics, "roomserver_outbox_pending")
    before_dead = gauge(metrics, "roomserver_outbox_dead")
    assert before_pending is not None and before_dead is not None

    await insert_events(ledger, prefix, 1, state="pending", occurred_ago_s=OLD_S)
    await insert_events(ledger, prefix, 2, state="pending", occurred_ago_s=60)
    await insert_events(ledger, prefix, 2, state="dead", occurred_ago_s=OLD_S)
    await insert_events(ledger, prefix, 4, state="published", published_ago_s=60)
    await retention.run_round()
    pending, dead, oldest_age_s = await backlog_now(ledger)

    assert gauge(metrics, "roomserver_outbox_pending") == pending == before_pending + 3
    assert gauge(metrics, "roomserver_outbox_dead") == dead == before_dead + 2
    shown_age_s = gauge(metrics, "roomserver_outbox_oldest_pending_age_seconds")
    assert shown_age_s is not None
    # Our two-day-old pending row is the oldest; the count above ran a moment after.
    assert OLD_S <= shown_age_s <= oldest_age_s < OLD_S + 30

    # Once nothing is pending, the age is 0.
    await ledger.pool.execute(
        "DELETE FROM outbox WHERE state = 'pending' AND starts_with(tournament_id, $1)", prefix
    )
    await retention.run_round()
    pending, _, oldest_age_s = await backlog_now(ledger)
    shown_age_s = gauge(metrics, "roomserver_outbox_oldest_pending_age_seconds")
    assert gauge(metrics, "roomserver_outbox_pending") == pending
    if pending == 0:
        assert shown_age_s == 0
    assert shown_age_s is not None and shown_age_s <= oldest_age_s < OLD_S


@pytest.mark.timeout(60)
async def test_a_relaying_node_serves_the_outbox_gauges_on_metrics(
    start_node: NodeStarter, base_config: Config, ledger: Ledger, prefix: str
) -> None:
    await insert_events(ledger, prefix, 2, state="dead", occurred_ago_s=OLD_S)
    await insert_events(ledger, prefix, 1, state="pending", occurred_ago_s=OLD_S)
    config = msgspec.structs.replace(
        base_config,
        events=msgspec.structs.replace(base_config.events, purge_interval_s=0.05),
    )
    async with start_node(config) as node, httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{node.api_port}/metrics"
        async with asyncio.timeout(20):
            while True:
                text = (await client.get(url)).text
                shown = {
                    name: float(value)
                    for name, value in re.findall(
                        r"^(roomserver_outbox_[a-z_]+) ([0-9.e+]+)$", text, re.M
                    )
                }
                pending, dead, _ = await backlog_now(ledger)
                if shown.get("roomserver_outbox_pending") == pending:
                    break
                await asyncio.sleep(0.05)
    assert shown["roomserver_outbox_dead"] == dead
    assert shown["roomserver_outbox_oldest_pending_age_seconds"] >= OLD_S
    assert re.search(r"^# TYPE roomserver_outbox_pending gauge$", text, re.M)
