"""The outbox relay against real PostgreSQL and a real SQS endpoint: crashes, rivals, outages.

The outbox is shared by every test of the session and every relay claims any due row, so each
test writes its events under a unique tournament id (prefix) and looks only at those.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import asyncpg
import msgspec
import pytest

from clients.python.room_client import RoomClient
from protocol.messages import Spin, SpinResult
from roomserver.config import Config, EventsConfig
from roomserver.domain.event_envelope import Event, EventSink
from roomserver.events.relay import OutboxRelay
from roomserver.events.sinks import JsonLinesSink, open_sqs_sink, region_of, sqs_client
from roomserver.store.ledger import Ledger
from roomserver.store.pool import create_pool
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, join, token, unique, winning_seed, ws_url
from tests.support.services import free_tcp_port

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

REPO: Final = Path(__file__).resolve().parents[2]
CRASH_EVENTS: Final = 60


# ---------------------------------------------------------------- helpers


async def emit_events(ledger: Ledger, prefix: str, count: int, groups: int = 3) -> list[str]:
    """Writes `count` events for tournaments `{prefix}-g{i % groups}`; their ids in seq order."""
    for number in range(count):
        await ledger.emit_event(
            "player.score.updated",
            tournament_id=f"{prefix}-g{number % groups}",
            player_id=f"{prefix}-p{number}",
            payload_json=json.dumps({"n": number}),
        )
    return await outbox_ids(ledger, prefix)


async def outbox_ids(ledger: Ledger, prefix: str) -> list[str]:
    """The ids of the outbox rows whose tournament id starts with `prefix`, in seq order."""
    rows = await ledger.pool.fetch(
        "SELECT event_id::text FROM outbox WHERE starts_with(tournament_id, $1) ORDER BY seq",
        prefix,
    )
    return [row[0] for row in rows]


async def outbox_rows(ledger: Ledger, prefix: str) -> dict[str, asyncpg.Record]:
    """The delivery columns of the prefix's outbox rows, by event id."""
    rows = await ledger.pool.fetch(
        """SELECT event_id::text AS event_id, seq, event_type, state, attempts, last_error,
                  next_attempt_at, published_at
             FROM outbox WHERE starts_with(tournament_id, $1) ORDER BY seq""",
        prefix,
    )
    return {row["event_id"]: row for row in rows}


async def pending_count(ledger: Ledger, prefix: str) -> int:
    """The prefix's rows still to deliver."""
    count = await ledger.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE state = 'pending' AND starts_with(tournament_id, $1)",
        prefix,
    )
    assert isinstance(count, int)
    return count


async def publish_backlog(ledger: Ledger, path: Path) -> None:
    """Deliver (to a file) what earlier tests left due.

    So this test's batches hold only its own events. Those tests are over: nothing reads their
    rows any more.
    """
    sink = JsonLinesSink(path)
    try:
        relay = OutboxRelay(ledger, sink, EventsConfig(batch_size=1000))
        while await relay.relay_batch():
            pass
    finally:
        await sink.close()


async def relay_until_delivered(
    relay: OutboxRelay, ledger: Ledger, prefix: str, timeout_s: float = 20
) -> None:
    """Runs `relay` batch after batch until none of the prefix's rows is pending."""
    async with asyncio.timeout(timeout_s):
        while await pending_count(ledger, prefix):
            if not await relay.relay_batch():
                await asyncio.sleep(0.02)


async def relay_everything_due(relay: OutboxRelay) -> None:
    """Runs `relay` until it finds nothing due."""
    async with asyncio.timeout(20):
        while await relay.relay_batch():
            pass


async def drain_queue(endpoint_url: str, queue_url: str, max_receives: int = 500) -> list[Event]:
    """Receives and deletes every message in the queue; the events, in the order received."""
    messages: list[MessageTypeDef] = []
    async with sqs_client(region_of(queue_url), endpoint_url) as client:
        for _ in range(max_receives):
            response = await client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            batch = response.get("Messages", [])
            if not batch:
                return [msgspec.json.decode(m["Body"], type=Event) for m in messages]
            messages.extend(batch)
            await client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(batch)
                ],
            )
    raise AssertionError(f"queue not drained after {max_receives} receives")


def with_prefix(events: Sequence[Event], prefix: str) -> list[Event]:
    """The events whose tournament id starts with `prefix`."""
    return [e for e in events if e.tournament_id is not None and e.tournament_id.startswith(prefix)]


class Concurrency:
    """How many publishes are under way at once, across sinks."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def leave(self) -> None:
        self.now -= 1


class RecordingSink:
    """A sink that records what it published and fails the events in `refuse`.

    Publishing waits for the pause and goes into the real sink, when given; a refused event
    fails with a per-event error.
    """

    def __init__(
        self,
        inner: EventSink | None = None,
        *,
        delay_s: float = 0.0,
        refuse: frozenset[str] = frozenset(),
        concurrency: Concurrency | None = None,
    ) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.refuse = refuse
        self.concurrency = concurrency or Concurrency()
        self.published: list[str] = []

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Publishes all but the refused events."""
        self.concurrency.enter()
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            accepted = [e for e in events if e.event_id not in self.refuse]
            if self.inner is not None:
                assert await self.inner.publish(accepted) == {}
            self.published.extend(e.event_id for e in accepted)
            return {
                e.event_id: "Refused: not this one" for e in events if e.event_id in self.refuse
            }
        finally:
            self.concurrency.leave()

    async def close(self) -> None:
        """Closes the real sink."""
        if self.inner is not None:
            await self.inner.close()


async def run_relay_process(
    *,
    dsn: str,
    queue_url: str,
    endpoint_url: str,
    prefix: str,
    log_path: Path,
    crash_at: str = "none",
    after_batches: int = 1,
    batch_size: int = 10,
) -> int:
    """Runs tests/integration/relay_process.py to its end; its return code."""
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.relay_process",
            "--dsn",
            dsn,
            "--queue-url",
            queue_url,
            "--endpoint-url",
            endpoint_url,
            "--prefix",
            prefix,
            "--crash-at",
            crash_at,
            "--after-batches",
            str(after_batches),
            "--batch-size",
            str(batch_size),
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            async with asyncio.timeout(30):
                return await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


# ---------------------------------------------------------------- 1. crashes


@pytest.mark.parametrize("crash_at", ["before_send", "after_send", "mid_batch"])
async def test_relay_killed_mid_delivery_loses_nothing_and_invents_nothing(
    crash_at: str,
    ledger: Ledger,
    database_dsn: str,
    sqs_endpoint_url: str,
    sqs_queue_url: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(f"outbox-crash-{crash_at}")
    batch_size = rng.randint(2, 25)
    batches = -(-CRASH_EVENTS // batch_size)
    after_batches = rng.randint(2, batches)  # at least one batch settles before the crash
    context = f"crash_at={crash_at} batch_size={batch_size} after_batches={after_batches}"
    await publish_backlog(ledger, tmp_path / "backlog.jsonl")
    prefix = unique("crash")
    ids = await emit_events(ledger, prefix, CRASH_EVENTS)
    assert len(ids) == CRASH_EVENTS
    log_path = tmp_path / "relay.log"
    relay = functools.partial(
        run_relay_process,
        dsn=database_dsn,
        queue_url=sqs_queue_url,
        endpoint_url=sqs_endpoint_url,
        prefix=prefix,
        log_path=log_path,
        batch_size=batch_size,
    )

    code = await relay(crash_at=crash_at, after_batches=after_batches)
    assert code == -signal.SIGKILL, f"{context}: exit {code}\n{log_path.read_text()}"

    # What the dead relay had marked, and what it had sent, is exactly what came before the
    # crash point: whole batches before the N-th, then nothing, all of it, or the first half.
    settled = (after_batches - 1) * batch_size
    crashed_batch = ids[settled : settled + batch_size]
    sent_of_crashed = {
        "before_send": 0,
        "after_send": len(crashed_batch),
        "mid_batch": len(crashed_batch) // 2,
    }[crash_at]
    rows = await outbox_rows(ledger, prefix)
    published = {event_id for event_id, row in rows.items() if row["state"] == "published"}
    assert published == set(ids[:settled]), context
    assert all(row["attempts"] == 0 for row in rows.values() if row["state"] == "pending")
    before_restart = with_prefix(await drain_queue(sqs_endpoint_url, sqs_queue_url), prefix)
    assert len(before_restart) == len({e.event_id for e in before_restart})
    assert {e.event_id for e in before_restart} == set(ids[: settled + sent_of_crashed]), context

    code = await relay()
    assert code == 0, f"{context}: exit {code}\n{log_path.read_text()}"

    after_restart = with_prefix(await drain_queue(sqs_endpoint_url, sqs_queue_url), prefix)
    after_ids = {e.event_id for e in after_restart}
    # Whatever was not marked is sent again (SQS may drop a re-send as a duplicate of one it
    # still remembers), and nothing marked is.
    assert set(ids) - {e.event_id for e in before_restart} <= after_ids, context
    assert after_ids <= set(ids) - published, context
    # A consumer deduplicating by event_id sees every event once, with its content.
    raw = before_restart + after_restart
    seen = {event.event_id: event for event in raw}
    assert len(raw) >= len(seen) == CRASH_EVENTS
    assert set(seen) == set(ids) == set(await outbox_ids(ledger, prefix)), context
    for number, event_id in enumerate(ids):
        event = seen[event_id]
        assert json.loads(bytes(event.payload)) == {"n": number}
        assert (event.tournament_id, event.player_id) == (
            f"{prefix}-g{number % 3}",
            f"{prefix}-p{number}",
        )
    # Every group arrives in outbox order (SQS FIFO per tournament), per delivery run.
    for delivery in (before_restart, after_restart):
        for group in range(3):
            order = [e.event_id for e in delivery if e.tournament_id == f"{prefix}-g{group}"]
            assert order == sorted(order, key=ids.index), context
    rows = await outbox_rows(ledger, prefix)
    assert {row["state"] for row in rows.values()} == {"published"}
    # A kill is not an attempt: every row was marked once, by the relay that finished it.
    assert {row["attempts"] for row in rows.values()} == {1}
    assert all(row["last_error"] is None for row in rows.values())


# ---------------------------------------------------------------- 2. rival relays


async def test_two_relays_never_publish_the_same_event(
    ledger: Ledger, database_dsn: str, tmp_path: Path
) -> None:
    prefix = unique("rivals")
    ids = await emit_events(ledger, prefix, 80)
    config = EventsConfig(batch_size=7, poll_interval_s=0.01)
    concurrency = Concurrency()
    sinks = [
        RecordingSink(
            JsonLinesSink(tmp_path / f"relay-{n}.jsonl"), delay_s=0.02, concurrency=concurrency
        )
        for n in range(2)
    ]
    pools = [await create_pool(database_dsn, min_size=1, max_size=2, timeout_s=30)]
    try:
        pools.append(await create_pool(database_dsn, min_size=1, max_size=2, timeout_s=30))
        relays = [
            OutboxRelay(Ledger(pool), sink, config) for pool, sink in zip(pools, sinks, strict=True)
        ]
        await asyncio.gather(*(relay_until_delivered(r, ledger, prefix) for r in relays))
    finally:
        for sink in sinks:
            await sink.close()
        for pool in pools:
            await pool.close()

    first, second = (set(sink.published) for sink in sinks)
    assert all(len(sink.published) == len(set(sink.published)) for sink in sinks)
    assert first.isdisjoint(second), "an event was published by both relays"
    assert (first | second) >= set(ids)
    # Both relays did work, and held batches at the same time (else this would prove nothing).
    assert first & set(ids) and second & set(ids)
    assert concurrency.most == 2
    # Each file holds exactly what its relay published.
    for n, sink in enumerate(sinks):
        lines = (tmp_path / f"relay-{n}.jsonl").read_bytes().splitlines()
        assert [msgspec.json.decode(line, type=Event).event_id for line in lines] == sink.published
    rows = await outbox_rows(ledger, prefix)
    assert {(row["state"], row["attempts"]) for row in rows.values()} == {("published", 1)}


# ---------------------------------------------------------------- 3. commit order


async def test_event_committed_after_a_later_one_is_still_published(
    ledger: Ledger, database_dsn: str
) -> None:
    tournament_id = unique("order")
    sink = RecordingSink()
    relay = OutboxRelay(ledger, sink, EventsConfig(batch_size=1000))
    connection = await asyncpg.connect(database_dsn)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(
            "SELECT emit_event('room.player.connected', $1, 'player-a', NULL, '{}'::jsonb)",
            tournament_id,
        )
        seq_a = await connection.fetchval(
            "SELECT seq FROM outbox WHERE tournament_id = $1 AND player_id = 'player-a'",
            tournament_id,
        )
        await ledger.emit_event(
            "room.player.connected",
            tournament_id=tournament_id,
            player_id="player-b",
            payload_json="{}",
        )
        [event_b] = await outbox_ids(ledger, tournament_id)  # A is not visible yet
        rows = await outbox_rows(ledger, tournament_id)
        assert seq_a < rows[event_b]["seq"], "A took its seq first"

        await relay_everything_due(relay)
        assert [e for e in sink.published if e == event_b] == [event_b]
        assert (await outbox_rows(ledger, tournament_id))[event_b]["state"] == "published"

        await transaction.commit()
    finally:
        await connection.close()
    event_a, second_b = await outbox_ids(ledger, tournament_id)
    assert second_b == event_b
    assert event_a not in sink.published

    # A relay that remembered "published up to B's seq" would never look at A again.
    await relay_everything_due(relay)
    mine = [e for e in sink.published if e in {event_a, event_b}]
    assert mine == [event_b, event_a]
    rows = await outbox_rows(ledger, tournament_id)
    assert {(row["state"], row["attempts"]) for row in rows.values()} == {("published", 1)}


# ---------------------------------------------------------------- 4. SQS down


async def test_spins_go_on_while_sqs_is_down_and_the_backlog_drains_after(
    start_node: NodeStarter,
    base_config: Config,
    ledger: Ledger,
    sqs_endpoint_url: str,
    sqs_queue_url: str,
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    dead_endpoint = f"http://127.0.0.1:{free_tcp_port()}"
    config = msgspec.structs.replace(
        base_config,
        events=EventsConfig(
            sqs_queue_url=f"{dead_endpoint}/123456789012/{room}.fifo",
            sqs_endpoint_url=dead_endpoint,
            poll_interval_s=0.02,
            backoff_base_s=0.02,
            backoff_max_s=0.1,
            max_attempts=1_000_000,
        ),
    )
    players = [unique("p") for _ in range(2)]
    async with start_node(config) as node:
        for player in players:
            async with await RoomClient.connect(ws_url(node), token(player)) as client:
                await join(client, room)
                for n in range(3):
                    seed = winning_seed(tournament.server_seed, n) if n == 0 else None
                    spin = Spin(
                        room=room,
                        stake=100,
                        idempotency_key=unique("k"),
                        client_seed=seed,
                        rid=f"s{n}",
                    )
                    await client.send(spin)
                    result = await client.recv_type(SpinResult, rid=f"s{n}")
                    assert result.payload.stake == 100
        # The node keeps trying, and keeps every event.
        async with asyncio.timeout(10):
            while True:
                rows = await outbox_rows(ledger, room)
                types = {row["event_type"] for row in rows.values()}
                retried = all(row["attempts"] > 0 for row in rows.values())
                disconnects = sum(
                    row["event_type"] == "room.player.disconnected" for row in rows.values()
                )
                # Both players' disconnects are in (each is written as its connection ends).
                if retried and disconnects == len(players):
                    break
                await asyncio.sleep(0.05)
        assert {row["state"] for row in rows.values()} == {"pending"}
        assert all("EndpointConnectionError" in row["last_error"] for row in rows.values())
        assert types >= {
            "tournament.player.registered",
            "room.player.connected",
            "player.score.updated",
            "room.player.disconnected",
        }
    spins = await ledger.pool.fetchval("SELECT count(*) FROM spins WHERE tournament_id = $1", room)
    assert spins == 6

    pending = set(await outbox_ids(ledger, room))
    sink = await open_sqs_sink(sqs_queue_url, sqs_endpoint_url)
    try:
        relay = OutboxRelay(ledger, sink, EventsConfig(batch_size=10))
        await relay_until_delivered(relay, ledger, room)
    finally:
        await sink.close()

    received = [
        e for e in await drain_queue(sqs_endpoint_url, sqs_queue_url) if e.tournament_id == room
    ]
    assert {e.event_id for e in received} == pending == set(await outbox_ids(ledger, room))
    assert len(received) == len(pending)
    rows = await outbox_rows(ledger, room)
    assert {row["state"] for row in rows.values()} == {"published"}
    assert all(row["attempts"] > 1 for row in rows.values())


# ---------------------------------------------------------------- 5. dead letters


async def test_an_event_that_always_fails_is_parked_dead_after_max_attempts(
    ledger: Ledger, tmp_path: Path
) -> None:
    await publish_backlog(ledger, tmp_path / "backlog.jsonl")
    prefix = unique("dead")
    ids = await emit_events(ledger, prefix, 5)
    doomed = ids[2]
    base_s, max_attempts = 0.1, 4
    sink = RecordingSink(refuse=frozenset({doomed}))
    config = EventsConfig(max_attempts=max_attempts, backoff_base_s=base_s, backoff_max_s=10.0)
    relay = OutboxRelay(ledger, sink, config)

    async def now() -> float:
        value = await ledger.pool.fetchval("SELECT extract(epoch FROM clock_timestamp())")
        return float(value)

    for attempt in range(1, max_attempts + 1):
        before = await now()
        await relay.relay_batch()
        after = await now()
        row = (await outbox_rows(ledger, prefix))[doomed]
        assert row["attempts"] == attempt
        assert row["last_error"] == "Refused: not this one"
        if attempt == max_attempts:
            assert row["state"] == "dead"
            break
        assert row["state"] == "pending"
        # Exponential backoff with jitter in [1/2, 1]: base * 2^(attempt - 1).
        delay = base_s * 2 ** (attempt - 1)
        due = row["next_attempt_at"].timestamp()
        assert before + delay / 2 <= due <= after + delay, (attempt, due - before, delay)
        # Not claimed again before it is due.
        await relay.relay_batch()
        assert (await outbox_rows(ledger, prefix))[doomed]["attempts"] == attempt
        await asyncio.sleep(max(0.0, due - await now()) + 0.01)

    # Parked: no relay takes it again.
    await relay.relay_batch()
    rows = await outbox_rows(ledger, prefix)
    assert rows[doomed]["attempts"] == max_attempts
    assert rows[doomed]["state"] == "dead"
    assert rows[doomed]["published_at"] is None
    others = [rows[event_id] for event_id in ids if event_id != doomed]
    assert {(row["state"], row["attempts"], row["last_error"]) for row in others} == {
        ("published", 1, None)
    }
    mine = [event_id for event_id in sink.published if event_id in set(ids)]
    assert sorted(mine, key=ids.index) == [event_id for event_id in ids if event_id != doomed]
