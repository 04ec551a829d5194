"""Game-server results through the side API.

Applied once per result_id, seen by the room's members as `leaderboard.updated`, refused with the
right status and error body otherwise.
"""

import asyncio
from typing import Any

import httpx

from clients.python.room_client import RoomClient
from protocol.messages import LeaderboardUpdated
from roomserver.config import Config
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    READER_KEY,
    admin_headers,
    api_config,
    api_url,
)
from tests.support.node import create_tournament, join, token, unique, ws_url

ERROR_FIELDS = {"code", "message", "retryable", "trace_id"}


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["retryable"] is False
    assert response.headers["X-Trace-Id"] == body["trace_id"]


async def _register(client: httpx.AsyncClient, tournament_id: str, player_id: str) -> None:
    response = await client.post(
        f"/internal/tournaments/{tournament_id}/players", json={"player_id": player_id}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "registered"


async def _scores(client: httpx.AsyncClient, tournament_id: str) -> dict[str, int]:
    response = await client.get(f"/internal/tournaments/{tournament_id}/leaderboard")
    assert response.status_code == 200, response.text
    return {row["player_id"]: row["score"] for row in response.json()["entries"]}


async def _push(
    client: httpx.AsyncClient, tournament_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/internal/tournaments/{tournament_id}/results", json=body)


async def test_a_result_reaches_a_member_as_a_leaderboard_update_with_a_higher_seq(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    member, scorer = unique("p"), unique("p")
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
        await RoomClient.connect(ws_url(node), token(member)) as ws,
    ):
        snapshot = await join(ws, tournament_id)
        await _register(client, tournament_id, scorer)
        result_id = unique("r")
        response = await _push(
            client, tournament_id, {"result_id": result_id, "player_id": scorer, "score_delta": 500}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "result_id": result_id,
            "tournament_id": tournament_id,
            "player_id": scorer,
            "score": 500,
            "status": "applied",
            "rank": 1,
            "replayed": False,
        }
        # The join itself may push a leaderboard first; wait for the one with the result.
        while True:
            update = await ws.recv_type(LeaderboardUpdated)
            assert update.room == tournament_id
            assert update.seq is not None and update.seq > snapshot.payload.seq
            entries = {entry.player_id: entry for entry in update.payload.entries}
            if scorer in entries:
                break
        assert entries[scorer].score == 500
        assert entries[scorer].rank == 1
        assert entries[member].score == 0
        assert entries[member].rank == 2
        assert await _scores(client, tournament_id) == {scorer: 500, member: 0}


async def test_a_repeated_result_is_applied_once_and_a_changed_one_is_refused(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    body = {"result_id": unique("r"), "player_id": player, "score_delta": 500}
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
    ):
        await _register(client, tournament_id, player)
        first = await _push(client, tournament_id, body)
        assert first.status_code == 200, first.text
        assert first.json()["replayed"] is False
        again = await _push(client, tournament_id, body)
        assert again.status_code == 200, again.text
        assert again.json()["replayed"] is True
        assert again.json()["score"] == 500
        assert again.json()["result_id"] == body["result_id"]
        assert await _scores(client, tournament_id) == {player: 500}
        # Same id, different delta / different player: a mismatch, nothing applied.
        _assert_error(
            await _push(client, tournament_id, body | {"score_delta": 501}),
            422,
            "IDEMPOTENCY_MISMATCH",
        )
        other = unique("p")
        await _register(client, tournament_id, other)
        _assert_error(
            await _push(client, tournament_id, body | {"player_id": other}),
            422,
            "IDEMPOTENCY_MISMATCH",
        )
        assert await _scores(client, tournament_id) == {player: 500, other: 0}


async def test_an_absolute_score_sets_the_score(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
    ):
        await _register(client, tournament_id, player)
        delta = {"result_id": unique("r"), "player_id": player, "score_delta": 300}
        assert (await _push(client, tournament_id, delta)).json()["score"] == 300
        absolute = {"result_id": unique("r"), "player_id": player, "score": 1234}
        response = await _push(client, tournament_id, absolute)
        assert response.status_code == 200, response.text
        assert response.json()["score"] == 1234
        assert await _scores(client, tournament_id) == {player: 1234}
        lower = {"result_id": unique("r"), "player_id": player, "score": 7}
        assert (await _push(client, tournament_id, lower)).json()["score"] == 7
        assert await _scores(client, tournament_id) == {player: 7}


async def test_bad_results_are_refused(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    scheduled_id = (await create_tournament(ledger, status="scheduled")).config.tournament_id
    player = unique("p")
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
    ):
        await _register(client, tournament_id, player)
        base = {"result_id": unique("r"), "player_id": player}
        _assert_error(
            await _push(client, tournament_id, base | {"score_delta": 1, "score": 1}),
            400,
            "BAD_REQUEST",
        )
        _assert_error(await _push(client, tournament_id, base), 400, "BAD_REQUEST")
        _assert_error(
            await _push(client, tournament_id, base | {"score_delta": "many"}), 400, "BAD_REQUEST"
        )
        _assert_error(
            await _push(
                client,
                tournament_id,
                {"result_id": unique("r"), "player_id": unique("p"), "score_delta": 5},
            ),
            404,
            "NOT_REGISTERED",
        )
        _assert_error(await _push(client, unique("t"), base | {"score_delta": 5}), 404, "NOT_FOUND")
        _assert_error(
            await _push(client, scheduled_id, base | {"score_delta": 5}),
            409,
            "TOURNAMENT_NOT_RUNNING",
        )
        # None of it touched the score.
        assert await _scores(client, tournament_id) == {player: 0}


async def test_results_need_a_key_with_the_results_scope(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    body = {"result_id": unique("r"), "player_id": player, "score_delta": 500}
    path = f"/internal/tournaments/{tournament_id}/results"
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
        httpx.AsyncClient(base_url=api_url(node)) as anonymous,
    ):
        await _register(client, tournament_id, player)
        _assert_error(
            await anonymous.post(path, json=body, headers=admin_headers(READER_KEY)),
            403,
            "FORBIDDEN",
        )
        _assert_error(await anonymous.post(path, json=body), 401, "UNAUTHENTICATED")
        _assert_error(
            await anonymous.post(path, json=body, headers=admin_headers("not-a-configured-key")),
            401,
            "UNAUTHENTICATED",
        )
        assert await _scores(client, tournament_id) == {player: 0}
        # The refused calls did not spend the result id.
        response = await client.post(path, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["replayed"] is False


async def test_concurrent_results_are_each_applied_once_and_the_room_ends_on_the_total(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    member = unique("p")
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as client,
        await RoomClient.connect(ws_url(node), token(member)) as ws,
    ):
        await join(ws, tournament_id)
        repeated = {"result_id": unique("r"), "player_id": member, "score_delta": 7}
        distinct = [
            {"result_id": unique("r"), "player_id": member, "score_delta": 10} for _ in range(10)
        ]
        responses = await asyncio.gather(
            *(_push(client, tournament_id, repeated) for _ in range(5)),
            *(_push(client, tournament_id, body) for body in distinct),
        )
        assert [r.status_code for r in responses] == [200] * 15
        assert sorted(r.json()["replayed"] for r in responses[:5]) == [False] + [True] * 4
        assert await _scores(client, tournament_id) == {member: 107}
        # The room's live standings settle on the committed total, not on a stale update.
        last_score = None
        for update in await ws.collect([LeaderboardUpdated], duration_s=1.0):
            for entry in update.payload.entries:
                if entry.player_id == member:
                    last_score = entry.score
        assert last_score == 107
