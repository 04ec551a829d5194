"""The tournament lifecycle end to end.

Scheduled start and end on the database's clock, prizes paid exactly once (also when completion
runs twice, dies midway, or two nodes race), cancel with refunds, the revealed seed, the money
report and spin replay.
"""

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import msgspec
import pytest

from clients.python.room_client import RoomClient
from protocol.codec import format_ts
from protocol.ids import TournamentStatus
from protocol.messages import (
    AnyServerMessage,
    Error,
    LeaderboardEntry,
    PrizePayload,
    RoomSnapshot,
    Spin,
    SpinResult,
    TournamentCompleted,
    TournamentStarted,
)
from roomserver.config import Config
from roomserver.domain import fairness, slot_game
from roomserver.domain.spin_audit import replay_spin
from roomserver.domain.tournament import Prize
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import admin_headers, api_config, api_url, funded_player
from tests.support.node import create_tournament, join, token, unique, ws_url

Frame = TypeVar("Frame")

BUY_IN = 500
CASH = 10_000
PRIZES = (Prize(1, 1, 700), Prize(2, 2, 300))
PRIZES_JSON = [{"rank_from": p.rank_from, "rank_to": p.rank_to, "amount": p.amount} for p in PRIZES]


# ---------------------------------------------------------------- helpers


class Recorder:
    """A connection that keeps every frame it reads, to check the room's seq stream."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self.frames: list[AnyServerMessage] = []

    async def until(
        self, kind: type[Frame], *, rid: str | None = None, timeout_s: float = 10.0
    ) -> Frame:
        """Read (and keep) frames until one of `kind` (with `rid`, when given)."""
        async with asyncio.timeout(timeout_s):
            while True:
                frame = await self.client.recv(timeout_s)
                self.frames.append(frame)
                if isinstance(frame, kind) and (rid is None or getattr(frame, "rid", None) == rid):
                    return frame

    async def spin(self, room: str, rid: str, stake: int = 100) -> SpinResult | Error:
        """Send a spin and return its direct reply (result or error)."""
        await self.client.send(Spin(room=room, stake=stake, idempotency_key=unique("k"), rid=rid))
        async with asyncio.timeout(10):
            while True:
                frame = await self.client.recv()
                self.frames.append(frame)
                if isinstance(frame, SpinResult | Error) and frame.rid == rid:
                    return frame

    def room_seqs(self) -> list[int]:
        """The seq of every room frame read so far, in the order received."""
        return [frame.seq for frame in self.frames if frame.seq is not None]


def _refused(reply: SpinResult | Error, code: str) -> None:
    assert isinstance(reply, Error), reply
    assert reply.payload.code == code, reply


def _seed_hash(seed_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


async def _wait_status(
    ledger: Ledger, tournament_id: str, status: TournamentStatus, timeout_s: float = 15.0
) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            tournament = await ledger.load_tournament(tournament_id)
            assert tournament is not None
            if tournament.status == status:
                return
            await asyncio.sleep(0.05)


async def _status(ledger: Ledger, tournament_id: str) -> TournamentStatus:
    tournament = await ledger.load_tournament(tournament_id)
    assert tournament is not None
    return tournament.status


async def _events(ledger: Ledger, tournament_id: str) -> dict[str, int]:
    """Outbox events written for the tournament, counted by type."""
    rows = await ledger.pool.fetch(
        "SELECT event_type, count(*) FROM outbox WHERE tournament_id = $1 GROUP BY event_type",
        tournament_id,
    )
    return {event_type: count for event_type, count in rows}


async def _transactions(ledger: Ledger, kind: str, tournament_id: str) -> int:
    """Ledger transactions of `kind` ('prizes', 'cancel') for the tournament."""
    count: int = await ledger.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE idempotency_key = ledger_key($1, $2)",
        kind,
        tournament_id,
    )
    return count


async def _cash_entries(ledger: Ledger, kind: str, tournament_id: str) -> dict[str, int]:
    """What the tournament's ledger transaction of `kind` moved into each player's cash."""
    rows = await ledger.pool.fetch(
        """SELECT a.owner_id, sum(e.amount)::bigint
             FROM ledger_transactions lt
             JOIN entries e ON e.tx_id = lt.tx_id
             JOIN accounts a ON a.account_id = e.account_id
            WHERE lt.idempotency_key = ledger_key($1, $2) AND a.kind = 'player_cash'
            GROUP BY a.owner_id""",
        kind,
        tournament_id,
    )
    return {owner: amount for owner, amount in rows}


async def _closings(ledger: Ledger, tournament_id: str) -> int:
    count: int = await ledger.pool.fetchval(
        "SELECT count(*) FROM tournament_closings WHERE tournament_id = $1", tournament_id
    )
    return count


async def _registered(ledger: Ledger, tournament_id: str, count: int) -> list[str]:
    """`count` funded players registered in order (buy-in debited).

    Their scores are all 0, so the first registered reached 0 first and ranks first.
    """
    players = []
    for _ in range(count):
        player_id = await funded_player(ledger, CASH)
        status, chips = await ledger.register_player(
            tournament_id, player_id, rg_self_excluded=False
        )
        assert (status, chips) == ("OK", 10_000)
        assert await ledger.cash_balance(player_id, "EUR") == CASH - BUY_IN
        players.append(player_id)
    return players


async def _prize_tournament(ledger: Ledger, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "buy_in": BUY_IN,
        "starting_chips": 10_000,
        "prizes": PRIZES,
    }
    fields.update(overrides)
    return (await create_tournament(ledger, **fields)).config.tournament_id


async def _assert_paid_once(ledger: Ledger, tournament_id: str, players: Sequence[str]) -> None:
    """Ranks by registration (all scores 0): 700 to the first, 300 to the second, once."""
    assert await _status(ledger, tournament_id) == "completed"
    assert await _transactions(ledger, "prizes", tournament_id) == 1
    assert await _cash_entries(ledger, "prizes", tournament_id) == {
        players[0]: 700,
        players[1]: 300,
    }
    assert await _closings(ledger, tournament_id) == 1
    expected_cash = [CASH - BUY_IN + 700, CASH - BUY_IN + 300] + [CASH - BUY_IN] * (
        len(players) - 2
    )
    assert [await ledger.cash_balance(p, "EUR") for p in players] == expected_cash
    events = await _events(ledger, tournament_id)
    assert events["room.tournament.completed"] == 1
    assert events["tournament.prize.paid"] == 2


def _scheduled_window(start_in_s: float, end_in_s: float) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "kind": "scheduled",
        "starts_at": now + dt.timedelta(seconds=start_in_s),
        "ends_at": now + dt.timedelta(seconds=end_in_s),
    }


# ---------------------------------------------------------------- 1. a whole tournament


async def test_a_scheduled_tournament_starts_plays_completes_and_pays_its_prizes(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = unique("t")
    # C registers first but never plays: last on score although first in time.
    late, first, second = [await funded_player(ledger, CASH) for _ in range(3)]
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as http,
    ):
        now = dt.datetime.now(dt.UTC)
        starts_at = now + dt.timedelta(seconds=1)
        ends_at = now + dt.timedelta(seconds=3)
        created = await http.post(
            "/internal/tournaments",
            json={
                "tournament_id": tournament_id,
                "kind": "scheduled",
                "name": "Lifecycle",
                "game_id": slot_game.GAME_ID,
                "currency": "EUR",
                "buy_in": BUY_IN,
                "starting_chips": 10_000,
                "min_stake": 10,
                "max_stake": 1_000,
                "max_players": 10,
                "scoring": "total_win",
                "prizes": PRIZES_JSON,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "scheduled"
        assert created.json()["server_seed"] is None
        not_over = await http.get(f"/internal/tournaments/{tournament_id}/closing")
        assert not_over.status_code == 404, not_over.text
        assert not_over.json()["code"] == "NOT_ENDED"
        for player_id in (late, first, second):
            registered = await http.post(
                f"/internal/tournaments/{tournament_id}/players", json={"player_id": player_id}
            )
            assert registered.status_code == 200, registered.text
            assert registered.json()["status"] == "registered"
            assert registered.json()["chips"] == 10_000
            assert await ledger.cash_balance(player_id, "EUR") == CASH - BUY_IN

        async with (
            await RoomClient.connect(ws_url(node), token(first)) as ws_a,
            await RoomClient.connect(ws_url(node), token(second)) as ws_b,
        ):
            a, b = Recorder(ws_a), Recorder(ws_b)
            snap_a = await join(ws_a, tournament_id)
            snap_b = await join(ws_b, tournament_id)
            for snapshot in (snap_a, snap_b):
                assert snapshot.payload.status == "scheduled"
                assert snapshot.payload.you.balance == 10_000
                assert snapshot.payload.server_seed_hash == created.json()["server_seed_hash"]
            # Before the start: refused, nothing recorded.
            _refused(await a.spin(tournament_id, "early"), "TOURNAMENT_NOT_RUNNING")
            assert dt.datetime.now(dt.UTC) < starts_at, "setup took longer than the 1 s lead"

            started = [await r.until(TournamentStarted, timeout_s=5) for r in (a, b)]
            assert time.time() >= starts_at.timestamp() - 0.05
            for frame in started:
                assert frame.room == tournament_id
                assert frame.payload.status == "running"
                assert frame.payload.server_seed_hash == snap_a.payload.server_seed_hash
                assert frame.payload.ends_at == format_ts(ends_at.timestamp())
            assert started[0].seq == started[1].seq

            spin_ids = []
            for n in range(3):
                for recorder in (a, b):
                    reply = await recorder.spin(tournament_id, f"s{n}")
                    assert isinstance(reply, SpinResult), reply
                    spin_ids.append(reply.payload.spin_id)
            # A tie at the top, reached by B first: B ranks above A.
            top_score = 1_000_000
            for player_id in (second, first):
                pushed = await http.post(
                    f"/internal/tournaments/{tournament_id}/results",
                    json={"result_id": unique("r"), "player_id": player_id, "score": top_score},
                )
                assert pushed.status_code == 200, pushed.text
            assert dt.datetime.now(dt.UTC) < ends_at, "play took longer than the 2 s life"

            completed = [await r.until(TournamentCompleted, timeout_s=8) for r in (a, b)]
            assert time.time() >= ends_at.timestamp() - 0.05
            assert completed[0].seq == completed[1].seq
            payload = completed[0].payload
            assert completed[1].payload == payload
            assert payload.status == "completed"
            assert payload.standings == [
                LeaderboardEntry(second, f"Player {second}", top_score, 1),
                LeaderboardEntry(first, f"Player {first}", top_score, 2),
                LeaderboardEntry(late, f"Player {late}", 0, 3),
            ]
            assert payload.prizes == [
                PrizePayload(player_id=second, rank=1, amount=700, currency="EUR"),
                PrizePayload(player_id=first, rank=2, amount=300, currency="EUR"),
            ]
            assert _seed_hash(payload.server_seed) == snap_a.payload.server_seed_hash

            # One gapless stream per member, from its snapshot on, started and completed in it.
            for recorder, snapshot, done in ((a, snap_a, completed[0]), (b, snap_b, completed[1])):
                seqs = recorder.room_seqs()
                assert seqs == list(
                    range(snapshot.payload.seq + 1, snapshot.payload.seq + 1 + len(seqs))
                )
                assert started[0].seq in seqs and done.seq in seqs
                assert started[0].seq is not None and done.seq is not None
                assert started[0].seq < done.seq

            # After the end: refused, nothing recorded.
            _refused(await a.spin(tournament_id, "late"), "TOURNAMENT_NOT_RUNNING")
            _refused(await b.spin(tournament_id, "late"), "TOURNAMENT_NOT_RUNNING")

        # Cash: buy-ins out, prizes in, once.
        assert await ledger.cash_balance(second, "EUR") == CASH - BUY_IN + 700
        assert await ledger.cash_balance(first, "EUR") == CASH - BUY_IN + 300
        assert await ledger.cash_balance(late, "EUR") == CASH - BUY_IN

        closing = await http.get(f"/internal/tournaments/{tournament_id}/closing")
        assert closing.status_code == 200, closing.text
        body = closing.json()
        assert body["status"] == "completed"
        assert body["server_seed"] == payload.server_seed
        assert body["server_seed_hash"] == snap_a.payload.server_seed_hash
        assert body["prize_pool"] == 3 * BUY_IN
        assert body["prizes_paid"] == 1_000
        assert [(s["rank"], s["player_id"], s["score"], s["prize"]) for s in body["standings"]] == [
            (1, second, top_score, 700),
            (2, first, top_score, 300),
            (3, late, 0, 0),
        ]

        config = await http.get(f"/internal/tournaments/{tournament_id}/config")
        assert config.status_code == 200, config.text
        assert config.json()["status"] == "completed"
        assert config.json()["server_seed"] == payload.server_seed

        spun = await ledger.pool.fetchrow(
            """SELECT count(*), coalesce(sum(stake), 0)::bigint, coalesce(sum(win), 0)::bigint
                 FROM spins WHERE tournament_id = $1""",
            tournament_id,
        )
        assert spun is not None
        spins_total, turnover, wins = spun
        assert spins_total == 6  # the refused spins left nothing
        prize_cash = await _cash_entries(ledger, "prizes", tournament_id)
        assert prize_cash == {second: 700, first: 300}
        report = await http.get(f"/internal/tournaments/{tournament_id}/report")
        assert report.status_code == 200, report.text
        numbers = report.json()
        assert numbers["status"] == "completed"
        assert (numbers["spins_total"], numbers["turnover"], numbers["wins"]) == (
            spins_total,
            turnover,
            wins,
        )
        assert numbers["ggr"] == turnover - wins
        assert numbers["prizes_paid"] == sum(prize_cash.values())
        (per_currency,) = numbers["per_currency"]
        assert per_currency["currency"] == "EUR"
        assert per_currency["buy_ins"] == 3 * BUY_IN
        assert per_currency["refunds"] == 0
        assert per_currency["prizes_paid"] == 1_000

        replay = await http.get(f"/internal/spins/{spin_ids[0]}/replay")
        assert replay.status_code == 200, replay.text
        verdict = replay.json()
        assert verdict["match"] is True
        assert verdict["seed_matches_hash"] is True
        assert verdict["recomputed"] == verdict["recorded"]
        assert verdict["server_seed"] == payload.server_seed
        assert verdict["tournament_id"] == tournament_id

        events = await _events(ledger, tournament_id)
        assert events["room.tournament.started"] == 1
        assert events["room.tournament.completed"] == 1
        assert events["tournament.prize.paid"] == 2


# ---------------------------------------------------------------- 2. completion run twice


async def test_concurrent_completions_pay_once_and_replay_the_record(ledger: Ledger) -> None:
    tournament_id = await _prize_tournament(ledger)
    players = await _registered(ledger, tournament_id, 3)
    assert await ledger.move_tournament(tournament_id, "running", "completing")
    assert not await ledger.move_tournament(tournament_id, "running", "completing")

    replies = await asyncio.gather(*(ledger.complete_tournament(tournament_id) for _ in range(5)))

    assert sorted(reply.status for reply in replies) == [
        "OK",
        "REPLAY",
        "REPLAY",
        "REPLAY",
        "REPLAY",
    ]
    responses = [json.loads(reply.response_json or "null") for reply in replies]
    assert all(response == responses[0] for response in responses)
    assert responses[0]["status"] == "completed"
    assert responses[0]["prizes_paid"] == 1_000
    assert [(s["rank"], s["player_id"], s["prize"]) for s in responses[0]["standings"]] == [
        (1, players[0], 700),
        (2, players[1], 300),
        (3, players[2], 0),
    ]
    await _assert_paid_once(ledger, tournament_id, players)
    # And once more, later: the same record, nothing paid.
    again = await ledger.complete_tournament(tournament_id)
    assert again.status == "REPLAY"
    assert json.loads(again.response_json or "null") == responses[0]
    await _assert_paid_once(ledger, tournament_id, players)


# ---------------------------------------------------------------- 3. completion killed midway


async def test_a_completion_killed_midway_pays_nothing_and_a_node_pays_once_later(
    start_node: NodeStarter, ledger: Ledger, database_dsn: str
) -> None:
    tournament_id = await _prize_tournament(ledger)
    players = await _registered(ledger, tournament_id, 2)
    assert await ledger.move_tournament(tournament_id, "running", "completing")

    locker = await asyncpg.connect(database_dsn)
    victim = await asyncpg.connect(database_dsn)
    try:
        # Hold the winner's cash account, so the completion blocks inside its transaction.
        lock = locker.transaction()
        await lock.start()
        await locker.execute(
            """SELECT 1 FROM accounts
                WHERE kind = 'player_cash' AND owner_id = $1 AND scope = 'EUR' FOR UPDATE""",
            players[0],
        )
        victim_pid = victim.get_server_pid()
        completion = asyncio.create_task(
            victim.fetchrow(
                "SELECT status, response::text FROM complete_tournament($1)", tournament_id
            )
        )
        async with asyncio.timeout(10):
            while True:
                waiting = await ledger.pool.fetchval(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", victim_pid
                )
                if waiting == "Lock":
                    break
                assert not completion.done(), completion
                await asyncio.sleep(0.02)
        # The process dies mid-transaction.
        assert await ledger.pool.fetchval("SELECT pg_terminate_backend($1)", victim_pid)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
            await completion
        await lock.rollback()
    finally:
        await locker.close()
        victim.terminate()

    # Nothing of it happened.
    assert await _status(ledger, tournament_id) == "completing"
    assert await _transactions(ledger, "prizes", tournament_id) == 0
    assert await _closings(ledger, tournament_id) == 0
    assert (
        await ledger.pool.fetchval(
            "SELECT count(*) FROM tournament_results WHERE tournament_id = $1", tournament_id
        )
        == 0
    )
    assert "room.tournament.completed" not in await _events(ledger, tournament_id)
    assert [await ledger.cash_balance(p, "EUR") for p in players] == [CASH - BUY_IN] * 2

    # A node's scheduler finds it completing and completes it.
    async with start_node():
        await _wait_status(ledger, tournament_id, "completed")
    await _assert_paid_once(ledger, tournament_id, players)
    again = await ledger.complete_tournament(tournament_id)
    assert again.status == "REPLAY"
    await _assert_paid_once(ledger, tournament_id, players)


# ---------------------------------------------------------------- 4. a late scheduler


async def test_a_node_started_after_the_end_starts_then_completes_the_tournament(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    window = _scheduled_window(1.0, 2.0)
    tournament_id = await _prize_tournament(ledger, status="scheduled", **window)
    players = await _registered(ledger, tournament_id, 2)
    # No node runs while the tournament is due to start, nor when it is due to end.
    await asyncio.sleep(max(0.0, window["ends_at"].timestamp() - time.time()) + 0.2)
    assert await _status(ledger, tournament_id) == "scheduled"
    assert await _events(ledger, tournament_id) == {"tournament.player.registered": 2}

    async with start_node():
        await _wait_status(ledger, tournament_id, "completed")

    await _assert_paid_once(ledger, tournament_id, players)
    events = await _events(ledger, tournament_id)
    assert events["room.tournament.started"] == 1
    assert events["room.tournament.completed"] == 1
    order = await ledger.pool.fetch(
        """SELECT event_type FROM outbox
            WHERE tournament_id = $1 AND event_type LIKE 'room.tournament.%' ORDER BY seq""",
        tournament_id,
    )
    assert [row[0] for row in order] == ["room.tournament.started", "room.tournament.completed"]


# ---------------------------------------------------------------- 5. two nodes at once


async def test_two_nodes_start_and_complete_each_tournament_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    second_config = msgspec.structs.replace(
        base_config,
        events=msgspec.structs.replace(base_config.events, file=str(tmp_path / "second.jsonl")),
    )
    async with start_node(), start_node(second_config):
        tournaments = []
        for _ in range(4):
            tournament_id = await _prize_tournament(
                ledger, status="scheduled", **_scheduled_window(0.5, 1.0)
            )
            tournaments.append((tournament_id, await _registered(ledger, tournament_id, 2)))
        for tournament_id, _players in tournaments:
            await _wait_status(ledger, tournament_id, "completed")
        # Both schedulers keep ticking for a while: nothing more happens.
        await asyncio.sleep(0.5)

    for tournament_id, players in tournaments:
        await _assert_paid_once(ledger, tournament_id, players)
        events = await _events(ledger, tournament_id)
        assert events["room.tournament.started"] == 1
        assert events["room.tournament.completed"] == 1


# ---------------------------------------------------------------- 6. cancel


async def test_cancel_refunds_every_buy_in_once_and_tells_the_members(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament_id = await _prize_tournament(ledger)
    players = [await funded_player(ledger, CASH) for _ in range(2)]
    completed_id = await _prize_tournament(ledger)
    completing_id = await _prize_tournament(ledger)
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as http,
    ):
        for player_id in players:
            registered = await http.post(
                f"/internal/tournaments/{tournament_id}/players", json={"player_id": player_id}
            )
            assert registered.status_code == 200, registered.text
            assert await ledger.cash_balance(player_id, "EUR") == CASH - BUY_IN
        async with (
            await RoomClient.connect(ws_url(node), token(players[0])) as ws_a,
            await RoomClient.connect(ws_url(node), token(players[1])) as ws_b,
        ):
            members = [Recorder(ws_a), Recorder(ws_b)]
            snapshots: list[RoomSnapshot] = []
            for member in members:
                snapshots.append(await join(member.client, tournament_id))
                assert snapshots[-1].payload.status == "running"
            reply = await members[0].spin(tournament_id, "before")
            assert isinstance(reply, SpinResult), reply

            cancels = await asyncio.gather(
                *(http.post(f"/internal/tournaments/{tournament_id}/cancel") for _ in range(5))
            )
            assert [response.status_code for response in cancels] == [200] * 5, [
                response.text for response in cancels
            ]
            body = cancels[0].json()
            assert all(response.json() == body for response in cancels)
            assert body["status"] == "cancelled"
            assert body["refunds_paid"] == 2 * BUY_IN
            assert body["refunds"] == [{"player_id": p, "amount": BUY_IN} for p in sorted(players)]
            assert _seed_hash(body["server_seed"]) == snapshots[0].payload.server_seed_hash

            for member in members:
                closing = await member.until(TournamentCompleted, timeout_s=5)
                assert closing.room == tournament_id
                assert closing.payload.status == "cancelled"
                assert closing.payload.prizes == []
                assert closing.payload.server_seed == body["server_seed"]
            # Announced once, although cancelled five times.
            for member in members:
                extra = await member.client.collect([TournamentCompleted], duration_s=0.3)
                assert extra == []
                assert sum(isinstance(f, TournamentCompleted) for f in member.frames) == 1
            _refused(await members[1].spin(tournament_id, "after"), "TOURNAMENT_NOT_RUNNING")

        # A later repeat: the same record.
        repeat = await http.post(f"/internal/tournaments/{tournament_id}/cancel")
        assert repeat.status_code == 200, repeat.text
        assert repeat.json() == body
        assert [await ledger.cash_balance(p, "EUR") for p in players] == [CASH, CASH]
        assert await _transactions(ledger, "cancel", tournament_id) == 1
        assert await _cash_entries(ledger, "cancel", tournament_id) == {p: BUY_IN for p in players}
        assert await _status(ledger, tournament_id) == "cancelled"
        assert await _closings(ledger, tournament_id) == 1
        assert (await _events(ledger, tournament_id))["room.tournament.completed"] == 1
        closing_view = await http.get(f"/internal/tournaments/{tournament_id}/closing")
        assert closing_view.status_code == 200, closing_view.text
        assert closing_view.json()["status"] == "cancelled"
        report = (await http.get(f"/internal/tournaments/{tournament_id}/report")).json()
        assert report["per_currency"][0]["refunds"] == 2 * BUY_IN
        assert report["per_currency"][0]["buy_ins"] == 2 * BUY_IN

        # Over, or being paid out: cannot be cancelled.
        assert await ledger.move_tournament(completed_id, "running", "completing")
        assert (await ledger.complete_tournament(completed_id)).status == "OK"
        assert await ledger.move_tournament(completing_id, "running", "completing")
        for finished in (completed_id, completing_id):
            refused = await http.post(f"/internal/tournaments/{finished}/cancel")
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "TOURNAMENT_FINISHED"
        unknown = await http.post(f"/internal/tournaments/{unique('t')}/cancel")
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["code"] == "NOT_FOUND"
        # The node's scheduler completes the one that was completing.
        await _wait_status(ledger, completing_id, "completed")
        assert await _status(ledger, completed_id) == "completed"


# ---------------------------------------------------------------- 7. replay mismatch


def _recorded(seed: bytes, client_seed: str, nonce: int, stake: int) -> tuple[str, int]:
    """A spin's outcome JSON and win, as the spin transaction records them."""
    outcome = slot_game.play(seed, client_seed, nonce)
    recorded = {
        "symbols": list(outcome.symbols),
        "stops": list(outcome.stops),
        "multiplier": outcome.multiplier,
        "rule": outcome.rule,
        "features": [],
    }
    return json.dumps(recorded), slot_game.win_for(stake, outcome)


async def test_replay_flags_a_tampered_outcome_win_or_seed() -> None:
    # async: a sync test would make pytest-asyncio rebuild the session loop (see tests/conftest)
    seed = fairness.new_server_seed()
    seed_hash = fairness.server_seed_hash(seed)
    stake = 100
    outcome_json, win = _recorded(seed, "client", 7, stake)
    inputs: dict[str, Any] = {
        "server_seed": seed,
        "server_seed_hash": seed_hash,
        "client_seed": "client",
        "nonce": 7,
        "math_version": slot_game.MATH_VERSION,
        "stake": stake,
    }

    honest = replay_spin(**inputs, recorded_win=win, recorded_outcome_json=outcome_json)
    assert honest.match and honest.seed_matches_hash and honest.reason is None
    assert honest.recomputed == honest.recorded

    # Other symbols (a paying line that was not drawn) with the win they would pay.
    outcome = json.loads(outcome_json)
    forged = outcome | {
        "symbols": ["SEVEN", "SEVEN", "SEVEN"],
        "multiplier": 100,
        "rule": "three_sevens",
    }
    if outcome["symbols"] == forged["symbols"]:
        forged = outcome | {"symbols": ["BLANK", "BLANK", "BLANK"], "multiplier": 0, "rule": None}
    tampered = replay_spin(
        **inputs,
        recorded_win=forged["multiplier"] * stake,
        recorded_outcome_json=json.dumps(forged),
    )
    assert not tampered.match
    assert tampered.seed_matches_hash
    assert tampered.recorded.symbols == forged["symbols"]
    assert tampered.recomputed is not None
    assert tampered.recomputed.symbols == outcome["symbols"]
    assert tampered.recomputed.win == win
    assert tampered.reason is not None

    # The drawn reels, but a different win.
    inflated = replay_spin(**inputs, recorded_win=win + stake, recorded_outcome_json=outcome_json)
    assert not inflated.match
    assert inflated.recorded.win == win + stake
    assert inflated.recomputed is not None and inflated.recomputed.win == win

    # A seed other than the one committed to: the hash does not match, whatever it replays.
    other = fairness.new_server_seed()
    other_json, other_win = _recorded(other, "client", 7, stake)
    wrong_seed = replay_spin(
        **(inputs | {"server_seed": other}),
        recorded_win=other_win,
        recorded_outcome_json=other_json,
    )
    assert not wrong_seed.seed_matches_hash
    assert not wrong_seed.match
    assert wrong_seed.recomputed == wrong_seed.recorded  # consistent with itself, still refused
    assert wrong_seed.reason is not None and "hash" in wrong_seed.reason


# ---------------------------------------------------------------- guaranteed prizes


async def test_the_report_counts_prizes_the_house_guarantees_beyond_the_pool(
    ledger: Ledger,
) -> None:
    # A freeroll: no buy-ins, so the prize pool is empty and the house pays the prizes (README:
    # "the house covers prizes above the pool"). The prizes transaction then has no prize-pool
    # entry, and the report, which finds prizes through the pool's transactions, misses it.
    tournament_id = await _prize_tournament(ledger, buy_in=0)
    players = []
    for _ in range(2):
        player_id = await funded_player(ledger, CASH)
        assert await ledger.register_player(tournament_id, player_id, rg_self_excluded=False) == (
            "OK",
            10_000,
        )
        players.append(player_id)
    assert await ledger.move_tournament(tournament_id, "running", "completing")
    completion = await ledger.complete_tournament(tournament_id)
    assert completion.status == "OK"
    assert json.loads(completion.response_json or "null")["prizes_paid"] == 1_000
    assert await _cash_entries(ledger, "prizes", tournament_id) == {
        players[0]: 700,
        players[1]: 300,
    }
    assert [await ledger.cash_balance(p, "EUR") for p in players] == [CASH + 700, CASH + 300]

    report = await ledger.tournament_report(tournament_id)
    assert report is not None
    assert report.buy_ins == 0
    assert report.prizes_paid == 1_000


# ---------------------------------------------------------------- one slow payout, others on time


async def test_a_completion_waiting_on_a_lock_does_not_hold_up_other_tournaments(
    start_node: NodeStarter, ledger: Ledger, database_dsn: str
) -> None:
    # The scheduler applies what is due one tournament after another, awaiting each; while one
    # completion waits for a row lock, no other tournament on the node starts, ends or is paid.
    stuck = await _prize_tournament(ledger)
    players = await _registered(ledger, stuck, 2)
    assert await ledger.move_tournament(stuck, "running", "completing")
    locker = await asyncpg.connect(database_dsn)
    try:
        # Something holds the winner's cash account: paying `stuck` has to wait for it.
        lock = locker.transaction()
        await lock.start()
        await locker.execute(
            """SELECT 1 FROM accounts
                WHERE kind = 'player_cash' AND owner_id = $1 AND scope = 'EUR' FOR UPDATE""",
            players[0],
        )
        async with start_node():
            await asyncio.sleep(0.3)  # the scheduler is now waiting inside stuck's completion
            other = await _prize_tournament(
                ledger, status="scheduled", **_scheduled_window(0.2, 0.5)
            )
            other_players = await _registered(ledger, other, 2)
            # Its start, end and payout are all due within half a second.
            with contextlib.suppress(TimeoutError):
                await _wait_status(ledger, other, "completed", timeout_s=3)
            status_while_stuck = await _status(ledger, other)
            await lock.rollback()
            await _wait_status(ledger, stuck, "completed")
            await _wait_status(ledger, other, "completed")
    finally:
        await locker.close()
    assert status_while_stuck == "completed", (
        f"{other} was still {status_while_stuck!r} 2.5 s after its end: the scheduler waited "
        f"on {stuck}'s completion instead"
    )
    await _assert_paid_once(ledger, other, other_players)
    await _assert_paid_once(ledger, stuck, players)
