"""The side API's routes end to end, and the one error body with its trace id.

Operations, tournaments, players, hop-off, status, leaderboard, token validation, server info.
"""

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clients.python.room_client import RoomClient
from protocol.messages import Spin, SpinResult
from roomserver.domain import slot_game
from roomserver.domain.tournament import Tournament
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.support.api import (
    OTHER_ADMIN_KEY,
    READER_KEY,
    admin_client,
    admin_headers,
    api_fixtures,
    assert_traced_error,
    funded_player,
    tournament_body,
)
from tests.support.node import create_tournament, join, token, unique, ws_url

node, client = api_fixtures()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The traced error body with this status and code, retryable as its code is; the body."""
    body = assert_traced_error(response, status, code)
    assert isinstance(body["message"], str)
    assert body["retryable"] is (code in {"RATE_LIMITED", "INTERNAL", "NOT_READY"})
    return body


@contextlib.asynccontextmanager
async def _a_player_in_a_new_room(
    node: Node, ledger: Ledger
) -> AsyncIterator[tuple[str, RoomClient]]:
    """A new tournament's room, and a connected player who joined it."""
    room = (await create_tournament(ledger)).config.tournament_id
    async with await RoomClient.connect(ws_url(node), token(unique("p"))) as ws:
        await join(ws, room)
        yield room, ws


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- operations


async def test_health_says_ok_with_version_and_time(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Api-Key": ""})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["version"], str) and body["version"]
    moment = dt.datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    assert moment.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < 30
    assert response.headers["X-Trace-Id"]


async def test_ready_checks_postgres_and_says_redis_is_not_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "postgres": "ok", "redis": "not_configured"}


async def test_metrics_are_prometheus_text_with_every_family(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    async with _a_player_in_a_new_room(node, ledger) as (room, ws):
        await ws.send(Spin(room=room, stake=10, idempotency_key=unique("k"), rid="s"))
        await ws.recv_type(SpinResult, rid="s")
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for family, kind in [
        ("roomserver_connections", "gauge"),
        ("roomserver_rooms", "gauge"),
        ("roomserver_spins", "counter"),
        ("roomserver_spin_latency_seconds", "histogram"),
        ("roomserver_frames_sent", "counter"),
        ("roomserver_errors", "counter"),
    ]:
        assert re.search(rf"^# TYPE {family}(_total)? {kind}$", text, re.M), family
    assert re.search(r"^roomserver_connections 1\.0$", text, re.M), text
    assert re.search(r"^roomserver_rooms 1\.0$", text, re.M), text
    assert re.search(r"^roomserver_spins_total 1\.0$", text, re.M), text
    assert re.search(r"^roomserver_spin_latency_seconds_count 1\.0$", text, re.M), text


async def test_the_openapi_document_lists_every_path(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    paths = document["paths"]
    expected = {
        "/internal/tournaments": {"post"},
        "/internal/tournaments/{tournament_id}/config": {"get"},
        "/internal/tournaments/{tournament_id}/players": {"get", "post"},
        "/internal/tournaments/{tournament_id}/players/{player_id}": {"delete"},
        "/internal/tournaments/{tournament_id}/status": {"get"},
        "/internal/tournaments/{tournament_id}/leaderboard": {"get"},
        "/internal/tournaments/{tournament_id}/results": {"post"},
        "/internal/auth/validate-token": {"post"},
        "/internal/server-info": {"get"},
        "/wallet/getBalance": {"post"},
        "/wallet/makeBet": {"post"},
        "/wallet/rollback": {"post"},
        "/v1/bets/authorize": {"post"},
        "/v1/bets/settle": {"post"},
        "/v1/bets/rollback": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
    assert "ApiKey" in document["components"]["securitySchemes"]


# ---------------------------------------------------------------- create and read tournaments


async def test_a_hop_on_off_tournament_runs_at_once(client: httpx.AsyncClient) -> None:
    response = await client.post("/internal/tournaments", json=tournament_body(buy_in=250))
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["status"] == "running"
    assert view["kind"] == "hop_on_off"
    assert view["buy_in"] == 250
    assert view["starting_chips"] == 5_000
    assert view["scoring"] == "total_win"
    assert view["leaderboard_size"] == 10
    assert re.fullmatch(r"[0-9a-f]{64}", view["server_seed_hash"])
    config = await client.get(f"/internal/tournaments/{view['tournament_id']}/config")
    assert config.status_code == 200, config.text
    assert config.json() == view


async def test_a_scheduled_tournament_whose_start_has_come_runs_at_once(
    client: httpx.AsyncClient,
) -> None:
    now = dt.datetime.now(dt.UTC)
    response = await client.post(
        "/internal/tournaments",
        json=tournament_body(
            kind="scheduled",
            starts_at=iso(now - dt.timedelta(minutes=1)),
            ends_at=iso(now + dt.timedelta(hours=1)),
        ),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "running"
    assert response.json()["kind"] == "scheduled"


async def test_a_scheduled_tournament_waits_for_its_start(client: httpx.AsyncClient) -> None:
    now = dt.datetime.now(dt.UTC)
    starts, ends = now + dt.timedelta(hours=1), now + dt.timedelta(hours=2)
    tournament_id = unique("t")
    response = await client.post(
        "/internal/tournaments",
        json=tournament_body(
            kind="scheduled",
            tournament_id=tournament_id,
            starts_at=iso(starts),
            ends_at=iso(ends),
            prizes=[{"rank_from": 1, "rank_to": 3, "amount": 100}],
        ),
    )
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["tournament_id"] == tournament_id
    assert view["status"] == "scheduled"
    assert dt.datetime.fromisoformat(view["starts_at"].replace("Z", "+00:00")) == starts
    assert view["prizes"] == [{"rank_from": 1, "rank_to": 3, "amount": 100}]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"kind": "scheduled"}, "UNPROCESSABLE"),
        ({"kind": "scheduled", "starts_at": "2099-01-01T00:00:00Z"}, "UNPROCESSABLE"),
        (
            {"starts_at": "2099-01-02T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"},
            "UNPROCESSABLE",
        ),
        ({"min_stake": 500, "max_stake": 100}, "UNPROCESSABLE"),
        ({"prizes": [{"rank_from": 3, "rank_to": 1, "amount": 5}]}, "UNPROCESSABLE"),
        ({"game_id": "no-such-game"}, "UNKNOWN_GAME"),
    ],
)
async def test_an_impossible_tournament_is_refused_with_422(
    client: httpx.AsyncClient, overrides: dict[str, Any], code: str
) -> None:
    tournament_id = unique("t")
    response = await client.post(
        "/internal/tournaments", json=tournament_body(tournament_id=tournament_id, **overrides)
    )
    assert_error(response, 422, code)
    missing = await client.get(f"/internal/tournaments/{tournament_id}/config")
    assert_error(missing, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "content",
    [
        b'{"kind": "hop_on_off",',
        b"not json at all",
        b"[]",
        b'{"kind": "hop_on_off"}',
        b'{"kind": "bingo", "name": "x", "game_id": "g", "currency": "EUR", "starting_chips": 1,'
        b' "min_stake": 1, "max_stake": 1, "max_players": 1}',
        b'{"kind": "hop_on_off", "name": "x", "game_id": "g", "currency": "euro",'
        b' "starting_chips": 1, "min_stake": 1, "max_stake": 1, "max_players": 1}',
    ],
)
async def test_a_malformed_body_is_a_400_with_the_error_body(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/internal/tournaments", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "BAD_REQUEST")


async def test_an_idempotency_key_returns_the_first_tournament_or_a_mismatch(
    client: httpx.AsyncClient, node: Node
) -> None:
    key = {"X-Idempotency-Key": unique("idem")}
    body = tournament_body()
    first = await client.post("/internal/tournaments", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = await client.post("/internal/tournaments", json=body, headers=key)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    changed = await client.post(
        "/internal/tournaments", json=tournament_body(name="Another name"), headers=key
    )
    assert_error(changed, 422, "IDEMPOTENCY_MISMATCH")
    # Keys belong to their caller: another key with the same idempotency key makes its own.
    async with admin_client(node, OTHER_ADMIN_KEY) as other:
        theirs = await other.post("/internal/tournaments", json=body, headers=key)
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["tournament_id"] != first.json()["tournament_id"]


async def test_concurrent_retries_with_one_idempotency_key_make_one_tournament(
    client: httpx.AsyncClient,
) -> None:
    key = {"X-Idempotency-Key": unique("idem")}
    responses = await asyncio.gather(
        *(
            client.post("/internal/tournaments", json=tournament_body(), headers=key)
            for _ in range(5)
        )
    )
    # The late ones wait for the first and get its stored response, byte for byte.
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1


async def test_an_explicit_id_taken_twice_is_a_duplicate(client: httpx.AsyncClient) -> None:
    body = tournament_body(tournament_id=unique("t"))
    assert (await client.post("/internal/tournaments", json=body)).status_code == 201
    assert_error(await client.post("/internal/tournaments", json=body), 409, "DUPLICATE")


async def test_the_config_of_an_unknown_tournament_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"/internal/tournaments/{unique('t')}/config"), 404, "NOT_FOUND")
    # An id the path pattern refuses is a 400, not a 500.
    assert_error(await client.get("/internal/tournaments/bad%20id!/config"), 400, "BAD_REQUEST")


# ---------------------------------------------------------------- players


async def test_registering_debits_the_buy_in_once(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (
        await create_tournament(ledger, buy_in=1_000, starting_chips=5_000)
    ).config.tournament_id
    player = await funded_player(ledger, 10_000)
    path = f"/internal/tournaments/{tournament_id}/players"
    first = await client.post(path, json={"player_id": player})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "tournament_id": tournament_id,
        "player_id": player,
        "status": "registered",
        "chips": 5_000,
    }
    assert await ledger.cash_balance(player, "EUR") == 9_000
    assert await ledger.chips_balance(tournament_id, player) == 5_000
    again = await client.post(path, json={"player_id": player})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "already_registered"
    assert again.json()["chips"] == 5_000
    assert await ledger.cash_balance(player, "EUR") == 9_000


async def test_registering_without_the_buy_in_is_refused(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger, buy_in=1_000)).config.tournament_id
    player = await funded_player(ledger, 999)
    response = await client.post(
        f"/internal/tournaments/{tournament_id}/players", json={"player_id": player}
    )
    assert_error(response, 422, "INSUFFICIENT_FUNDS")
    assert await ledger.cash_balance(player, "EUR") == 999
    assert await ledger.chips_balance(tournament_id, player) is None
    unknown = await client.post(
        f"/internal/tournaments/{unique('t')}/players", json={"player_id": player}
    )
    assert_error(unknown, 404, "NOT_FOUND")


async def test_an_unknown_player_is_created_with_the_tournament_currency(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    response = await client.post(
        f"/internal/tournaments/{tournament_id}/players",
        json={"player_id": player, "name": "Fresh Player"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["chips"] == 100_000
    record = await ledger.player(player)
    assert record is not None
    assert record.name == "Fresh Player"
    assert record.currency == "EUR"


async def test_the_player_list_shows_rank_balance_and_who_is_online(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    online, offline = unique("p"), unique("p")
    path = f"/internal/tournaments/{tournament_id}/players"
    assert (await client.post(path, json={"player_id": offline})).status_code == 200
    result = {"result_id": unique("r"), "player_id": offline, "score_delta": 40}
    assert (
        await client.post(f"/internal/tournaments/{tournament_id}/results", json=result)
    ).status_code == 200
    async with await RoomClient.connect(ws_url(node), token(online)) as ws:
        await join(ws, tournament_id)
        response = await client.get(path)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["tournament_id"] == tournament_id
        assert page["total"] == 2
        assert (page["limit"], page["offset"]) == (100, 0)
        players = {row["player_id"]: row for row in page["players"]}
        assert players[offline]["rank"] == 1
        assert players[offline]["score"] == 40
        assert players[offline]["online"] is False
        assert players[online]["rank"] == 2
        assert players[online]["online"] is True
        assert players[online]["balance"] == 100_000
        assert players[online]["spins"] == 0
    assert_error(await client.get(f"/internal/tournaments/{unique('t')}/players"), 404, "NOT_FOUND")


# ---------------------------------------------------------------- hop off


async def _spin(
    ws: RoomClient, ledger: Ledger, tournament: Tournament, player: str, stake: int, *, win: bool
) -> int:
    """One spin whose client seed is chosen to win (multiplier >= 2) or lose; the chips after."""
    room = tournament.config.tournament_id
    nonce = await ledger.next_nonce(room, player)
    for attempt in range(10_000):
        client_seed = f"seed-{attempt}"
        multiplier = slot_game.play(tournament.server_seed, client_seed, nonce).multiplier
        if (multiplier >= 2) if win else (multiplier == 0):
            break
    else:
        raise AssertionError("no client seed gives the wanted outcome")
    await ws.send(
        Spin(room=room, stake=stake, idempotency_key=unique("k"), client_seed=client_seed, rid="s")
    )
    result = await ws.recv_type(SpinResult, rid="s")
    assert result.payload.fairness.nonce == nonce
    assert result.payload.win == stake * multiplier
    return result.payload.balance


async def _registered_and_spun(
    node: Node,
    client: httpx.AsyncClient,
    ledger: Ledger,
    *,
    buy_in: int,
    starting: int,
    cash: int,
    stake: int,
    win: bool,
) -> tuple[str, str, str, int]:
    """A player with `cash`, registered over the API to a new tournament, who spun once.

    Returns the tournament id, its players path, the player and the chips after the spin.
    """
    tournament = await create_tournament(ledger, buy_in=buy_in, starting_chips=starting)
    tournament_id = tournament.config.tournament_id
    player = await funded_player(ledger, cash)
    path = f"/internal/tournaments/{tournament_id}/players"
    assert (await client.post(path, json={"player_id": player})).status_code == 200
    async with await RoomClient.connect(ws_url(node), token(player)) as ws:
        await join(ws, tournament_id)
        chips = await _spin(ws, ledger, tournament, player, stake, win=win)
    return tournament_id, path, player, chips


async def test_hopping_off_refunds_the_buy_in_in_proportion_to_the_chips_left(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    buy_in, starting = 1_000, 5_000
    tournament_id, path, player, chips = await _registered_and_spun(
        node, client, ledger, buy_in=buy_in, starting=starting, cash=10_000, stake=700, win=False
    )
    assert chips == starting - 700
    response = await client.delete(f"{path}/{player}")
    assert response.status_code == 200, response.text
    expected_refund = min(buy_in, buy_in * chips // starting)
    assert expected_refund == 860
    assert response.json() == {
        "tournament_id": tournament_id,
        "player_id": player,
        "status": "unregistered",
        "chips_returned": chips,
        "refund": expected_refund,
        "currency": "EUR",
    }
    assert await ledger.cash_balance(player, "EUR") == 9_000 + expected_refund
    assert await ledger.chips_balance(tournament_id, player) == 0
    again = await client.delete(f"{path}/{player}")
    assert again.status_code == 200, again.text
    assert again.json() == response.json()
    assert await ledger.cash_balance(player, "EUR") == 9_000 + expected_refund
    listed = (await client.get(path)).json()
    assert player not in {row["player_id"] for row in listed["players"]}


async def test_hopping_off_with_more_chips_than_at_the_start_refunds_at_most_the_buy_in(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    buy_in, starting = 1_000, 5_000
    _, path, player, chips = await _registered_and_spun(
        node, client, ledger, buy_in=buy_in, starting=starting, cash=1_000, stake=10, win=True
    )
    assert chips > starting
    response = await client.delete(f"{path}/{player}")
    assert response.status_code == 200, response.text
    assert response.json()["chips_returned"] == chips
    assert response.json()["refund"] == buy_in
    assert await ledger.cash_balance(player, "EUR") == buy_in


async def test_hopping_off_before_the_start_refunds_the_whole_buy_in(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    now = dt.datetime.now(dt.UTC)
    tournament_id = (
        await create_tournament(
            ledger,
            status="scheduled",
            kind="scheduled",
            buy_in=700,
            starts_at=now + dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(hours=2),
        )
    ).config.tournament_id
    player = await funded_player(ledger, 700)
    path = f"/internal/tournaments/{tournament_id}/players"
    assert (await client.post(path, json={"player_id": player})).status_code == 200
    assert await ledger.cash_balance(player, "EUR") == 0
    response = await client.delete(f"{path}/{player}")
    assert response.status_code == 200, response.text
    assert response.json()["refund"] == 700
    assert await ledger.cash_balance(player, "EUR") == 700


async def test_hopping_off_is_refused_when_not_registered_or_scheduled_and_running(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    hop_on_off = (await create_tournament(ledger)).config.tournament_id
    assert_error(
        await client.delete(f"/internal/tournaments/{hop_on_off}/players/{unique('p')}"),
        404,
        "NOT_REGISTERED",
    )
    assert_error(
        await client.delete(f"/internal/tournaments/{unique('t')}/players/{unique('p')}"),
        404,
        "NOT_FOUND",
    )
    now = dt.datetime.now(dt.UTC)
    scheduled = (
        await create_tournament(
            ledger,
            kind="scheduled",
            buy_in=100,
            starts_at=now - dt.timedelta(minutes=1),
            ends_at=now + dt.timedelta(hours=1),
        )
    ).config.tournament_id
    player = await funded_player(ledger, 100)
    path = f"/internal/tournaments/{scheduled}/players"
    assert (await client.post(path, json={"player_id": player})).status_code == 200
    assert_error(await client.delete(f"{path}/{player}"), 409, "TOURNAMENT_RUNNING")
    assert await ledger.cash_balance(player, "EUR") == 0
    assert await ledger.chips_balance(scheduled, player) == 100_000


# ---------------------------------------------------------------- status and leaderboard


async def test_status_counts_players_spins_turnover_and_names_the_owner_node(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    path = f"/internal/tournaments/{tournament_id}/status"
    before = await client.get(path)
    assert before.status_code == 200, before.text
    assert before.json() | {"starts_at": None, "ends_at": None} == {
        "tournament_id": tournament_id,
        "status": "running",
        "kind": "hop_on_off",
        "players_registered": 0,
        "players_online": 0,
        "spins": 0,
        "turnover": 0,
        "currency": "EUR",
        "owner_node": None,
        "starts_at": None,
        "ends_at": None,
    }
    registered = unique("p")
    assert (
        await client.post(
            f"/internal/tournaments/{tournament_id}/players", json={"player_id": registered}
        )
    ).status_code == 200
    async with await RoomClient.connect(ws_url(node), token(unique("p"))) as ws:
        await join(ws, tournament_id)
        for n, stake in enumerate((10, 25)):
            await ws.send(
                Spin(room=tournament_id, stake=stake, idempotency_key=unique("k"), rid=f"{n}")
            )
            await ws.recv_type(SpinResult, rid=f"{n}")
        status = (await client.get(path)).json()
    assert status["players_registered"] == 2
    assert status["players_online"] == 1
    assert status["spins"] == 2
    assert status["turnover"] == 35
    assert isinstance(status["owner_node"], str) and status["owner_node"]
    assert_error(await client.get(f"/internal/tournaments/{unique('t')}/status"), 404, "NOT_FOUND")


async def test_the_leaderboard_pages_with_limit_and_offset(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    base = f"/internal/tournaments/{tournament_id}"
    players = [unique("p") for _ in range(5)]
    for score, player in zip((50, 40, 30, 20, 10), players, strict=True):
        assert (await client.post(f"{base}/players", json={"player_id": player})).status_code == 200
        result = {"result_id": unique("r"), "player_id": player, "score": score}
        assert (await client.post(f"{base}/results", json=result)).status_code == 200
    full = (await client.get(f"{base}/leaderboard")).json()
    assert [row["player_id"] for row in full["entries"]] == players
    assert [row["rank"] for row in full["entries"]] == [1, 2, 3, 4, 5]
    assert (full["total"], full["limit"], full["offset"]) == (5, 100, 0)
    page = (await client.get(f"{base}/leaderboard", params={"limit": 2, "offset": 1})).json()
    assert page["tournament_id"] == tournament_id
    assert [(row["rank"], row["player_id"], row["score"]) for row in page["entries"]] == [
        (2, players[1], 40),
        (3, players[2], 30),
    ]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    past_end = (await client.get(f"{base}/leaderboard", params={"offset": 5})).json()
    assert past_end["entries"] == []
    assert_error(await client.get(f"{base}/leaderboard", params={"limit": 0}), 400, "BAD_REQUEST")
    assert_error(
        await client.get(f"{base}/leaderboard", params={"limit": 1001}), 400, "BAD_REQUEST"
    )
    assert_error(await client.get(f"{base}/leaderboard", params={"offset": -1}), 400, "BAD_REQUEST")
    assert_error(
        await client.get(f"/internal/tournaments/{unique('t')}/leaderboard"), 404, "NOT_FOUND"
    )


# ---------------------------------------------------------------- tokens and server info


async def test_a_valid_token_is_described(client: httpx.AsyncClient) -> None:
    player = unique("p")
    response = await client.post(
        "/internal/auth/validate-token",
        json={"token": token(player, name="Token Player", loss_limit=5_000)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["player_id"] == player
    claims = body["claims"]
    assert claims["sub"] == player
    assert claims["name"] == "Token Player"
    assert claims["currency"] == "EUR"
    assert claims["geo"] == "MT"
    assert claims["rg"] == {"self_excluded": False, "loss_limit": 5_000, "session_limit_min": None}
    assert isinstance(claims["jti"], str) and claims["jti"]
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires > dt.datetime.now(dt.UTC)


async def test_expired_or_garbage_tokens_are_401(client: httpx.AsyncClient) -> None:
    path = "/internal/auth/validate-token"
    expired = await client.post(path, json={"token": token(unique("p"), ttl_s=-3600)})
    assert_error(expired, 401, "TOKEN_EXPIRED")
    garbage = await client.post(path, json={"token": "not.a.token"})
    assert_error(garbage, 401, "TOKEN_INVALID")
    assert_error(await client.post(path, json={"token": ""}), 400, "BAD_REQUEST")
    reader = await client.post(
        path, json={"token": token(unique("p"))}, headers=admin_headers(READER_KEY)
    )
    assert_error(reader, 403, "FORBIDDEN")


async def test_server_info_describes_this_node(
    node: Node, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    async with _a_player_in_a_new_room(node, ledger):
        response = await client.get("/internal/server-info", headers=admin_headers(READER_KEY))
    assert response.status_code == 200, response.text
    info = response.json()
    assert isinstance(info["node_id"], str) and info["node_id"]
    assert info["connections"] == 1
    assert info["rooms"] == 1
    assert isinstance(info["version"], str)
    assert info["nodes"] == [
        {
            "node_id": info["node_id"],
            "public_url": info["public_url"],
            "version": info["version"],
            "connections": 1,
            "rooms": 1,
        }
    ]
    anonymous = await client.get("/internal/server-info", headers={"X-Api-Key": ""})
    assert_error(anonymous, 401, "UNAUTHENTICATED")


# ---------------------------------------------------------------- errors and trace ids


async def test_every_error_has_the_body_and_a_trace_id(client: httpx.AsyncClient) -> None:
    responses = {
        "unknown route": (await client.get("/internal/nowhere"), 404, "NOT_FOUND"),
        "wrong method": (await client.put("/internal/tournaments"), 405, "METHOD_NOT_ALLOWED"),
        "no key": (
            await client.get("/internal/server-info", headers={"X-Api-Key": ""}),
            401,
            "UNAUTHENTICATED",
        ),
        "wrong key": (
            await client.get("/internal/server-info", headers=admin_headers("wrong")),
            401,
            "UNAUTHENTICATED",
        ),
        "missing scope": (
            await client.post(
                "/internal/tournaments", json=tournament_body(), headers=admin_headers(READER_KEY)
            ),
            403,
            "FORBIDDEN",
        ),
    }
    trace_ids = set()
    for name, (response, status, code) in responses.items():
        body = assert_error(response, status, code)
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", body["trace_id"]), name
        trace_ids.add(body["trace_id"])
    assert len(trace_ids) == len(responses)


async def test_a_supplied_trace_id_is_echoed_and_a_bad_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get(
        f"/internal/tournaments/{unique('t')}/config", headers={"X-Trace-Id": "abc-123"}
    )
    body = assert_error(echoed, 404, "NOT_FOUND")
    assert body["trace_id"] == "abc-123"
    assert echoed.headers["X-Trace-Id"] == "abc-123"
    ok = await client.get("/health", headers={"X-Trace-Id": "abc-123"})
    assert ok.status_code == 200
    assert ok.headers["X-Trace-Id"] == "abc-123"
    replaced = await client.get(
        f"/internal/tournaments/{unique('t')}/config", headers={"X-Trace-Id": "bad trace id!"}
    )
    body = assert_error(replaced, 404, "NOT_FOUND")
    assert body["trace_id"] != "bad trace id!"
