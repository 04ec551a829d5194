"""Resume: a reconnecting client with `since_seq` gets every missed room frame, or a snapshot."""

import msgspec

from clients.python.room_client import RoomClient
from protocol.messages import (
    LeaderboardUpdated,
    RoomJoin,
    RoomResumed,
    RoomSnapshot,
    Spin,
    SpinResult,
)
from roomserver.config import Config, RoomsConfig
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, join, token, unique, winning_seed, ws_url


async def test_reconnect_with_since_seq_replays_missed_frames_in_order(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    watcher_id, player_id = unique("w"), unique("p")
    # The first spin wins, so the room surely pushes a leaderboard (a spin that changes no
    # standing pushes none).
    winning = winning_seed(tournament.server_seed)
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player_id)) as player,
    ):
        await join(player, room)
        async with await RoomClient.connect(ws_url(node), token(watcher_id)) as watcher:
            snapshot = await join(watcher, room)
            last_seen = snapshot.payload.seq
        # While the watcher is away the room moves on.
        for n in range(3):
            seed = winning if n == 0 else None
            await player.send(
                Spin(room=room, stake=10, idempotency_key=unique("k"), client_seed=seed, rid=str(n))
            )
            await player.recv_type(SpinResult, rid=str(n))
        live = await player.collect([LeaderboardUpdated], duration_s=0.6)
        assert live
        async with await RoomClient.connect(ws_url(node), token(watcher_id)) as watcher:
            await watcher.send(RoomJoin(room=room, since_seq=last_seen, rid="back"))
            resumed = await watcher.recv_type(RoomResumed, rid="back")
            replayed = [await watcher.recv() for _ in range(resumed.payload.replayed)]
    seqs = [frame.seq for frame in replayed]
    assert seqs == list(range(last_seen + 1, resumed.payload.seq + 1))
    assert resumed.payload.you.player_id == watcher_id
    assert resumed.payload.config.currency == "EUR"
    assert {entry.player_id for entry in resumed.payload.leaderboard} == {player_id, watcher_id}
    # The last leaderboard the player saw live is among the replayed frames, byte for byte.
    assert live[-1] in replayed


async def test_resume_from_too_far_back_gets_a_fresh_snapshot(
    start_node: NodeStarter, ledger: Ledger, base_config: Config
) -> None:
    config = msgspec.structs.replace(
        base_config, rooms=RoomsConfig(history_size=2, leaderboard_hz=50.0)
    )
    room = (await create_tournament(ledger)).config.tournament_id
    async with start_node(config) as node:
        # Each visitor's arrival and departure is a room frame: far more than 2 are held.
        for _ in range(4):
            async with await RoomClient.connect(ws_url(node), token(unique("v"))) as visitor:
                await join(visitor, room)
        async with await RoomClient.connect(ws_url(node), token(unique("w"))) as watcher:
            await watcher.send(RoomJoin(room=room, since_seq=1, rid="old"))
            stale = await watcher.recv_type(RoomSnapshot, rid="old")
            await watcher.send(RoomJoin(room=room, since_seq=10_000, rid="future"))
            future = await watcher.recv_type(RoomSnapshot, rid="future")
    assert stale.payload.recovered is False
    assert stale.payload.seq > 3
    assert future.payload.recovered is False


async def test_a_reopened_room_never_reuses_a_seq(start_node: NodeStarter, ledger: Ledger) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        first = await join(client, room)
        before_restart = (await client.recv_type(LeaderboardUpdated)).seq
    assert before_restart is not None
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        await client.send(RoomJoin(room=room, since_seq=before_restart, rid="again"))
        after = await client.recv_type(RoomSnapshot, rid="again")
    assert after.payload.recovered is False
    assert after.payload.seq > before_restart > first.payload.seq
