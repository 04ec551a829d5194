"""A room's stream (seq and epoch) across resumes, and rooms closed when empty."""

import asyncio

import msgspec

from clients.python.room_client import RoomClient
from protocol.messages import PlayerConnected, RoomJoin, RoomResumed, RoomSnapshot
from roomserver.config import Config, RoomsConfig
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, join, token, unique, ws_url


async def test_resume_with_another_epoch_gets_a_snapshot_not_recovered(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with start_node() as node:
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            first = await join(client, room)
        assert first.payload.epoch
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            await client.send(
                RoomJoin(room=room, since_seq=first.payload.seq, since_epoch="other", rid="x")
            )
            foreign = await client.recv_type(RoomSnapshot, rid="x")
            await client.send(
                RoomJoin(
                    room=room,
                    since_seq=foreign.payload.seq,
                    since_epoch=foreign.payload.epoch,
                    rid="same",
                )
            )
            same = await client.recv_type(RoomResumed, rid="same")
    assert foreign.payload.recovered is False
    assert foreign.payload.epoch == first.payload.epoch
    assert same.payload.epoch == first.payload.epoch
    assert same.payload.replayed == same.payload.seq - foreign.payload.seq


async def test_an_empty_room_is_closed_and_reopens_cleanly(
    start_node: NodeStarter, ledger: Ledger, base_config: Config
) -> None:
    config = msgspec.structs.replace(
        base_config, rooms=RoomsConfig(dispose_after_s=0.2, leaderboard_hz=50.0)
    )
    room = (await create_tournament(ledger)).config.tournament_id
    first_id, second_id = unique("p"), unique("q")
    async with start_node(config) as node:
        async with await RoomClient.connect(ws_url(node), token(first_id)) as client:
            before = await join(client, room)
        assert node.rooms.get(room) is not None
        for _ in range(100):
            if node.rooms.get(room) is None:
                break
            await asyncio.sleep(0.05)
        assert node.rooms.get(room) is None
        assert len(node.rooms) == 0
        async with (
            await RoomClient.connect(ws_url(node), token(first_id)) as client,
            await RoomClient.connect(ws_url(node), token(second_id)) as other,
        ):
            # The stream outlives the room: the first player resumes where they left off.
            await client.send(
                RoomJoin(
                    room=room,
                    since_seq=before.payload.seq,
                    since_epoch=before.payload.epoch,
                    rid="back",
                )
            )
            resumed = await client.recv_type(RoomResumed, rid="back")
            replayed = [await client.recv() for _ in range(resumed.payload.replayed)]
            assert node.rooms.get(room) is not None
            snapshot = await join(other, room)
            arrived = await client.recv_type(PlayerConnected)
            if arrived.payload.player_id == first_id:  # their own return
                arrived = await client.recv_type(PlayerConnected)
    assert resumed.payload.epoch == before.payload.epoch
    assert [frame.seq for frame in replayed] == list(
        range(before.payload.seq + 1, resumed.payload.seq + 1)
    )
    assert {entry.player_id for entry in snapshot.payload.leaderboard} == {first_id, second_id}
    assert snapshot.payload.players_online == 2
    assert arrived.payload.player_id == second_id
    assert arrived.seq == snapshot.payload.seq + 1
