"""`X-Idempotency-Key` on every write route of the side API: one request runs per key.

Every retry — also one racing the first — gets the stored response byte for byte; the same key
with another request is 422 IDEMPOTENCY_MISMATCH.
"""

import asyncio
import json
import uuid
from typing import Any, Final

import httpx
import msgspec

from api.models import CreateTournament
from roomserver.config import Config
from roomserver.domain.fingerprint import fingerprint
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    admin_client,
    api_config,
    api_fixtures,
    assert_error,
    funded_player,
    signed_headers,
)
from tests.support.api import tournament_body as free_tournament_body
from tests.support.node import create_tournament, unique

RACERS: Final = 20

# Clients able to keep many requests in flight at once.
node, client = api_fixtures(limits=httpx.Limits(max_connections=RACERS + 5), timeout=30.0)


def keyed(key: str | None = None) -> dict[str, str]:
    """Headers carrying a (fresh) idempotency key."""
    return {"X-Idempotency-Key": key or unique("idem")}


def tournament_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-tournament body with a buy-in."""
    return free_tournament_body(**{"name": "Idempotent tournament", "buy_in": 100, **overrides})


async def registration(ledger: Ledger, *, buy_in: int, cash: int) -> tuple[str, str]:
    """The players path of a new tournament with `buy_in`, and a player with `cash`."""
    tournament_id = (await create_tournament(ledger, buy_in=buy_in)).config.tournament_id
    player = await funded_player(ledger, cash)
    return f"/internal/tournaments/{tournament_id}/players", player


async def settled_replays(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> list[httpx.Response]:
    """RACERS concurrent identical requests, each retried until it gets the stored response.

    A 409 DUPLICATE means the first is still in flight.
    """

    async def one() -> httpx.Response:
        for _ in range(100):
            response = await client.request(method, path, headers=headers, **kwargs)
            if response.status_code != 409 or response.json().get("code") != "DUPLICATE":
                return response
            assert response.json()["retryable"] is True
            await asyncio.sleep(0.05)
        raise AssertionError("the first request never finished")

    return list(await asyncio.gather(*(one() for _ in range(RACERS))))


def assert_one_answer(responses: list[httpx.Response], status: int) -> bytes:
    """Every response has `status` and the same body, byte for byte; returns it."""
    assert {r.status_code for r in responses} == {status}, [r.text for r in responses]
    bodies = {r.content for r in responses}
    assert len(bodies) == 1, bodies
    return bodies.pop()


# ---------------------------------------------------------------- create


async def test_racing_creates_with_one_key_all_get_the_first_response_byte_for_byte(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    headers = keyed()
    body = tournament_body(
        kind="scheduled",
        name=unique("race"),
        starts_at="2000-01-01T00:00:00Z",
        ends_at="2999-01-01T00:00:00Z",
    )
    responses = await settled_replays(client, "POST", "/internal/tournaments", headers, json=body)
    first = assert_one_answer(responses, 201)
    tournament_id = json.loads(first)["tournament_id"]
    # Later replays, after the scheduler has moved the tournament on, still get those bytes.
    await asyncio.sleep(0.3)
    later = await client.post("/internal/tournaments", json=body, headers=headers)
    assert later.status_code == 201 and later.content == first
    # One tournament was made.
    made = await ledger.pool.fetchval(
        "SELECT count(*) FROM tournaments WHERE name = $1", body["name"]
    )
    assert made == 1 and (await ledger.load_tournament(tournament_id)) is not None


async def test_a_create_replay_ignores_json_formatting_but_not_the_content(
    client: httpx.AsyncClient,
) -> None:
    headers = keyed()
    body = tournament_body()
    first = await client.post("/internal/tournaments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    again = await client.post(
        "/internal/tournaments",
        content=reordered,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201 and again.content == first.content
    changed = await client.post(
        "/internal/tournaments", json=tournament_body(max_players=7), headers=headers
    )
    assert_error(changed, 422, "IDEMPOTENCY_MISMATCH")


async def test_a_key_whose_holder_died_is_taken_over_after_its_lease(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    config = api_config(base_config, idempotency_lease_s=0.5, idempotency_wait_s=0.2)
    body = tournament_body()
    key = unique("idem")
    async with (
        start_node(config) as node,
        admin_client(node) as client,
    ):
        digest = _digest_of(body)
        # A reservation left by a request that never finished (its node was killed).
        await ledger.pool.execute(
            """INSERT INTO api_idempotency (caller, idempotency_key, request_hash,
                                                reservation, lease_until)
                   VALUES ('key:admin', $1, $2, $3, now() + interval '0.5 seconds')""",
            f"create_tournament:{key}",
            digest,
            uuid.uuid4(),
        )
        waiting = await client.post("/internal/tournaments", json=body, headers=keyed(key))
        body_409 = assert_error(waiting, 409, "DUPLICATE")
        assert body_409["retryable"] is True
        other = await client.post(
            "/internal/tournaments", json=tournament_body(name="x"), headers=keyed(key)
        )
        assert_error(other, 422, "IDEMPOTENCY_MISMATCH")
        await asyncio.sleep(0.6)
        taken = await client.post("/internal/tournaments", json=body, headers=keyed(key))
        assert taken.status_code == 201, taken.text
        again = await client.post("/internal/tournaments", json=body, headers=keyed(key))
        assert again.content == taken.content


def _digest_of(body: dict[str, Any]) -> bytes:
    """The request hash the server keeps for this create body."""
    return fingerprint(msgspec.json.decode(json.dumps(body), type=CreateTournament))


# ---------------------------------------------------------------- players


async def test_a_registration_replay_says_registered_like_the_first(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    path, player = await registration(ledger, buy_in=100, cash=1_000)
    headers = keyed()
    responses = await settled_replays(client, "POST", path, headers, json={"player_id": player})
    first = json.loads(assert_one_answer(responses, 200))
    assert first["status"] == "registered"
    again = await client.post(path, json={"player_id": player}, headers=headers)
    assert again.content == responses[0].content
    # Without a key a repeat says what happened; with another body the key is refused.
    plain = await client.post(path, json={"player_id": player})
    assert plain.json()["status"] == "already_registered"
    other = await funded_player(ledger, 1_000)
    assert_error(
        await client.post(path, json={"player_id": other}, headers=headers),
        422,
        "IDEMPOTENCY_MISMATCH",
    )
    # The buy-in was taken once.
    assert await ledger.cash_balance(player, "EUR") == 900


async def test_a_refused_request_stores_nothing_so_its_retry_runs_again(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    path, player = await registration(ledger, buy_in=500, cash=100)
    headers = keyed()
    refused = await client.post(path, json={"player_id": player}, headers=headers)
    assert_error(refused, 422, "INSUFFICIENT_FUNDS")
    await ledger.deposit(player, "EUR", 1_000, f"test:topup:{player}")
    retried = await client.post(path, json={"player_id": player}, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "registered"


async def test_hop_off_replays_its_first_response(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    players, player = await registration(ledger, buy_in=100, cash=1_000)
    register = await client.post(players, json={"player_id": player})
    assert register.status_code == 200, register.text
    path = f"{players}/{player}"
    headers = keyed()
    first = assert_one_answer(await settled_replays(client, "DELETE", path, headers), 200)
    assert json.loads(first)["status"] == "unregistered"
    # The same key on another player's hop-off is another request.
    other = f"{players}/{await funded_player(ledger, 10)}"
    assert_error(await client.delete(other, headers=headers), 422, "IDEMPOTENCY_MISMATCH")


# ---------------------------------------------------------------- results, cancel, RG


async def test_a_result_replay_with_its_key_is_the_first_response(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = await funded_player(ledger, 1_000)
    register = await client.post(
        f"/internal/tournaments/{tournament_id}/players", json={"player_id": player}
    )
    assert register.status_code == 200, register.text
    path = f"/internal/tournaments/{tournament_id}/results"
    result = {"result_id": unique("r"), "player_id": player, "score_delta": 5}
    headers = keyed()
    first = json.loads(
        assert_one_answer(await settled_replays(client, "POST", path, headers, json=result), 200)
    )
    assert first["replayed"] is False and first["score"] == 5
    # Without the key, a repeat is recognised by its result_id.
    plain = await client.post(path, json=result)
    assert plain.json()["replayed"] is True and plain.json()["score"] == 5
    changed = {**result, "score_delta": 6}
    assert_error(
        await client.post(path, json=changed, headers=headers), 422, "IDEMPOTENCY_MISMATCH"
    )


async def test_cancel_replays_its_first_response(client: httpx.AsyncClient, ledger: Ledger) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    path = f"/internal/tournaments/{tournament_id}/cancel"
    headers = keyed()
    first = assert_one_answer(await settled_replays(client, "POST", path, headers), 200)
    assert json.loads(first)["status"] == "cancelled"
    # The key names this cancel: on another tournament it is refused, which stays open.
    other = (await create_tournament(ledger)).config.tournament_id
    refused = await client.post(f"/internal/tournaments/{other}/cancel", headers=headers)
    assert_error(refused, 422, "IDEMPOTENCY_MISMATCH")
    status = await client.get(f"/internal/tournaments/{other}/status")
    assert status.json()["status"] == "running"


async def test_rg_settings_replay_their_first_response(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 10)
    path = f"/internal/players/{player}/rg"
    headers = keyed()
    settings = {"self_excluded": False, "loss_limit": 500}
    first = assert_one_answer(
        await settled_replays(client, "PUT", path, headers, json=settings), 200
    )
    assert json.loads(first)["loss_limit"] == 500
    changed = {"self_excluded": False, "loss_limit": 400}
    assert_error(await client.put(path, json=changed, headers=headers), 422, "IDEMPOTENCY_MISMATCH")


# ---------------------------------------------------------------- wallet


async def test_wallet_callbacks_honour_the_idempotency_key(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 1_000)
    key = unique("idem")

    async def signed(path: str, payload: dict[str, Any], idem: str) -> httpx.Response:
        content = json.dumps(payload).encode()
        headers = {**signed_headers(content), "X-Idempotency-Key": idem}
        return await client.post(path, content=content, headers=headers)

    bet = {"bet_id": unique("bet"), "round_id": unique("round"), "player_id": player, "amount": 100}
    authorized = await asyncio.gather(
        *(signed("/v1/bets/authorize", bet, key) for _ in range(RACERS))
    )
    statuses = {r.status_code for r in authorized}
    assert statuses <= {200, 409}, [r.text for r in authorized]
    done = [r for r in authorized if r.status_code == 200]
    assert len({r.content for r in done}) == 1
    replay = await signed("/v1/bets/authorize", bet, key)
    assert replay.status_code == 200 and replay.content == done[0].content
    # The key names this authorize: with another bet it is refused, and nothing is held.
    another = {**bet, "bet_id": unique("bet")}
    assert_error(await signed("/v1/bets/authorize", another, key), 422, "IDEMPOTENCY_MISMATCH")
    assert await ledger.held_balance(player, "EUR") == 100
    settle_key = unique("idem")
    settle = {"bet_id": bet["bet_id"], "win": 30}
    settled = await signed("/v1/bets/settle", settle, settle_key)
    assert settled.status_code == 200, settled.text
    again = await signed("/v1/bets/settle", settle, settle_key)
    assert again.content == settled.content
    assert await ledger.cash_balance(player, "EUR") == 930
