"""Game-server results racing a tournament's end: in the final standings, or refused, never after.

A result is applied by one transaction (`record_result`); the end moves the tournament from
`running` to `completing`, and completion reads the final standings. A result must either be
applied before the end (and so be in the standings) or be refused with TOURNAMENT_NOT_RUNNING
(the side API's 409); it must never be applied, and answered `applied`, after the standings were
read.
"""

import asyncio
import json
from collections import Counter
from typing import Final

from roomserver.store.ledger import Ledger
from roomserver.store.pool import LedgerReply
from roomserver.store.results import GameResult
from tests.support.node import create_tournament, unique

CURRENCY: Final = "EUR"
TIMEOUT_S: Final = 20.0


async def registered_players(ledger: Ledger, room: str, count: int) -> list[str]:
    players = []
    for _ in range(count):
        player_id = unique("p")
        await ledger.ensure_player(player_id, player_id, CURRENCY)
        assert (await ledger.register_player(room, player_id, rg_self_excluded=False))[0] == "OK"
        players.append(player_id)
    return players


def result(room: str, player_id: str, delta: int) -> GameResult:
    return GameResult(room, unique("r"), player_id, unique("h").encode(), delta, None)


async def end_and_complete(ledger: Ledger, room: str) -> LedgerReply:
    """What the scheduler does when a tournament's time is up."""
    assert await ledger.move_tournament(room, "running", "completing")
    return await ledger.complete_tournament(room)


def final_scores(reply: LedgerReply) -> dict[str, int]:
    assert reply.status == "OK" and reply.response_json is not None
    return {row["player_id"]: row["score"] for row in json.loads(reply.response_json)["standings"]}


async def waiting_for_a_lock(ledger: Ledger, function: str) -> None:
    """Returns once a backend running `function` waits for a lock."""
    async with asyncio.timeout(TIMEOUT_S):
        while not await ledger.pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0""",
            function + "(",
        ):
            await asyncio.sleep(0.02)


async def test_a_result_being_applied_as_the_tournament_ends_is_in_the_final_standings(
    ledger: Ledger,
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    [player] = await registered_players(ledger, room, 1)
    async with ledger.pool.acquire() as holder:
        # Another writer of the player's standing (a spin, say) holds its row, so the result
        # has checked that the tournament runs and waits to apply its score...
        transaction = holder.transaction()
        await transaction.start()
        try:
            await holder.execute(
                """SELECT 1 FROM tournament_players
                    WHERE tournament_id = $1 AND player_id = $2 FOR UPDATE""",
                room,
                player,
            )
            pushing = asyncio.create_task(ledger.record_result(result(room, player, 500)))
            await waiting_for_a_lock(ledger, "record_result")
            # ...when the tournament's time is up.
            ending = asyncio.create_task(end_and_complete(ledger, room))
            await asyncio.sleep(0.5)
            assert not ending.done(), "the end waits for the result being applied"
        finally:
            await transaction.commit()
    async with asyncio.timeout(TIMEOUT_S):
        record, completed = await pushing, await ending
    assert record.status == "OK"
    assert final_scores(completed) == {player: 500}


async def test_results_racing_the_end_are_in_the_standings_or_refused(ledger: Ledger) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    players = await registered_players(ledger, room, 8)
    pushed = [result(room, players[n % len(players)], n + 1) for n in range(240)]
    answered = 0
    enough = asyncio.Event()

    async def push(game_result: GameResult) -> str:
        nonlocal answered
        record = await ledger.record_result(game_result)
        answered += 1
        if answered >= 40:
            enough.set()
        return record.status

    async def end_midway() -> LedgerReply:
        await enough.wait()
        return await end_and_complete(ledger, room)

    async with asyncio.timeout(TIMEOUT_S):
        ending = asyncio.create_task(end_midway())
        statuses = await asyncio.gather(*map(push, pushed))
        completed = await ending

    assert Counter(statuses).keys() <= {"OK", "TOURNAMENT_NOT_RUNNING"}, Counter(statuses)
    assert statuses.count("OK") >= 40
    applied = Counter[str]()
    for game_result, status in zip(pushed, statuses, strict=True):
        if status == "OK":
            assert game_result.score_delta is not None
            applied[game_result.player_id] += game_result.score_delta
    assert final_scores(completed) == {player: applied[player] for player in players}
    # The standings a later reader sees are the final ones.
    live = {
        row[0]: row[1]
        for row in await ledger.pool.fetch(
            "SELECT player_id, score FROM tournament_players WHERE tournament_id = $1", room
        )
    }
    assert live == final_scores(completed)
    # Refused results left nothing behind and stay refused.
    refused = [r for r, s in zip(pushed, statuses, strict=True) if s != "OK"]
    recorded = await ledger.pool.fetchval(
        "SELECT count(*) FROM game_results WHERE tournament_id = $1", room
    )
    assert recorded == statuses.count("OK")
    if refused:
        assert (await ledger.record_result(refused[0])).status == "TOURNAMENT_NOT_RUNNING"
