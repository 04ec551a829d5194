"""The database itself refuses what the money rules forbid; migrations are safe to race."""

import asyncio
import time

import asyncpg
import pytest

from roomserver.store.ledger import Ledger
from roomserver.store.migrate import apply_migrations, available_migrations
from tests.integration.test_ledger_stateful import player_claims, spin_request
from tests.support.node import create_tournament, unique
from tests.support.services import create_database, drop_database, dsn_for_database


async def funded_player(ledger: Ledger) -> tuple[str, int]:
    player = unique("p")
    await ledger.ensure_player(player, "P", "EUR")
    await ledger.deposit(player, "EUR", 500, unique("dep"))
    account_id: int = await ledger.pool.fetchval(
        "SELECT account_id FROM accounts WHERE owner_id = $1 AND kind = 'player_cash'", player
    )
    return player, account_id


async def house_cash(ledger: Ledger) -> int:
    account_id: int = await ledger.pool.fetchval(
        "SELECT account_id FROM accounts WHERE kind = 'house_cash' AND scope = 'EUR'"
    )
    return account_id


async def test_entries_and_transactions_are_append_only(ledger: Ledger) -> None:
    await funded_player(ledger)
    # Row triggers fire only on rows: the test makes a spin of its own to refuse changing.
    tournament = await create_tournament(ledger)
    player = unique("p")
    await ledger.ensure_player(player, "P", "EUR")
    room = tournament.config.tournament_id
    assert (await ledger.register_player(room, player, rg_self_excluded=False))[0] == "OK"
    request = spin_request(
        room,
        tournament.server_seed,
        player_claims(player, False, None),
        time.time(),
        stake=tournament.config.min_stake,
        key=unique("k"),
        client_seed="seed",
        nonce=0,
    )
    assert (await ledger.place_spin(request)).status == "OK"
    for statement in [
        "UPDATE entries SET amount = amount + 1",
        "DELETE FROM entries",
        "TRUNCATE entries CASCADE",
        "UPDATE ledger_transactions SET kind = 'x'",
        "DELETE FROM spins",
    ]:
        with pytest.raises(asyncpg.RestrictViolationError):
            await ledger.pool.execute(statement)


async def test_unbalanced_transactions_and_negative_balances_are_refused(ledger: Ledger) -> None:
    _, cash = await funded_player(ledger)
    house = await house_cash(ledger)
    async with ledger.pool.acquire() as connection:
        tx = await connection.fetchval(
            """INSERT INTO ledger_transactions (kind, idempotency_key)
               VALUES ('test', $1) RETURNING tx_id""",
            unique("tx"),
        )
        with pytest.raises(asyncpg.CheckViolationError, match="does not sum to zero"):
            await connection.execute(
                "INSERT INTO entries (tx_id, account_id, amount) VALUES ($1, $2, 10), ($1, $3, -9)",
                tx,
                cash,
                house,
            )
        with pytest.raises(asyncpg.CheckViolationError, match="balance_never_negative"):
            await connection.execute(
                """INSERT INTO entries (tx_id, account_id, amount)
                   VALUES ($1, $2, -501), ($1, $3, 501)""",
                tx,
                cash,
                house,
            )
    assert (
        await ledger.pool.fetchval("SELECT balance FROM accounts WHERE account_id = $1", cash)
        == 500
    )


async def test_entries_must_name_existing_transactions_and_accounts(ledger: Ledger) -> None:
    # The entries trigger checks what foreign keys used to, for every row of a hand-written
    # INSERT; and an account, once named by entries, can never go away.
    _, cash = await funded_player(ledger)
    house = await house_cash(ledger)
    missing_account: int = await ledger.pool.fetchval(
        "SELECT coalesce(max(account_id), 0) + 1000 FROM accounts"
    )
    missing_tx: int = await ledger.pool.fetchval(
        "SELECT coalesce(max(tx_id), 0) + 1000 FROM ledger_transactions"
    )
    async with ledger.pool.acquire() as connection:
        tx = await connection.fetchval(
            """INSERT INTO ledger_transactions (kind, idempotency_key)
               VALUES ('test', $1) RETURNING tx_id""",
            unique("tx"),
        )
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="does not exist"):
            await connection.execute(
                "INSERT INTO entries (tx_id, account_id, amount) VALUES ($1, $2, 5), ($1, $3, -5)",
                tx,
                missing_account,
                house,
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="does not exist"):
            await connection.execute(
                "INSERT INTO entries (tx_id, account_id, amount) VALUES ($1, $2, 5), ($1, $3, -5)",
                missing_tx,
                cash,
                house,
            )
        for statement in [
            "DELETE FROM accounts WHERE account_id = $1",
            "TRUNCATE accounts CASCADE",
        ]:
            with pytest.raises(asyncpg.RestrictViolationError):
                await connection.execute(statement, *([cash] if "$1" in statement else []))
    assert await ledger.pool.fetchval("SELECT count(*) FROM entries WHERE tx_id = $1", tx) == 0
    assert (
        await ledger.pool.fetchval("SELECT balance FROM accounts WHERE account_id = $1", cash)
        == 500
    )


async def test_a_spin_posts_one_net_entry_per_account(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger)
    player = unique("p")
    await ledger.ensure_player(player, "P", "EUR")
    room = tournament.config.tournament_id
    assert (await ledger.register_player(room, player, rg_self_excluded=False))[0] == "OK"
    stake = tournament.config.min_stake
    for nonce in range(20):
        request = spin_request(
            room,
            tournament.server_seed,
            player_claims(player, False, None),
            time.time(),
            stake=stake,
            key=unique("k"),
            client_seed="seed",
            nonce=nonce,
        )
        assert (await ledger.place_spin(request)).status == "OK"
    rows = await ledger.pool.fetch(
        """SELECT s.stake, s.win, array_agg(a.kind ORDER BY a.kind) AS kinds,
                  coalesce(sum(e.amount) FILTER (WHERE a.kind = 'player_chips'), 0) AS chips
             FROM spins s
             LEFT JOIN entries e ON e.tx_id = s.tx_id
             LEFT JOIN accounts a ON a.account_id = e.account_id
            WHERE s.player_id = $1
            GROUP BY s.spin_id, s.stake, s.win""",
        player,
    )
    assert len(rows) == 20
    for row in rows:
        if row["win"] == row["stake"]:
            assert row["kinds"] == [None]  # nothing moved, nothing posted
        else:
            assert row["kinds"] == ["house_chips", "player_chips"]
            assert row["chips"] == row["win"] - row["stake"]
    assert await ledger.audit() == []


async def test_registration_is_idempotent_and_respects_max_players(ledger: Ledger) -> None:
    tournament = await create_tournament(ledger, max_players=2, buy_in=100, starting_chips=1000)
    room = tournament.config.tournament_id
    players = [(await funded_player(ledger))[0] for _ in range(3)]
    results = await asyncio.gather(
        *(ledger.register_player(room, p, rg_self_excluded=False) for p in players[:2] * 2)
    )
    assert sorted(status for status, _ in results) == ["ALREADY", "ALREADY", "OK", "OK"]
    assert {chips for _, chips in results} == {1000}
    assert await ledger.register_player(room, players[2], rg_self_excluded=False) == (
        "ROOM_FULL",
        None,
    )
    for player in players[:2]:
        assert await ledger.cash_balance(player, "EUR") == 400
    assert await ledger.cash_balance(players[2], "EUR") == 500
    poor = unique("poor")
    await ledger.ensure_player(poor, "Poor", "EUR")
    other = await create_tournament(ledger, buy_in=100)
    assert await ledger.register_player(
        other.config.tournament_id, poor, rg_self_excluded=False
    ) == (
        "INSUFFICIENT_FUNDS",
        None,
    )
    assert await ledger.register_player(
        other.config.tournament_id, players[2], rg_self_excluded=True
    ) == ("RG_BLOCKED", None)


async def test_migrations_from_two_nodes_at_once_apply_once(postgres_admin_dsn: str) -> None:
    name = f"rs_migrate_{unique('db').replace('-', '_')}"
    await create_database(postgres_admin_dsn, name)
    try:
        dsn = dsn_for_database(postgres_admin_dsn, name)
        connections = [await asyncpg.connect(dsn) for _ in range(3)]
        try:
            applied = await asyncio.gather(*(apply_migrations(c) for c in connections))
            again = await apply_migrations(connections[0])
            recorded = await connections[0].fetch("SELECT version FROM schema_migrations")
        finally:
            for connection in connections:
                await connection.close()
    finally:
        await drop_database(postgres_admin_dsn, name)
    versions = [m.version for m in available_migrations()]
    assert sorted(v for run in applied for v in run) == versions
    assert again == []
    assert sorted(r["version"] for r in recorded) == versions
