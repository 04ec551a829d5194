"""What the server pushes to a player outside their own requests, and what it no longer pushes.

`balance` after a buy-in, a refund and a prize; no `leaderboard.updated` that changes nothing;
4003 for a player self-excluded while connected (and at every reconnect); `DRAINING` for a
request during a drain.
"""

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from clients.python.room_client import RoomClient
from protocol.codes import CloseCode, ErrorCode
from protocol.messages import (
    AnyServerMessage,
    Balance,
    BalanceGet,
    Error,
    LeaderboardUpdated,
    Ping,
    Pong,
    RoomJoin,
    RoomLeave,
    RoomLeft,
    RoomSnapshot,
    ServerDraining,
    Spin,
    SpinResult,
    TournamentCompleted,
)
from roomserver.config import Config
from roomserver.domain import slot_game
from roomserver.domain.tournament import Prize
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import admin_headers, api_config, api_url, funded_player
from tests.support.node import create_tournament, join, token, unique, ws_url

CASH: Final = 10_000
BUY_IN: Final = 500
CHIPS: Final = 5_000
# Two leaderboard ticks at the default 4 Hz, and some: long enough for a pushed frame to arrive.
QUIET_S: Final = 0.75


# ---------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def api_node(
    start_node: NodeStarter, base_config: Config
) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A node with the side API, and a client of it with the admin key."""
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers(), timeout=30.0) as http,
    ):
        yield node, http


async def frames_until_pong(client: RoomClient) -> list[AnyServerMessage]:
    """Every frame up to the reply to a fresh ping.

    The hub handles a connection's messages in order, so this is everything the earlier requests
    made it send.
    """
    rid = unique("ping")
    await client.send(Ping(rid=rid))
    frames: list[AnyServerMessage] = []
    async with asyncio.timeout(10):
        while True:
            frame = await client.recv()
            if isinstance(frame, Pong) and frame.rid == rid:
                return frames
            frames.append(frame)


def assert_balance(frame: AnyServerMessage, room: str, balance: int) -> None:
    """A direct `balance` push: the room, no rid, no seq, the amount in the room's currency."""
    assert isinstance(frame, Balance), frame
    assert frame.room == room
    assert frame.rid is None
    assert frame.seq is None
    assert frame.payload.balance == balance
    assert frame.payload.currency == "EUR"


def balances(frames: list[AnyServerMessage]) -> list[Balance]:
    return [frame for frame in frames if isinstance(frame, Balance)]


def seed_paying(server_seed: bytes, nonce: int, multiplier: int) -> str:
    """A client seed whose spin at `nonce` pays `multiplier` (0: a loss)."""
    for n in range(100_000):
        seed = f"s-{nonce}-{n}"
        if slot_game.play(server_seed, seed, nonce).multiplier == multiplier:
            return seed
    raise AssertionError(f"no seed paying x{multiplier} at nonce {nonce}")


async def spin(client: RoomClient, room: str, seed: str, rid: str) -> SpinResult:
    await client.send(
        Spin(room=room, stake=100, idempotency_key=unique("k"), client_seed=seed, rid=rid)
    )
    reply = (await client.replies([rid]))[rid]
    assert isinstance(reply, SpinResult), reply
    return reply


# ---------------------------------------------------------------- balance after a buy-in


async def test_a_join_that_buys_in_pushes_the_chips_and_a_rejoin_pushes_nothing(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger, buy_in=BUY_IN, starting_chips=CHIPS)
    room = tournament.config.tournament_id
    player = await funded_player(ledger, CASH)
    async with start_node() as node, await RoomClient.connect(ws_url(node), token(player)) as ws:
        await ws.send(RoomJoin(room=room, rid="j1"))
        frames = await frames_until_pong(ws)
        snapshot = frames.index(next(f for f in frames if isinstance(f, RoomSnapshot)))
        pushed = balances(frames)
        assert len(pushed) == 1, frames
        assert frames.index(pushed[0]) > snapshot  # the room first, then the money
        assert_balance(pushed[0], room, CHIPS)

        # Already registered: leaving and joining again moves no money and pushes nothing.
        await ws.send(RoomLeave(room=room, rid="l"))
        await ws.recv_type(RoomLeft, rid="l")
        await ws.send(RoomJoin(room=room, rid="j2"))
        assert balances(await frames_until_pong(ws)) == []
    assert await ledger.cash_balance(player, "EUR") == CASH - BUY_IN


async def test_side_api_hop_off_and_registration_push_cash_then_chips_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger, buy_in=BUY_IN, starting_chips=CHIPS)
    room = tournament.config.tournament_id
    player, bystander = await funded_player(ledger, CASH), await funded_player(ledger, CASH)
    players_path = f"/internal/tournaments/{room}/players"
    async with (
        api_node(start_node, base_config) as (node, http),
        await RoomClient.connect(ws_url(node), token(player)) as ws,
        await RoomClient.connect(ws_url(node), token(bystander)) as other,
    ):
        await join(ws, room)
        await join(other, room)
        assert_balance(await ws.recv_type(Balance), room, CHIPS)
        assert_balance(await other.recv_type(Balance), room, CHIPS)  # its own buy-in

        # Hop-off before any spin: the whole buy-in comes back to the cash.
        hopped = await http.delete(f"{players_path}/{player}")
        assert hopped.status_code == 200, hopped.text
        assert hopped.json()["refund"] == BUY_IN
        pushed = balances(await frames_until_pong(ws))
        assert len(pushed) == 1
        assert_balance(pushed[0], room, CASH)
        # Repeated, the hop-off moves nothing and pushes nothing.
        assert (await http.delete(f"{players_path}/{player}")).status_code == 200

        registered = await http.post(players_path, json={"player_id": player})
        assert registered.status_code == 200, registered.text
        assert registered.json()["chips"] == CHIPS
        pushed = balances(await frames_until_pong(ws))
        assert len(pushed) == 1
        assert_balance(pushed[0], room, CHIPS)
        # A repeated registration moves nothing and pushes nothing.
        again = await http.post(players_path, json={"player_id": player})
        assert again.status_code == 200, again.text
        assert balances(await frames_until_pong(ws)) == []
        # Another member of the room is told nothing about this player's money.
        assert balances(await frames_until_pong(other)) == []
    assert await ledger.cash_balance(player, "EUR") == CASH - BUY_IN


# ---------------------------------------------------------------- balance after a refund or prize


async def test_a_cancellation_pushes_each_connected_players_refunded_cash(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger, buy_in=BUY_IN, starting_chips=CHIPS)
    room = tournament.config.tournament_id
    connected, offline = await funded_player(ledger, CASH), await funded_player(ledger, CASH)
    assert (await ledger.register_player(room, offline, rg_self_excluded=False))[0] == "OK"
    async with (
        api_node(start_node, base_config) as (node, http),
        await RoomClient.connect(ws_url(node), token(connected)) as ws,
    ):
        await join(ws, room)
        assert_balance(await ws.recv_type(Balance), room, CHIPS)
        cancelled = await http.post(f"/internal/tournaments/{room}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        frames: list[AnyServerMessage] = []
        async with asyncio.timeout(10):
            while not balances(frames):
                frames.append(await ws.recv())
        closing = [frame for frame in frames if isinstance(frame, TournamentCompleted)]
        assert len(closing) == 1 and closing[0].payload.status == "cancelled"
        assert isinstance(frames[-1], Balance)
        assert_balance(frames[-1], room, CASH)  # the refund follows the announcement
        # Repeated, the cancellation pays nothing again and pushes nothing.
        assert (await http.post(f"/internal/tournaments/{room}/cancel")).status_code == 200
        assert balances(await frames_until_pong(ws)) == []
    assert await ledger.cash_balance(offline, "EUR") == CASH


async def test_completion_pushes_the_prize_winners_cash_and_nothing_to_the_others(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    now = dt.datetime.now(dt.UTC)
    tournament = await create_tournament(
        ledger,
        kind="scheduled",
        buy_in=BUY_IN,
        starting_chips=CHIPS,
        prizes=(Prize(1, 1, 700), Prize(2, 2, 300)),
        starts_at=now - dt.timedelta(seconds=1),
        ends_at=now + dt.timedelta(seconds=3),
    )
    room = tournament.config.tournament_id
    # Nobody spins: all score 0, ranked by when they registered.
    players = [await funded_player(ledger, CASH) for _ in range(3)]
    for player in players:
        assert (await ledger.register_player(room, player, rg_self_excluded=False))[0] == "OK"
    async with start_node() as node, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(await RoomClient.connect(ws_url(node), token(p)))
            for p in players
        ]
        for client in clients:
            await join(client, room)
        winners: list[list[Any]] = []
        for client in clients[:2]:
            frames: list[Any] = []
            async with asyncio.timeout(15):
                while not balances(frames):
                    frames.append(await client.recv())
            winners.append(frames)
        for frames, cash in zip(winners, (CASH - BUY_IN + 700, CASH - BUY_IN + 300), strict=True):
            completed = [frame for frame in frames if isinstance(frame, TournamentCompleted)]
            assert len(completed) == 1 and completed[0].payload.status == "completed"
            assert_balance(frames[-1], room, cash)
        # Every balance of the completion was sent together; the third won nothing.
        third = await clients[2].recv_type(TournamentCompleted, timeout_s=5)
        assert third.payload.status == "completed"
        assert balances(await frames_until_pong(clients[2])) == []


# ---------------------------------------------------------- no leaderboard frame without a change


async def test_a_spin_that_changes_no_standing_pushes_no_leaderboard_frame(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    # One entry shown: a change below the top moves nothing anyone sees.
    tournament = await create_tournament(ledger, scoring="total_win", leaderboard_size=1)
    room, seed = tournament.config.tournament_id, tournament.server_seed
    leader, follower = unique("a"), unique("b")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(leader)) as ws_a,
        await RoomClient.connect(ws_url(node), token(follower)) as ws_b,
    ):
        await join(ws_a, room)
        await ws_a.recv_type(LeaderboardUpdated)  # the leader appears in the top
        await join(ws_b, room)
        # A losing spin: the score stays 0 (total_win), nothing changes for anyone.
        await spin(ws_a, room, seed_paying(seed, 0, 0), "lose")
        assert await ws_a.collect([LeaderboardUpdated], QUIET_S) == []

        # A win changes the leader's score: pushed.
        won = await spin(ws_a, room, seed_paying(seed, 1, 5), "win")
        assert won.payload.score == 500
        pushed = await ws_b.recv_type(LeaderboardUpdated, timeout_s=5)
        assert [(e.player_id, e.score, e.rank) for e in pushed.payload.entries] == [
            (leader, 500, 1)
        ]
        # Another losing spin, and a follower's win too small to pass the leader: the top
        # entry, its score and every rank in it stay as they were.
        await spin(ws_a, room, seed_paying(seed, 2, 0), "lose-2")
        followed = await spin(ws_b, room, seed_paying(seed, 0, 2), "follow")
        assert followed.payload.score == 200
        assert followed.payload.rank == 2
        assert await ws_b.collect([LeaderboardUpdated], QUIET_S) == []
        assert await ws_a.collect([LeaderboardUpdated], 0.1) == []


# ---------------------------------------------------------------- self-exclusion while connected


async def test_self_exclusion_closes_the_players_connections_with_4003_and_every_reconnect(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    player, bystander = unique("p"), unique("q")
    rg_path = f"/internal/players/{player}/rg"
    excluded = {"self_excluded": True, "loss_limit": None, "session_limit_min": None}
    async with (
        api_node(start_node, base_config) as (node, http),
        await RoomClient.connect(ws_url(node), token(bystander)) as other,
    ):
        first = await RoomClient.connect(ws_url(node), token(player))
        second = await RoomClient.connect(ws_url(node), token(player))
        await join(first, room)
        await frames_until_pong(second)  # both connections are fully open

        response = await http.put(rg_path, json=excluded)
        assert response.status_code == 200, response.text
        for client in (first, second):
            await client.until_closed(timeout_s=5)
            assert client.close_code == CloseCode.FORBIDDEN
            assert client.ws.close_reason == "self-excluded"
        # Another player plays on.
        await join(other, room)
        await frames_until_pong(other)

        # The same player (with a fresh, valid token) is closed right after the connection
        # opens, before anything is read or sent.
        for _ in range(2):
            again = await RoomClient.connect(ws_url(node), token(player))
            await again.send(RoomJoin(room=room, rid="j"))
            assert await again.until_closed(timeout_s=5) == []
            assert again.close_code == CloseCode.FORBIDDEN

        # Cleared, the player connects and plays again.
        cleared = {**excluded, "self_excluded": False}
        assert (await http.put(rg_path, json=cleared)).status_code == 200
        async with await RoomClient.connect(ws_url(node), token(player)) as back:
            await join(back, room)
            await frames_until_pong(back)


# ---------------------------------------------------------------- a request during a drain


async def test_a_request_during_a_drain_gets_draining_which_is_retryable(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    async with start_node() as node, await RoomClient.connect(ws_url(node), token(player)) as ws:
        await join(ws, room)
        # A spin held on the player's rows keeps the drain waiting (in-flight spins commit).
        async with ledger.pool.acquire() as blocker:
            async with blocker.transaction():
                await blocker.execute(
                    """SELECT 1 FROM accounts
                        WHERE kind = 'player_chips' AND owner_id = $1 AND scope = $2
                        FOR UPDATE""",
                    player,
                    room,
                )
                await ws.send(Spin(room=room, stake=10, idempotency_key=unique("k"), rid="held"))
                await frames_until_pong(ws)  # the spin is in flight
                drain = asyncio.create_task(node.hub.drain())
                await ws.recv_type(ServerDraining, timeout_s=5)
                for request in (
                    BalanceGet(room=room, rid="b"),
                    Spin(room=room, stake=10, idempotency_key=unique("k"), rid="s"),
                ):
                    await ws.send(request)
                    refusal = await ws.recv_type(Error, rid=request.rid, timeout_s=5)
                    assert refusal.room == room
                    assert refusal.payload.code == ErrorCode.DRAINING
                    assert refusal.payload.retryable is True
                assert not drain.done()
            held = await ws.recv_type(SpinResult, rid="held", timeout_s=10)
            assert held.payload.stake == 10
            await ws.until_closed(timeout_s=10)
            assert ws.close_code == CloseCode.SERVICE_RESTART
            await asyncio.wait_for(drain, 10)
