"""A client that stops reading is closed with 1013 while the server's buffer stays bounded."""

import asyncio
import socket

import msgspec

from clients.python.room_client import RoomClient
from protocol.codes import CloseCode
from protocol.messages import Ping
from roomserver.config import Config, RateLimitConfig, SlowConsumerConfig
from tests.integration.conftest import NodeStarter
from tests.support.node import token, unique, ws_url

MAX_BUFFERED = 64 * 1024


def guarded(base: Config, *, send_buffer: int, guard: SlowConsumerConfig) -> Config:
    """A node with a small kernel send buffer, the given guard, and no practical rate limit."""
    return msgspec.structs.replace(
        base,
        # A long close timeout leaves the test time to read up to the 1013 close frame.
        server=msgspec.structs.replace(
            base.server, socket_send_buffer_bytes=send_buffer, close_timeout_s=10.0
        ),
        slow_consumer=guard,
        rate_limit=RateLimitConfig(messages_per_s=100_000.0, burst=100_000),
    )


async def test_a_client_that_never_reads_is_closed_1013_with_bounded_buffers(
    start_node: NodeStarter, base_config: Config
) -> None:
    config = guarded(
        base_config,
        send_buffer=16 * 1024,
        guard=SlowConsumerConfig(
            max_buffered_bytes=MAX_BUFFERED, max_stall_s=1.0, check_interval_s=0.2
        ),
    )
    async with start_node(config) as node:
        client = await RoomClient.connect(ws_url(node), token(unique("p")))
        sock = client.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.ws.transport.pause_reading()
        # Every ping is answered; unread, the answers pile up on the server side.
        ping = Ping(t=1.0)
        for _ in range(20_000):
            await client.send(ping)
            if node.hub.stats.slow_consumer_closes:
                break
        async with asyncio.timeout(10):
            while not node.hub.stats.slow_consumer_closes:
                await asyncio.sleep(0.05)
        session_buffers = [s.peak_buffered_bytes for s in node.hub.sessions]
        # Writes stop once the buffer passes the limit: at most one frame beyond it.
        assert session_buffers
        assert max(session_buffers) <= MAX_BUFFERED + 1024
        client.ws.transport.resume_reading()
        await client.until_closed()
        assert client.ws.close_code == CloseCode.TRY_AGAIN_LATER
        async with asyncio.timeout(10):
            while node.hub.sessions:
                await asyncio.sleep(0.05)
        assert node.hub.stats.peak_buffered_bytes <= MAX_BUFFERED + 1024


async def test_a_stalled_client_is_closed_even_below_the_byte_limit(
    start_node: NodeStarter, base_config: Config
) -> None:
    config = guarded(
        base_config,
        send_buffer=4096,
        guard=SlowConsumerConfig(
            max_buffered_bytes=10 * 1024 * 1024, max_stall_s=0.5, check_interval_s=0.1
        ),
    )
    async with start_node(config) as node:
        client = await RoomClient.connect(ws_url(node), token(unique("p")))
        client.ws.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
        )
        client.ws.transport.pause_reading()
        for _ in range(3000):
            await client.send(Ping(t=2.0))
        async with asyncio.timeout(10):
            while not node.hub.stats.slow_consumer_closes:
                await asyncio.sleep(0.05)
        assert all(s.peak_buffered_bytes < 10 * 1024 * 1024 for s in node.hub.sessions)
        client.ws.transport.resume_reading()
        await client.until_closed()
        assert client.ws.close_code == CloseCode.TRY_AGAIN_LATER
