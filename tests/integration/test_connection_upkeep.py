"""What a connection keeps after its upgrade, and the hub's upkeep sweep over connections.

Keepalive: pings go out, a silent peer is closed, a live one stays.

The silent peer is a raw socket that completes the upgrade and never answers a ping (every
WebSocket library answers them by itself).
"""

import asyncio
import base64
import os
import struct
import time

import msgspec
import pytest

from clients.python.room_client import RoomClient
from protocol.messages import Ping, Pong
from roomserver.config import Config
from roomserver.node import Node
from tests.integration.conftest import NodeStarter
from tests.support.node import token, unique, ws_url

pytestmark = pytest.mark.timeout(60)

PING, PONG, CLOSE = 0x9, 0xA, 0x8


def with_keepalive(base: Config, interval_s: float, timeout_s: float) -> Config:
    return msgspec.structs.replace(
        base,
        server=msgspec.structs.replace(
            base.server, ping_interval_s=interval_s, ping_timeout_s=timeout_s
        ),
        slow_consumer=msgspec.structs.replace(base.slow_consumer, check_interval_s=0.05),
    )


class RawPeer:
    """A WebSocket client at the frame level: it answers pings only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, node: Node, player_id: str) -> "RawPeer":
        reader, writer = await asyncio.open_connection("127.0.0.1", node.hub.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws?token={token(player_id)} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{node.hub.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def next_frame(self) -> tuple[int, bytes]:
        """The next server frame's opcode and payload (server frames are unmasked)."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    def pong(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x80 | PONG, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self.writer.close()


async def test_a_peer_that_never_answers_pings_is_closed_1011(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with start_node(with_keepalive(base_config, 0.3, 0.4)) as node:
        peer = await RawPeer.connect(node, unique("p"))
        opened = time.monotonic()
        try:
            opcode, _ = await asyncio.wait_for(peer.next_frame(), 5)
            assert opcode == PING
            pinged = time.monotonic() - opened
            opcode, payload = await asyncio.wait_for(peer.next_frame(), 5)
            closed = time.monotonic() - opened
        finally:
            peer.close()
        assert opcode == CLOSE
        assert struct.unpack("!H", payload[:2])[0] == 1011
        assert payload[2:] == b"keepalive ping timeout"
        # The first ping one interval after the open; the close one timeout after the ping.
        assert 0.25 <= pinged <= 1.5, pinged
        assert 0.35 <= closed - pinged <= 1.5, closed - pinged
        assert not node.hub.sessions or all(s.closing for s in node.hub.sessions)


async def test_a_peer_that_answers_stays_connected_and_is_pinged_again(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with start_node(with_keepalive(base_config, 0.2, 0.3)) as node:
        peer = await RawPeer.connect(node, unique("p"))
        try:
            pings = 0
            deadline = time.monotonic() + 1.5  # five timeouts: a missed pong would have closed
            while time.monotonic() < deadline:
                opcode, payload = await asyncio.wait_for(peer.next_frame(), 5)
                assert opcode == PING, opcode
                peer.pong(payload)
                pings += 1
            assert pings >= 4
            assert len(node.hub.sessions) == 1
            assert not next(iter(node.hub.sessions)).closing
        finally:
            peer.close()


async def test_library_clients_answer_the_sweeps_pings(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with (
        start_node(with_keepalive(base_config, 0.1, 0.2)) as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await asyncio.sleep(1.0)
        assert client.ws.close_code is None
        assert len(node.hub.sessions) == 1
        # The client's pongs to the sweep's pings reached the session.
        session = next(iter(node.hub.sessions))
        assert session.pong_received_s > 0


async def test_the_upgrade_request_and_its_token_are_not_kept(start_node: NodeStarter) -> None:
    player_token = token(unique("p"))
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), player_token, in_query=True) as client,
    ):
        await client.send(Ping(rid="r1"))
        await client.recv_type(Pong)
        (session,) = node.hub.sessions
        assert session.ws.request is not None  # websockets' mark of a finished handshake
        assert session.ws.request.path == ""
        assert list(session.ws.request.headers.raw_items()) == []
        assert session.ws.response is None
