"""What the Redis broker and presence add to their contracts: several nodes on one Redis."""

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

from protocol.codec import decode_server
from protocol.messages import PlayerConnected, PresencePayload, ServerMessage
from roomserver.cluster.broker import StreamPosition
from roomserver.cluster.broker_redis import RedisBroker
from roomserver.cluster.presence_redis import RedisPresence
from tests.support.redis import kill_subscriptions, redis_client
from tests.support.services import free_tcp_port, start_redis_on

HISTORY = 50


def message(count: int) -> ServerMessage:
    return PlayerConnected(
        room="r", ts="2026-01-01T00:00:00.000Z", payload=PresencePayload(players_online=count)
    )


class Recorder:
    """A subscriber that keeps what it was given."""

    def __init__(self) -> None:
        self.got: list[tuple[StreamPosition, bytes]] = []

    def __call__(self, position: StreamPosition, frame: bytes) -> None:
        self.got.append((position, frame))

    async def until(self, count: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.got) < count:
                await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def nodes(
    url: str, count: int, check_interval_s: float = 2.0
) -> AsyncIterator[list[RedisBroker]]:
    """`count` brokers sharing one key space, as `count` nodes would."""
    prefix = f"t{secrets.token_hex(4)}:"
    async with contextlib.AsyncExitStack() as stack:
        brokers = []
        for n in range(count):
            client = await stack.enter_async_context(redis_client(url, f"{prefix}node-{n}"))
            broker = RedisBroker(
                client,
                HISTORY,
                node_id=f"node-{n}",
                key_prefix=prefix,
                check_interval_s=check_interval_s,
            )
            await broker.start()
            stack.push_async_callback(broker.close)
            brokers.append(broker)
        yield brokers


async def test_frames_published_on_every_node_reach_every_node_identically(
    redis_url: str,
) -> None:
    async with nodes(redis_url, 3) as brokers:
        recorders = [Recorder() for _ in brokers]
        for broker, recorder in zip(brokers, recorders, strict=True):
            await broker.subscribe("r", recorder)
        published = await asyncio.gather(
            *(brokers[n % 3].publish("r", message(n)) for n in range(60))
        )
        for recorder in recorders:
            await recorder.until(60)
        first = recorders[0].got
        offsets = [position.offset for position, _ in first]
        assert offsets == list(range(offsets[0], offsets[0] + 60))
        assert sorted(published) == [position for position, _ in first]
        for recorder in recorders[1:]:
            assert recorder.got == first  # same positions, same bytes, same order
        assert [decode_server(frame).seq for _, frame in first] == offsets


async def test_frames_published_while_the_subscription_was_cut_are_repaired(
    redis_url: str,
) -> None:
    async with nodes(redis_url, 2, check_interval_s=0.2) as (listener, publisher):
        recorder = Recorder()
        await listener.subscribe("r", recorder)
        await publisher.publish("r", message(0))
        await recorder.until(1)
        assert await kill_subscriptions(redis_url, f"{listener._prefix}node-0") == 1
        positions = [await publisher.publish("r", message(n)) for n in range(1, 11)]
        await recorder.until(11)
        got = [position for position, _ in recorder.got]
        assert got[1:] == positions
        assert [p.offset for p in got] == list(range(got[0].offset, got[0].offset + 11))
        assert listener.resyncs >= 1


async def test_a_gap_in_what_arrives_is_filled_from_the_stream(redis_url: str) -> None:
    async with nodes(redis_url, 1, check_interval_s=60.0) as (broker,):
        recorder = Recorder()
        await broker.subscribe("r", recorder)
        first = await broker.publish("r", message(0))
        await recorder.until(1)
        # Frames that reach the stream but whose publish nobody saw (as across a reconnect):
        # written here by hand, then one more published normally.
        async with redis_client(redis_url) as raw:
            prefix = broker._prefix  # the keys a node uses are the broker's own business
            meta, stream = f"{prefix}{{t:r}}:meta", f"{prefix}{{t:r}}:stream"
            assert decode_server(recorder.got[0][1]).seq == first.offset
            for offset in (first.offset + 1, first.offset + 2):
                await raw.hincrby(meta, "top", 1)
                await raw.xadd(stream, {"f": f"lost {offset}"}, id=f"{offset}-0")
        last = await broker.publish("r", message(3))
        await recorder.until(4)
        assert [p.offset for p, _ in recorder.got] == [
            first.offset,
            first.offset + 1,
            first.offset + 2,
            last.offset,
        ]
        assert recorder.got[1][1] == f"lost {first.offset + 1}".encode()
        assert broker.gaps_repaired == 1


async def test_concurrent_history_reads_of_a_room_share_one_call(redis_url: str) -> None:
    async with nodes(redis_url, 1) as (broker,):
        top = await broker.position("r")
        for n in range(5):
            await broker.publish("r", message(n))
        reads = await asyncio.gather(*(broker.history("r", top) for _ in range(50)))
        assert all(read == reads[0] for read in reads)
        assert reads[0] is not None and len(reads[0]) == 5


async def test_a_stream_lost_by_redis_restarts_in_a_new_epoch_above_the_old_offsets(
    redis_url: str,
) -> None:
    async with nodes(redis_url, 1) as (broker,):
        before = await broker.publish("r", message(1))
        async with redis_client(redis_url) as raw:
            keys = await raw.keys(f"{broker._prefix}*")
            await raw.delete(*keys)
        after = await broker.publish("r", message(2))
        assert after.epoch != before.epoch
        assert after.offset > before.offset
        assert await broker.history("r", before) is None


# ---------------------------------------------------------------- presence over nodes


@contextlib.asynccontextmanager
async def presences(url: str, count: int) -> AsyncIterator[list[RedisPresence]]:
    prefix = f"t{secrets.token_hex(4)}:"
    async with contextlib.AsyncExitStack() as stack:
        members = []
        for n in range(count):
            client = await stack.enter_async_context(redis_client(url))
            presence = RedisPresence(
                client, f"node-{n}", heartbeat_s=0.1, node_ttl_s=0.5, key_prefix=prefix
            )
            await presence.start()
            stack.push_async_callback(presence.close)
            members.append(presence)
        yield members


async def test_a_player_on_two_nodes_counts_once(redis_url: str) -> None:
    async with presences(redis_url, 2) as (a, b):
        assert await a.add("r", "p1", "c1")
        assert not await b.add("r", "p1", "c1")  # another node's connection, same id
        assert await b.add("r", "p2", "c2")
        assert await a.count("r") == await b.count("r") == 2
        assert not await a.remove("r", "p1", "c1")
        assert await b.is_online("r", "p1")
        assert await b.remove("r", "p1", "c1")
        assert await a.count("r") == 1


async def test_a_dead_nodes_connections_are_removed_by_a_survivor(redis_url: str) -> None:
    async with presences(redis_url, 2) as (survivor, doomed):
        offline: list[tuple[str, str]] = []

        async def went_offline(room_id: str, player_id: str) -> None:
            offline.append((room_id, player_id))

        survivor.on_went_offline = went_offline
        await doomed.add("r", "only-there", "c1")
        await doomed.add("r", "on-both", "c2")
        await survivor.add("r", "on-both", "c3")
        assert sorted(await survivor.live_nodes()) == ["node-0", "node-1"]
        # The node dies: its heartbeat stops (its task is cancelled, nothing is cleaned up).
        assert doomed._task is not None
        doomed._task.cancel()
        async with asyncio.timeout(5.0):
            while await survivor.count("r") != 1:
                await asyncio.sleep(0.05)
        assert await survivor.is_online("r", "on-both")
        assert not await survivor.is_online("r", "only-there")
        assert offline == [("r", "only-there")]
        assert await survivor.live_nodes() == ["node-0"]


async def test_a_restarted_node_forgets_what_its_earlier_run_left(redis_url: str) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    async with redis_client(redis_url) as client:
        crashed = RedisPresence(client, "node-x", key_prefix=prefix)
        await crashed.start()
        await crashed.add("r", "p", "c")
        assert crashed._task is not None
        crashed._task.cancel()
        restarted = RedisPresence(client, "node-x", key_prefix=prefix)
        await restarted.start()
        try:
            assert await restarted.count("r") == 0
        finally:
            await restarted.close()


async def test_a_frame_costs_one_script_call_and_one_publish() -> None:
    # A private server: its command statistics count this test's commands only.
    server = start_redis_on(free_tcp_port())
    try:
        async with nodes(server.url, 3, check_interval_s=60.0) as brokers:
            recorders = [Recorder() for _ in brokers]
            for broker, recorder in zip(brokers, recorders, strict=True):
                await broker.subscribe("r", recorder)
            async with redis_client(server.url) as admin:
                await admin.config_resetstat()
                for n in range(300):
                    await brokers[n % 3].publish("r", message(n))
                for recorder in recorders:
                    await recorder.until(300)
                stats = await admin.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        # One script call per frame, plus at most one position check per node meanwhile.
        assert 300 <= calls["evalsha"] <= 303
        assert calls["publish"] == 300
        assert calls["xadd"] == 300
        assert "xrange" not in calls  # no gap to repair
    finally:
        server.stop()
