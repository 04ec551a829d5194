"""Spins placed several per round trip: each its own result, one effect per key, none half-done."""

import asyncio
import time

import asyncpg
import pytest

from roomserver.domain.refusal import Refusal
from roomserver.domain.tournament import Tournament
from roomserver.store.ledger import Ledger
from roomserver.store.spins import SpinRequest
from tests.integration.test_ledger_stateful import player_claims, spin_request
from tests.support.node import create_tournament, unique

pytestmark = pytest.mark.timeout(60)


async def registered(ledger: Ledger, room: str, player: str | None = None) -> str:
    player = player or unique("p")
    await ledger.ensure_player(player, "P", "EUR")
    assert (await ledger.register_player(room, player, rg_self_excluded=False))[0] == "OK"
    return player


def request(
    tournament: Tournament,
    player: str,
    *,
    stake: int = 10,
    key: str | None = None,
    nonce: int = 0,
    self_excluded: bool = False,
    loss_limit: int | None = None,
) -> SpinRequest:
    return spin_request(
        tournament.config.tournament_id,
        tournament.server_seed,
        player_claims(player, self_excluded, loss_limit),
        time.time(),
        stake=stake,
        key=key or unique("k"),
        client_seed="seed",
        nonce=nonce,
    )


async def chips(ledger: Ledger, room: str, player: str) -> int:
    balance: int = await ledger.pool.fetchval(
        """SELECT balance FROM accounts
            WHERE kind = 'player_chips' AND owner_id = $1 AND scope = $2""",
        player,
        room,
    )
    return balance


async def spins_of(ledger: Ledger, player: str) -> int:
    count: int = await ledger.pool.fetchval(
        "SELECT count(*) FROM spins WHERE player_id = $1", player
    )
    return count


async def test_a_batch_gives_each_spin_its_own_result_and_one_effect(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger, starting_chips=1_000)
    room = tournament.config.tournament_id
    spinner, poor, excluded, limited, low = [await registered(ledger, room) for _ in range(5)]
    duplicate = request(tournament, spinner, key=unique("dup"), nonce=1)
    requests = [
        request(tournament, spinner, nonce=0),
        request(tournament, poor, stake=5_000),  # in range, more than the 1,000 chips
        request(tournament, excluded, self_excluded=True),
        request(tournament, limited, loss_limit=5),  # a stake of 10 could lose more than 5
        request(tournament, low, stake=5),  # under min_stake
        duplicate,
        duplicate,  # the same key twice in one batch
    ]
    records = await ledger.place_spin_batch(requests)

    assert [record.status for record in records] == [
        Refusal.OK,
        Refusal.INSUFFICIENT_FUNDS,
        Refusal.RG_BLOCKED,
        Refusal.RG_BLOCKED,
        Refusal.STAKE_OUT_OF_RANGE,
        Refusal.OK,
        Refusal.REPLAY,
    ]
    assert records[6].response_json == records[5].response_json
    # One effect each: the spinner's two spins, nothing for anyone refused.
    assert await spins_of(ledger, spinner) == 2
    won = sum(r.win - r.stake for r in (requests[0], duplicate))
    assert await chips(ledger, room, spinner) == 1_000 + won
    for player in (poor, excluded, limited, low):
        assert await spins_of(ledger, player) == 0
        assert await chips(ledger, room, player) == 1_000
    # A retry of the whole batch replays the accepted ones and refuses the rest again.
    again = await ledger.place_spin_batch(requests)
    assert [record.status for record in again] == [
        Refusal.REPLAY,
        Refusal.INSUFFICIENT_FUNDS,
        Refusal.RG_BLOCKED,
        Refusal.RG_BLOCKED,
        Refusal.STAKE_OUT_OF_RANGE,
        Refusal.REPLAY,
        Refusal.REPLAY,
    ]
    assert again[0].response_json == records[0].response_json
    assert await spins_of(ledger, spinner) == 2


async def test_a_backend_killed_mid_batch_acknowledges_nothing(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger, starting_chips=1_000)
    room = tournament.config.tournament_id
    base = unique("p")
    # Placed in player order: the first spin is written before the batch waits on the second.
    first, second = (
        await registered(ledger, room, base + "a"),
        await registered(ledger, room, base + "b"),
    )
    requests = [request(tournament, first), request(tournament, second)]
    async with ledger.pool.acquire() as blocker:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute(
            """SELECT 1 FROM accounts
                WHERE kind = 'player_chips' AND owner_id = $1 AND scope = $2 FOR UPDATE""",
            second,
            room,
        )
        batch = asyncio.ensure_future(ledger.place_spin_batch(requests))
        async with asyncio.timeout(10):
            while True:
                # Not `blocker`: a transaction sees one snapshot of pg_stat_activity.
                pid = await ledger.pool.fetchval(
                    """SELECT pid FROM pg_stat_activity
                        WHERE query LIKE '%place_spins(%' AND wait_event_type = 'Lock'"""
                )
                if pid is not None:
                    break
                await asyncio.sleep(0.02)
        assert await blocker.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await batch
        await holding.rollback()

    for player in (first, second):
        assert await spins_of(ledger, player) == 0
        assert await chips(ledger, room, player) == 1_000
    retried = await ledger.place_spin_batch(requests)
    assert [record.status for record in retried] == [Refusal.OK, Refusal.OK]
    again = await ledger.place_spin_batch(requests)
    assert [record.status for record in again] == [Refusal.REPLAY, Refusal.REPLAY]
    for player, spun in zip((first, second), requests, strict=True):
        assert await spins_of(ledger, player) == 1
        assert await chips(ledger, room, player) == 1_000 - spun.stake + spun.win


async def test_spins_that_queue_up_go_in_batches_and_each_gets_its_own_record(
    ledger: Ledger,
) -> None:
    tournament = await create_tournament(ledger, starting_chips=1_000)
    room = tournament.config.tournament_id
    players = [await registered(ledger, room) for _ in range(24)]
    batcher = ledger.batch_spins(max_batch=8, max_in_flight=1)
    assert batcher is not None
    # Alone when nothing else runs: no batch.
    alone = await ledger.attempt_spin(request(tournament, players[0], nonce=0))
    assert alone.status == Refusal.OK
    assert batcher.batches == 0

    requests = [request(tournament, player, nonce=1) for player in players]
    records = await asyncio.gather(*(ledger.attempt_spin(r) for r in requests))

    assert [record.status for record in records] == [Refusal.OK] * len(players)
    assert 0 < batcher.batches < len(players)
    assert 1 < batcher.largest_batch <= 8
    for player, spun, record in zip(players, requests, records, strict=True):
        assert record.response_json is not None and spun.spin_id in record.response_json
        assert await spins_of(ledger, player) == (2 if player == players[0] else 1)
    # A retried key through the batcher replays.
    replayed = await asyncio.gather(*(ledger.attempt_spin(r) for r in requests))
    assert [record.status for record in replayed] == [Refusal.REPLAY] * len(players)
