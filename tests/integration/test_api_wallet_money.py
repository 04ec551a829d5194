"""Signed wallet callbacks move money exactly once: concurrency, idempotency, rollbacks, holds."""

import asyncio
import json
from typing import Any, Final

import httpx

from roomserver.config import Config
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import AGENT_ID, api_config, api_url, funded_player, signed_post
from tests.support.node import unique

CURRENCY: Final = "EUR"


def client_for(url: str) -> httpx.AsyncClient:
    """A client able to keep many requests in flight at once."""
    return httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=100), timeout=30.0)


def bet_body(player_id: str, bet: int, win: int = 0, **overrides: Any) -> dict[str, Any]:
    """A makeBet body with fresh transaction and round ids."""
    body: dict[str, Any] = {
        "transaction_id": unique("tx"),
        "round_id": unique("round"),
        "player_id": player_id,
        "currency": CURRENCY,
        "bet": bet,
        "win": win,
    }
    body.update(overrides)
    return body


async def balance_of(client: httpx.AsyncClient, player_id: str) -> int:
    """The player's balance as `/wallet/getBalance` reports it."""
    response = await signed_post(
        client, "/wallet/getBalance", {"player_id": player_id, "currency": CURRENCY}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == CURRENCY
    balance: int = body["balance"]
    return balance


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The response is the error body with this status and code."""
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def wallet_bet_rows(ledger: Ledger, transaction_id: str) -> int:
    """How many wallet_bets rows the test agent has for a transaction id."""
    count: int = await ledger.pool.fetchval(
        "SELECT count(*) FROM wallet_bets WHERE agent_id = $1 AND transaction_id = $2",
        AGENT_ID,
        transaction_id,
    )
    return count


async def ledger_transactions(ledger: Ledger, kind: str, *parts: str) -> int:
    """How many ledger transactions carry the idempotency key of `kind` and `parts`."""
    count: int = await ledger.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions"
        " WHERE idempotency_key = ledger_key($1, VARIADIC $2::text[])",
        kind,
        list(parts),
    )
    return count


# ---------------------------------------------------------------- makeBet


async def test_concurrent_bets_never_overdraw(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        responses = await asyncio.gather(
            *(signed_post(client, "/wallet/makeBet", bet_body(player, 10)) for _ in range(50))
        )
        final = await balance_of(client, player)
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 20
    assert len(refused) == 30
    for response in refused:
        assert_error(response, 422, "INSUFFICIENT_FUNDS")
    # Each accepted bet saw the balance its predecessor left: 190, 180, ..., 0.
    assert sorted(r.json()["balance"] for r in accepted) == list(range(0, 200, 10))
    assert final == 0
    assert await ledger.cash_balance(player, CURRENCY) == 0
    assert await ledger.audit() == []


async def test_same_transaction_concurrently_debits_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    body = bet_body(player, 30)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        first, second = await asyncio.gather(
            signed_post(client, "/wallet/makeBet", body),
            signed_post(client, "/wallet/makeBet", body),
        )
        final = await balance_of(client, player)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json() == {
        "balance": 170,
        "transaction_id": body["transaction_id"],
        "currency": CURRENCY,
    }
    assert final == 170
    assert await ledger.cash_balance(player, CURRENCY) == 170
    assert await wallet_bet_rows(ledger, body["transaction_id"]) == 1
    assert await ledger_transactions(ledger, "wallet_bet", AGENT_ID, body["transaction_id"]) == 1


async def test_same_transaction_with_another_amount_is_refused(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    body = bet_body(player, 10)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        first = await signed_post(client, "/wallet/makeBet", body)
        changed = await signed_post(client, "/wallet/makeBet", {**body, "bet": 20})
        final = await balance_of(client, player)
    assert first.status_code == 200, first.text
    assert_error(changed, 422, "IDEMPOTENCY_MISMATCH")
    assert final == 190
    assert await wallet_bet_rows(ledger, body["transaction_id"]) == 1


# ---------------------------------------------------------------- /wallet/rollback


async def test_rollback_before_the_bet_tombstones_it(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    body = bet_body(player, 10)
    rollback = {"transaction_id": body["transaction_id"], "rollback_transaction_id": unique("rb")}
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        tombstone = await signed_post(client, "/wallet/rollback", rollback)
        late = await signed_post(client, "/wallet/makeBet", body)
        final = await balance_of(client, player)
    assert tombstone.status_code == 200, tombstone.text
    assert tombstone.json() == {
        **rollback,
        "status": "tombstoned",
        "balance": None,
        "currency": None,
    }
    assert_error(late, 409, "TRANSACTION_ROLLED_BACK")
    assert final == 200
    assert await wallet_bet_rows(ledger, body["transaction_id"]) == 0


async def test_rollback_of_a_losing_bet_returns_the_stake_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    body = bet_body(player, 50)
    rollback = {"transaction_id": body["transaction_id"], "rollback_transaction_id": unique("rb")}
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        bet = await signed_post(client, "/wallet/makeBet", body)
        after_bet = await balance_of(client, player)
        first = await signed_post(client, "/wallet/rollback", rollback)
        after_rollback = await balance_of(client, player)
        again = await signed_post(client, "/wallet/rollback", rollback)
        final = await balance_of(client, player)
    assert bet.status_code == 200, bet.text
    assert after_bet == 150
    assert first.status_code == 200, first.text
    assert first.json() == {
        **rollback,
        "status": "rolled_back",
        "balance": 200,
        "currency": CURRENCY,
    }
    assert after_rollback == 200
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert final == 200
    key = ("wallet_rollback", AGENT_ID, body["transaction_id"])
    assert await ledger_transactions(ledger, *key) == 1


async def test_rollback_in_a_round_with_a_win_is_refused(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 200)
    stake = bet_body(player, 10)
    payout = bet_body(player, 0, win=35, round_id=stake["round_id"])
    rollback = {"transaction_id": stake["transaction_id"], "rollback_transaction_id": unique("rb")}
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        first = await signed_post(client, "/wallet/makeBet", stake)
        second = await signed_post(client, "/wallet/makeBet", payout)
        refused = await signed_post(client, "/wallet/rollback", rollback)
        final = await balance_of(client, player)
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json()["balance"] == 225
    assert_error(refused, 409, "ROUND_SETTLED")
    assert final == 225
    key = ("wallet_rollback", AGENT_ID, stake["transaction_id"])
    assert await ledger_transactions(ledger, *key) == 0


# ---------------------------------------------------------------- two-phase holds


def authorize_body(player_id: str, amount: int) -> dict[str, Any]:
    """An authorize body with fresh bet and round ids."""
    return {
        "bet_id": unique("bet"),
        "round_id": unique("round"),
        "player_id": player_id,
        "amount": amount,
    }


async def test_authorize_then_settle_captures_the_hold_and_pays_the_win(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 500)
    hold = authorize_body(player, 120)
    settle = {"bet_id": hold["bet_id"], "round_id": hold["round_id"], "win": 300}
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        authorized = await signed_post(client, "/v1/bets/authorize", hold)
        held = await balance_of(client, player)
        settled = await signed_post(client, "/v1/bets/settle", settle)
        final = await balance_of(client, player)
    assert authorized.status_code == 200, authorized.text
    assert authorized.json()["status"] == "authorized"
    assert authorized.json()["balance"] == 380
    assert held == 500 - 120
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "settled"
    assert settled.json()["hold_id"] == authorized.json()["hold_id"]
    assert settled.json()["balance"] == 500 - 120 + 300
    assert final == 500 - 120 + 300
    assert await ledger.cash_balance(player, CURRENCY) == 680


async def test_settle_without_authorize_is_not_found(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 100)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        response = await signed_post(
            client, "/v1/bets/settle", {"bet_id": unique("bet"), "win": 50}
        )
        final = await balance_of(client, player)
    assert_error(response, 404, "BET_NOT_FOUND")
    assert final == 100


async def test_rollback_releases_the_hold(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 500)
    hold = authorize_body(player, 200)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        authorized = await signed_post(client, "/v1/bets/authorize", hold)
        held = await balance_of(client, player)
        released = await signed_post(client, "/v1/bets/rollback", {"bet_id": hold["bet_id"]})
        final = await balance_of(client, player)
    assert authorized.status_code == 200, authorized.text
    assert held == 300
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "rolled_back"
    assert released.json()["balance"] == 500
    assert final == 500


async def test_settle_and_rollback_race_resolves_each_hold_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    start, amount, win = 1000, 10, 25
    player = await funded_player(ledger, start)
    holds = [authorize_body(player, amount) for _ in range(10)]
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        for hold in holds:
            authorized = await signed_post(client, "/v1/bets/authorize", hold)
            assert authorized.status_code == 200, authorized.text
        assert await balance_of(client, player) == start - 10 * amount
        races = await asyncio.gather(
            *(
                asyncio.gather(
                    signed_post(client, "/v1/bets/settle", {"bet_id": h["bet_id"], "win": win}),
                    signed_post(client, "/v1/bets/rollback", {"bet_id": h["bet_id"]}),
                )
                for h in holds
            )
        )
        final = await balance_of(client, player)
    expected = start
    for hold, (settled, released) in zip(holds, races, strict=True):
        kind: str = await ledger.pool.fetchval(
            "SELECT kind FROM bet_resolutions WHERE agent_id = $1 AND bet_id = $2",
            AGENT_ID,
            hold["bet_id"],
        )
        if settled.status_code == 200:
            assert_error(released, 409, "ALREADY_SETTLED")
            assert settled.json()["status"] == "settled"
            assert kind == "settle"
            expected += win - amount
        else:
            assert released.status_code == 200, released.text
            assert released.json()["status"] == "rolled_back"
            assert_error(settled, 409, "ALREADY_ROLLED_BACK")
            assert kind == "rollback"
    assert final == expected
    assert await ledger.cash_balance(player, CURRENCY) == expected
    assert await ledger.audit() == []


async def test_authorize_beyond_the_balance_is_refused(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 100)
    hold = authorize_body(player, 101)
    async with start_node(api_config(base_config)) as node, client_for(api_url(node)) as client:
        refused = await signed_post(client, "/v1/bets/authorize", hold)
        final = await balance_of(client, player)
        settle = await signed_post(client, "/v1/bets/settle", {"bet_id": hold["bet_id"], "win": 0})
    assert_error(refused, 422, "INSUFFICIENT_FUNDS")
    assert final == 100
    # No hold was left behind.
    assert_error(settle, 404, "BET_NOT_FOUND")
    assert json.loads(refused.text)["retryable"] is False
