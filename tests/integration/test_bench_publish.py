"""`bench.publish` (benchmarks only): off by default; on, a member's payload reaches every member.

The frame is a room frame like any other: the broker's next `seq`, kept in history for resume,
delivered on every node, its payload byte for byte as the publisher wrote it.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import msgspec

from clients.python.room_client import RoomClient
from protocol.codec import decode_server, encode
from protocol.codes import ErrorCode
from protocol.messages import (
    AnyServerMessage,
    BenchUpdate,
    Error,
    Ping,
    Pong,
    RoomJoin,
    RoomResumed,
)
from roomserver.cluster.broker import FrameTemplate
from roomserver.config import Config, RedisConfig
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, join, token, unique, ws_url

# Spaces, an escape, a non-ASCII character and a float written as the client wrote them: the
# frame must carry these bytes, not a re-encoding of them.
PAYLOAD = '{"entries" : [["p1", "Ann \\u00e9", 12.50, 1]],  "note": "é", "nothing": null}'.encode()


# A payload holding what the Redis broker looks for to put the `seq` in (see `FrameTemplate`).
TRAP = b'{"seq":%d, "x": {"seq":%d}}' % (2**62 + 12345, 2**62 + 12345)


def publish_frame(room: str, rid: str | None = None, payload: bytes = PAYLOAD) -> bytes:
    """A `bench.publish` frame with the payload as raw JSON text."""
    head = {"type": "bench.publish", "room": room, **({"rid": rid} if rid else {})}
    return json.dumps(head).encode()[:-1] + b', "payload": ' + payload + b"}"


def on(config: Config) -> Config:
    """`config` with `server.bench_publish` on."""
    return msgspec.structs.replace(
        config, server=msgspec.structs.replace(config.server, bench_publish=True)
    )


async def until_pong(client: RoomClient) -> list[tuple[AnyServerMessage, bytes]]:
    """Every frame (decoded, and as received) up to the reply to a fresh ping.

    The hub handles a connection's messages in order: this is all its earlier requests caused
    before the ping, and all that was broadcast to it meanwhile.
    """
    rid = unique("ping")
    await client.send(Ping(rid=rid))
    frames: list[tuple[AnyServerMessage, bytes]] = []
    async with asyncio.timeout(10):
        while True:
            data = await client.ws.recv(decode=False)
            frame = decode_server(data)
            if isinstance(frame, Pong) and frame.rid == rid:
                return frames
            frames.append((frame, data))


async def bench_updates(client: RoomClient, count: int) -> list[tuple[BenchUpdate, bytes]]:
    """The next `count` `bench.update` frames (others are skipped), decoded and as received."""
    updates: list[tuple[BenchUpdate, bytes]] = []
    async with asyncio.timeout(10):
        while len(updates) < count:
            data = await client.ws.recv(decode=False)
            frame = decode_server(data)
            if isinstance(frame, BenchUpdate):
                updates.append((frame, data))
    return updates


def no_bench_frames(frames: list[tuple[AnyServerMessage, bytes]]) -> bool:
    """Neither a `bench.update` nor a reply to a `bench.publish` (rids `b-...`) among `frames`.

    Other room frames (presence, a leaderboard tick after the joins) may come and go.
    """
    return not any(
        isinstance(frame, BenchUpdate) or (getattr(frame, "rid", None) or "").startswith("b-")
        for frame, _ in frames
    )


def assert_update(frame: BenchUpdate, data: bytes, room: str, payload: bytes = PAYLOAD) -> None:
    """A room frame of `room` with a seq, no rid, and the payload byte for byte."""
    assert frame.room == room
    assert frame.rid is None
    assert frame.seq is not None
    assert bytes(frame.payload) == payload
    assert data.startswith(b'{"type":"bench.update","payload":' + payload + b',"room":')


@contextlib.asynccontextmanager
async def members(node: Node, room: str, count: int) -> AsyncIterator[list[RoomClient]]:
    """`count` players connected to the node, each joined to `room`."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            client = await RoomClient.connect(ws_url(node), token(unique("p")))
            clients.append(await stack.enter_async_context(client))
            await join(client, room)
        yield clients


async def test_off_by_default_it_is_an_unknown_type_and_nothing_is_published(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with start_node() as node, members(node, room, 2) as (watcher, publisher):
        await publisher.ws.send(publish_frame(room, rid="b-1"))
        refused = await publisher.recv_type(Error)
        assert (refused.rid, refused.payload.code, refused.payload.path) == (
            "b-1",
            ErrorCode.UNKNOWN_TYPE,
            "$.type",
        )
        assert refused.payload.retryable is False
        await asyncio.sleep(0.3)
        assert no_bench_frames(await until_pong(publisher))
        assert no_bench_frames(await until_pong(watcher))


async def test_on_every_member_gets_the_payload_byte_for_byte_with_consecutive_seqs(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with start_node(on(base_config)) as node, members(node, room, 2) as clients:
        publisher = clients[1]
        await publisher.ws.send(publish_frame(room, rid="b-1"))
        await publisher.ws.send(publish_frame(room))
        received = [await bench_updates(client, 2) for client in clients]
        for updates in received:
            for frame, data in updates:
                assert_update(frame, data, room)
        seqs = [[frame.seq for frame, _ in updates] for updates in received]
        first = seqs[0][0]
        assert first is not None
        assert seqs == [[first, first + 1]] * 2
        # The same bytes to every member; and no reply to the publisher but its update.
        assert [data for _, data in received[0]] == [data for _, data in received[1]]
        for client in clients:
            assert no_bench_frames(await until_pong(client))


async def test_on_a_non_member_gets_not_in_room(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with (
        start_node(on(base_config)) as node,
        members(node, room, 1) as (watcher,),
        await RoomClient.connect(ws_url(node), token(unique("p"))) as outsider,
    ):
        await outsider.ws.send(publish_frame(room, rid="b-9"))
        refused = await outsider.recv_type(Error)
        assert (refused.rid, refused.room, refused.payload.code) == (
            "b-9",
            room,
            ErrorCode.NOT_IN_ROOM,
        )
        await asyncio.sleep(0.3)
        assert no_bench_frames(await until_pong(watcher))


async def test_a_resume_replays_the_updates_from_history(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with start_node(on(base_config)) as node, members(node, room, 1) as (publisher,):
        async with await RoomClient.connect(ws_url(node), token(player)) as away:
            snapshot = await join(away, room)
        await publisher.ws.send(publish_frame(room))
        await publisher.ws.send(publish_frame(room))
        published = await bench_updates(publisher, 2)
        async with await RoomClient.connect(ws_url(node), token(player)) as back:
            await back.send(
                RoomJoin(
                    rid="again",
                    room=room,
                    since_seq=snapshot.payload.seq,
                    since_epoch=snapshot.payload.epoch,
                )
            )
            resumed = await back.recv_type(RoomResumed, rid="again")
            replayed = [await back.ws.recv(decode=False) for _ in range(resumed.payload.replayed)]
    frames = [decode_server(data) for data in replayed]
    seqs = [frame.seq for frame in frames]
    assert seqs == list(range(snapshot.payload.seq + 1, resumed.payload.seq + 1))
    updates = [
        data for frame, data in zip(frames, replayed, strict=True) if type(frame) is BenchUpdate
    ]
    # Byte for byte what the members were sent live: the same frames, from history.
    assert updates == [data for _, data in published]


async def test_members_on_two_nodes_get_the_same_update(
    start_node: NodeStarter, base_config: Config, ledger: Ledger, redis_url: str
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for n in range(2):
            server = msgspec.structs.replace(
                base_config.server, node_id=f"{unique('node')}-{n}", bench_publish=True
            )
            config = msgspec.structs.replace(
                base_config, server=server, redis=RedisConfig(url=redis_url)
            )
            nodes.append(await stack.enter_async_context(start_node(config)))
        (publisher,) = await stack.enter_async_context(members(nodes[0], room, 1))
        (remote,) = await stack.enter_async_context(members(nodes[1], room, 1))
        await publisher.ws.send(publish_frame(room))
        await publisher.ws.send(publish_frame(room, payload=TRAP))
        here, there = await bench_updates(publisher, 2), await bench_updates(remote, 2)
    assert_update(*here[0], room)
    assert_update(*here[1], room, TRAP)
    assert [data for _, data in there] == [data for _, data in here]
    first = here[0][0].seq
    assert first is not None
    assert [frame.seq for frame, _ in here] == [first, first + 1]


def test_a_payload_cannot_take_the_envelopes_seq() -> None:
    update = BenchUpdate(room="r", ts="2026-01-01T00:00:00.000Z", payload=msgspec.Raw(TRAP))
    template = FrameTemplate.of(update)
    for offset in (0, 7, 1_790_000_000_000_000):
        assert template.render(offset) == encode(msgspec.structs.replace(update, seq=offset))
