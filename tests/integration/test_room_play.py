"""Joining, spinning and the live leaderboard, over real sockets and the real ledger."""

import asyncio
import contextlib

from clients.python.room_client import RoomClient
from protocol.messages import (
    Balance,
    BalanceGet,
    LeaderboardUpdated,
    PlayerConnected,
    PlayerDisconnected,
    RoomLeave,
    RoomLeft,
    Spin,
    SpinResult,
)
from roomserver.domain import slot_game
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, fetch_spins, join, token, unique, ws_url


async def test_three_members_see_the_leaderboard_move_with_increasing_seq(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    players = [unique("p") for _ in range(3)]
    async with start_node() as node, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(await RoomClient.connect(ws_url(node), token(p)))
            for p in players
        ]
        for client in clients:
            snapshot = await join(client, room)
            assert snapshot.payload.status == "running"
            assert snapshot.payload.you.balance == 100_000
            assert snapshot.payload.config.currency == "EUR"
        # Every first spin wins: a spin that changes no standing pushes no leaderboard frame.
        winning = next(
            seed
            for seed in (f"w{n}" for n in range(100_000))
            if slot_game.play(tournament.server_seed, seed, 0).multiplier > 0
        )
        for index, client in enumerate(clients):
            await client.send(
                Spin(
                    room=room,
                    stake=100 * (index + 1),
                    idempotency_key=unique("k"),
                    client_seed=winning,
                    rid="s",
                )
            )
            result = await client.recv_type(SpinResult, rid="s")
            assert result.payload.stake == 100 * (index + 1)
            assert result.payload.balance == 100_000 - result.payload.stake + result.payload.win
        # Every member sees leaderboard pushes, with increasing seq, ending with all three.
        for client in clients:
            pushes = await client.collect([LeaderboardUpdated], duration_s=1.0)
            assert pushes, "no leaderboard.updated received"
            seqs = [frame.seq for frame in pushes]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == len(seqs)
            assert {entry.player_id for entry in pushes[-1].payload.entries} == set(players)
        # The leaderboard matches the ledger's scores (total_win).
        last = pushes[-1].payload.entries
        for entry in last:
            spins = await fetch_spins(ledger, room, entry.player_id)
            assert entry.score == sum(spin["win"] for spin in spins)
        assert [entry.rank for entry in last] == [1, 2, 3]
        assert [entry.score for entry in last] == sorted((e.score for e in last), reverse=True)


async def test_room_frames_carry_one_seq_stream_for_every_member(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    async with start_node() as node:
        watcher_id, player_id = unique("w"), unique("p")
        async with (
            await RoomClient.connect(ws_url(node), token(watcher_id)) as watcher,
            await RoomClient.connect(ws_url(node), token(player_id)) as player,
        ):
            await join(watcher, room)
            snapshot = await join(player, room)
            for n in range(5):
                await player.send(
                    Spin(room=room, stake=10, idempotency_key=unique("k"), rid=f"{n}")
                )
                await player.recv_type(SpinResult, rid=f"{n}")
            kinds = [LeaderboardUpdated, PlayerConnected, PlayerDisconnected]
            seen_by_watcher = await watcher.collect(kinds, duration_s=0.8)
            seen_by_player = await player.collect(kinds, duration_s=0.3)
        watcher_seqs = [frame.seq for frame in seen_by_watcher]
        # The watcher sees the player's arrival, then a gapless stream of room frames.
        assert watcher_seqs == list(range(watcher_seqs[0], watcher_seqs[0] + len(watcher_seqs)))
        # The player's stream is the watcher's from the player's snapshot on.
        player_seqs = [frame.seq for frame in seen_by_player]
        assert all(seq > snapshot.payload.seq for seq in player_seqs)
        assert set(player_seqs) <= set(watcher_seqs)


async def test_balance_leave_and_presence(start_node: NodeStarter, ledger: Ledger) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    async with start_node() as node:
        first, second = unique("a"), unique("b")
        async with await RoomClient.connect(ws_url(node), token(first)) as a:
            await join(a, room)
            async with await RoomClient.connect(ws_url(node), token(second)) as b:
                await join(b, room)
                arrived = await a.recv_type(PlayerConnected)
                if arrived.payload.player_id == first:  # a member sees its own arrival too
                    arrived = await a.recv_type(PlayerConnected)
                assert arrived.payload.player_id == second
                assert arrived.payload.players_online == 2
                await b.send(BalanceGet(room=room, rid="bal"))
                balance = await b.recv_type(Balance, rid="bal")
                assert (balance.payload.balance, balance.payload.currency) == (100_000, "EUR")
                await b.send(RoomLeave(room=room, rid="bye"))
                left = await b.recv_type(RoomLeft, rid="bye")
                assert left.room == room
                gone = await a.recv_type(PlayerDisconnected)
                assert gone.payload.player_id == second
                assert gone.payload.players_online == 1


async def test_concurrent_first_joins_open_the_room_once(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    async with start_node() as node, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                await RoomClient.connect(ws_url(node), token(unique("p")))
            )
            for _ in range(10)
        ]
        snapshots = await asyncio.gather(*(join(client, room) for client in clients))
        assert all(s.payload.status == "running" for s in snapshots)
        assert len(node.rooms) == 1
