"""Ledger keys built from several ids are unambiguous, and keys written before that rule stay valid.

Every composite key (ledger idempotency keys, the outbox's idempotency keys, advisory-lock names)
comes from the SQL function `ledger_key(kind, part, ...)`. Ids may contain ':', so keys of
different requests must never meet however the ids are cut; and a database holding keys in the
earlier '<kind>:<id>:<id>' format must go on working: old keys neither block new requests nor
stand for them, and a request committed before the upgrade replays after it.
"""

import json
import time
from typing import Final

import asyncpg
import pytest

from roomserver.domain.fingerprint import fingerprint
from roomserver.store.ledger import Ledger
from roomserver.store.migrate import apply_migrations
from roomserver.store.pool import LedgerReply, create_pool
from roomserver.store.spins import SpinRequest
from roomserver.store.wallet import BetHold, WalletBet
from tests.integration.test_ledger_stateful import player_claims, spin_request
from tests.support.databases import scratch_database
from tests.support.node import create_tournament, unique

CURRENCY: Final = "EUR"
# The last migration before keys were built by ledger_key().
COLON_KEYS_VERSION: Final = 4

# Part lists that colon-joined keys confuse: ids with ':', '/', digits, empty ids, and ids
# that look like an encoded part themselves.
TRICKY_PARTS: Final = [
    ("a:x", "k"),
    ("a", "x:k"),
    ("a:x:k",),
    ("a", "x", "k"),
    ("a/1:x", "k"),
    ("a", "1:x/1:k"),
    ("a/1:x/1:k",),
    ("", "a:x:k"),
    ("a:x:k", ""),
    ("", ""),
    ("",),
    ("1:a", "1"),
    ("1", ":a1"),
    ("10:", "abcdefghij"),
    ("é:", "ü"),
    ("é", ":ü"),
]


async def test_ledger_key_keeps_parts_apart(ledger: Ledger) -> None:
    keys = [await ledger_key(ledger, "spin", *parts) for parts in TRICKY_PARTS]
    assert len(set(keys)) == len(keys), keys
    assert keys[0] == "spin/3:a:x/1:k"
    # The earlier format began '<kind>:'; a new key never does.
    assert not any(key.startswith("spin:") for key in keys)
    with pytest.raises(asyncpg.NullValueNotAllowedError):
        await ledger.pool.fetchval("SELECT ledger_key('spin', 'a', NULL)")
    for kind in ("spin:a", "", "Spin"):
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await ledger.pool.fetchval("SELECT ledger_key($1, 'a')", kind)


# ---------------------------------------------------------------- old-format rows


async def ledger_key(ledger: Ledger, kind: str, *parts: str) -> str:
    """The key the database builds for these parts."""
    key: str = await ledger.pool.fetchval(
        "SELECT ledger_key($1, VARIADIC $2::text[])", kind, list(parts)
    )
    return key


async def old_format_row(ledger: Ledger, kind: str, key: str) -> None:
    """A ledger transaction as the code before ledger_key() wrote it (ids joined with ':')."""
    await ledger.pool.execute(
        "INSERT INTO ledger_transactions (kind, idempotency_key) VALUES ($1, $2)", kind, key
    )


async def keys_of(ledger: Ledger, kind: str, owner_id: str) -> list[str]:
    """Idempotency keys of the transactions of `kind` touching an account of `owner_id`."""
    rows = await ledger.pool.fetch(
        """SELECT DISTINCT lt.idempotency_key
             FROM ledger_transactions lt
             JOIN entries e ON e.tx_id = lt.tx_id
             JOIN accounts a ON a.account_id = e.account_id
            WHERE lt.kind = $1 AND a.owner_id = $2
            ORDER BY 1""",
        kind,
        owner_id,
    )
    return [row[0] for row in rows]


def spin_of(room: str, server_seed: bytes, player_id: str, key: str, nonce: int) -> SpinRequest:
    """The request of a 100-chip spin by `player_id` with idempotency key `key`."""
    return spin_request(
        room,
        server_seed,
        player_claims(player_id, False, None),
        time.time(),
        stake=100,
        key=key,
        client_seed="seed",
        nonce=nonce,
    )


async def spin(
    ledger: Ledger, room: str, server_seed: bytes, player_id: str, key: str, nonce: int = 0
) -> str:
    return (await ledger.place_spin(spin_of(room, server_seed, player_id, key, nonce))).status


def make_bet(agent_id: str, transaction_id: str, player_id: str, bet: int) -> WalletBet:
    return WalletBet(
        agent_id=agent_id,
        transaction_id=transaction_id,
        round_id=unique("round"),
        player_id=player_id,
        currency=CURRENCY,
        bet=bet,
        win=0,
        game_id=None,
        session_id=None,
        request_hash=fingerprint([agent_id, transaction_id, player_id, bet]),
    )


async def test_old_format_keys_neither_block_nor_match_new_ones(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger, starting_chips=1000)
    room, seed = tournament.config.tournament_id, tournament.server_seed
    player = unique("p")
    agent = unique("agent")
    for player_id in (player, f"{player}:x", f"{player}:1"):
        await ledger.ensure_player(player_id, player_id, CURRENCY)
    await ledger.deposit(player, CURRENCY, 1000, unique("dep"))
    # What the earlier code wrote for `<player>:x` spinning `k` (and would have written for
    # `<player>` spinning `x:k`), for `<player>:1` registering, and for agent `<agent>:x`'s
    # transaction `t`: each also the colon key of a request of someone else.
    await old_format_row(ledger, "spin", f"spin:{player}:x:k")
    await old_format_row(ledger, "registration", f"registration:{room}:{player}:1")
    await old_format_row(ledger, "wallet_bet", f"wallet_bet:{agent}:x:t")

    for player_id in (player, f"{player}:x"):
        assert (await ledger.register_player(room, player_id, rg_self_excluded=False))[0] == "OK"
    assert await spin(ledger, room, seed, player, "x:k") == "OK"
    assert await spin(ledger, room, seed, f"{player}:x", "k") == "OK"
    # A registration after a hop-off is a new generation; its key is not `<player>:1`'s.
    assert (await ledger.hop_off(room, player)).status == "OK"
    assert await ledger.register_player(room, player, rg_self_excluded=False) == ("OK", 1000)
    assert (await ledger.wallet_make_bet(make_bet(agent, "x:t", player, 10))).status == "OK"
    assert (await ledger.wallet_make_bet(make_bet(f"{agent}:x", "t", player, 10))).status == "OK"

    # The old rows are untouched, and no new key took their format.
    old = await ledger.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE idempotency_key = ANY($1::text[])",
        [f"spin:{player}:x:k", f"registration:{room}:{player}:1", f"wallet_bet:{agent}:x:t"],
    )
    assert old == 3
    expected: dict[str, list[tuple[str, ...]]] = {
        "spin": [(player, "x:k")],
        "registration": [(room, player, "0"), (room, player, "1")],
        "hop_off": [(room, player, "0")],
        "wallet_bet": [(agent, "x:t"), (f"{agent}:x", "t")],
    }
    for kind, parts_list in expected.items():
        wanted = sorted([await ledger_key(ledger, kind, *parts) for parts in parts_list])
        assert await keys_of(ledger, kind, player) == wanted, kind


# ---------------------------------------------------------------- an upgrade


def replayed(reply: LedgerReply, first: LedgerReply) -> bool:
    return reply.status == "REPLAY" and reply.response_json == first.response_json


async def test_requests_from_before_the_upgrade_replay_after_it(postgres_admin_dsn: str) -> None:
    async with scratch_database(postgres_admin_dsn, "rs_keys", release=COLON_KEYS_VERSION) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2, timeout_s=30)
        try:
            await requests_across_an_upgrade(Ledger(pool))
        finally:
            await pool.close()


async def requests_across_an_upgrade(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger, buy_in=100, starting_chips=1000)
    room, seed = tournament.config.tournament_id, tournament.server_seed
    stayer, leaver, agent = "p:1", "p", "agent:1"
    for player_id in (stayer, leaver):
        await ledger.ensure_player(player_id, player_id, CURRENCY)
        await ledger.deposit(player_id, CURRENCY, 1000, f"seed:{player_id}")
        assert (await ledger.register_player(room, player_id, rg_self_excluded=False))[0] == "OK"
    spin_before = spin_of(room, seed, stayer, "k:1", nonce=0)
    spun = await ledger.place_spin(spin_before)
    assert spun.status == "OK"
    left = await ledger.hop_off(room, leaver)
    assert left.status == "OK"
    bet = make_bet(agent, "t:1", stayer, 50)
    bet_placed = await ledger.wallet_make_bet(bet)
    assert bet_placed.status == "OK"
    hold = BetHold(agent, "b:1", "r:1", stayer, None, 20, fingerprint(["hold", 20]))
    held = await ledger.bet_authorize(hold)
    assert held.status == "OK"
    old_keys = set(
        await ledger.pool.fetchval("SELECT array_agg(idempotency_key) FROM ledger_transactions")
    )
    assert f"spin:{stayer}:k:1" in old_keys, "the database holds keys in the earlier format"

    async with ledger.pool.acquire() as connection:
        assert COLON_KEYS_VERSION + 1 in await apply_migrations(connection)

    # Committed before, retried after: the stored answers, byte for byte, and no money moves.
    again = await ledger.place_spin(spin_before)
    assert (again.status, again.response_json) == ("REPLAY", spun.response_json)
    assert replayed(await ledger.hop_off(room, leaver), left)
    assert replayed(await ledger.wallet_make_bet(bet), bet_placed)
    assert replayed(await ledger.bet_authorize(hold), held)
    assert spun.response_json is not None
    assert await ledger.register_player(room, stayer, rg_self_excluded=False) == (
        "ALREADY",
        json.loads(spun.response_json)["balance"],
    )
    # New requests go on from where the old ones left off.
    settled = await ledger.bet_resolve(
        agent, "b:1", "settle", round_id=None, win=0, request_hash=fingerprint(["settle"])
    )
    assert settled.status == "OK"
    assert (await ledger.wallet_rollback(agent, "t:1", "rb:1")).status == "OK"
    assert (await ledger.register_player(room, leaver, rg_self_excluded=False))[0] == "OK"
    assert (await ledger.hop_off(room, leaver)).status == "OK"
    assert await spin(ledger, room, seed, stayer, "k:2", nonce=1) == "OK"
    assert await ledger.move_tournament(room, "running", "completing")
    assert (await ledger.complete_tournament(room)).status == "OK"

    # The old keys are all still there; every key written since is a ledger_key.
    keys = set(
        await ledger.pool.fetchval("SELECT array_agg(idempotency_key) FROM ledger_transactions")
    )
    assert old_keys <= keys
    assert keys - old_keys == {
        await ledger_key(ledger, "bet_settle", agent, "b:1"),
        await ledger_key(ledger, "wallet_rollback", agent, "t:1"),
        await ledger_key(ledger, "registration", room, leaver, "1"),
        await ledger_key(ledger, "hop_off", room, leaver, "1"),
        await ledger_key(ledger, "spin", stayer, "k:2"),
        await ledger_key(ledger, "prizes", room),
    }
    assert await ledger.audit() == []
