"""The hub's edges: upgrade checks, bad input, rate limits, replacement and token expiry."""

import time

import jwt
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from loadtest.client import RoomClient
from protocol.codes import SUBPROTOCOL, CloseCode, ErrorCode
from protocol.messages import Error, Ping, Pong, RoomJoin, RoomSnapshot
from roomserver.config import Config, RateLimitConfig
from roomserver.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.integration.support import TEST_AUTH, create_tournament, join, token, unique, ws_url


async def upgrade_status(url: str, headers: dict[str, str], origin: str | None = None) -> int:
    """The HTTP status of a refused upgrade (101 if it was accepted)."""
    try:
        async with connect(url, additional_headers=headers, origin=origin):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_upgrade_refuses_missing_bad_and_expired_tokens(start_node: NodeStarter) -> None:
    expired = token(unique("p"), ttl_s=-60)
    forged = jwt.encode(
        {"sub": "p", "iss": TEST_AUTH.issuer, "aud": TEST_AUTH.audience, "iat": 0, "exp": 2**40},
        "some-other-secret-of-at-least-32-bytes!",
        algorithm="HS256",
    )
    unsigned = jwt.encode({"sub": "p", "exp": 2**40}, None, algorithm="none")  # type: ignore[arg-type]
    async with start_node() as node:
        url = ws_url(node)
        assert await upgrade_status(url, {}) == 401
        assert await upgrade_status(url, {"Authorization": "Bearer not-a-jwt"}) == 401
        assert await upgrade_status(url, {"Authorization": f"Bearer {forged}"}) == 401
        assert await upgrade_status(url, {"Authorization": f"Bearer {unsigned}"}) == 401
        assert await upgrade_status(url, {"Authorization": f"Bearer {expired}"}) == 401
        good = token(unique("p"))
        assert await upgrade_status(url, {"Authorization": f"Bearer {good}"}) == 101
        assert await upgrade_status(f"{url}?token={good}", {}) == 101
        assert (
            await upgrade_status(url.replace("/ws", "/other"), {"Authorization": f"Bearer {good}"})
            == 404
        )


async def test_origin_allow_list(start_node: NodeStarter, base_config: Config) -> None:
    config = msgspec.structs.replace(
        base_config,
        server=msgspec.structs.replace(
            base_config.server, allowed_origins=("https://casino.example",)
        ),
    )
    headers = {"Authorization": f"Bearer {token(unique('p'))}"}
    async with start_node(config) as node:
        url = ws_url(node)
        assert await upgrade_status(url, headers, origin="https://evil.example") == 403
        assert await upgrade_status(url, headers, origin="https://casino.example") == 101
        assert await upgrade_status(url, headers) == 101  # server-side client, no Origin


async def test_subprotocol_is_selected_when_offered(start_node: NodeStarter) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        assert client.ws.subprotocol == SUBPROTOCOL


async def test_oversize_frame_closes_1009(start_node: NodeStarter, base_config: Config) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.send_raw("x" * (base_config.server.max_message_bytes + 1))
        with pytest.raises(ConnectionClosed):
            await client.recv()
        assert client.ws.close_code == 1009


async def test_bad_frames_get_errors_and_the_connection_stays_usable(
    start_node: NodeStarter,
) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.send_raw("{not json")
        garbage = await client.recv_type(Error)
        assert garbage.payload.code == ErrorCode.BAD_MESSAGE
        await client.send_raw(
            '{"type": "spin", "rid": "s", "room": "demo", "stake": "ten", "idempotency_key": "k"}'
        )
        invalid = await client.recv_type(Error)
        assert (invalid.payload.code, invalid.rid, invalid.payload.path) == (
            ErrorCode.BAD_MESSAGE,
            "s",
            "$.stake",
        )
        await client.send_raw('{"type": "dance", "rid": "d"}')
        unknown = await client.recv_type(Error)
        assert (unknown.payload.code, unknown.rid) == (ErrorCode.UNKNOWN_TYPE, "d")
        await client.send_raw(b"\xff\xfe binary junk")
        binary = await client.recv_type(Error)
        assert binary.payload.code == ErrorCode.BAD_MESSAGE
        await client.send(Ping(t=12.5, rid="p"))
        pong = await client.recv_type(Pong, rid="p")
        assert pong.payload is not None
        assert pong.payload.t == 12.5
        await client.send_raw('{"type": "ping", "t": 12345, "rid": "int"}')
        await client.send_raw('{"type": "ping", "rid": "bare"}')
        exact = await client.ws.recv()
        assert '"payload":{"t":12345}' in str(exact)
        bare = await client.recv_type(Pong, rid="bare")
        assert bare.payload is None  # an empty payload is absent


async def test_flooding_gets_rate_limited_then_closed_1008(
    start_node: NodeStarter, base_config: Config
) -> None:
    limits = RateLimitConfig(messages_per_s=1.0, burst=5, strikes_before_close=3)
    config = msgspec.structs.replace(base_config, rate_limit=limits)
    async with (
        start_node(config) as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        for n in range(20):
            try:
                await client.send(Ping(rid=str(n)))
            except ConnectionClosed:
                break
        codes = [
            frame.payload.code if isinstance(frame, Error) else frame.__class__.__name__
            for frame in await client.until_closed()
        ]
        assert codes[:5] == ["Pong"] * 5
        assert codes[5:8] == [ErrorCode.RATE_LIMITED] * 3
        assert client.ws.close_code == CloseCode.POLICY_VIOLATION
        assert node.hub.stats.rate_limit_closes == 1


async def test_a_newer_connection_of_the_player_replaces_the_older_4009(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with start_node() as node:
        older = await RoomClient.connect(ws_url(node), token(player))
        await join(older, room)
        async with await RoomClient.connect(ws_url(node), token(player)) as newer:
            snapshot = await join(newer, room)
            assert snapshot.payload.players_online == 1
            await older.until_closed()
            assert older.ws.close_code == CloseCode.REPLACED
            await newer.send(Ping(rid="still-here"))
            await newer.recv_type(Pong, rid="still-here")


async def test_a_token_that_expires_while_connected_closes_4001(start_node: NodeStarter) -> None:
    async with start_node() as node:
        client = await RoomClient.connect(ws_url(node), token(unique("p"), ttl_s=1))
        started = time.monotonic()
        await client.until_closed(timeout_s=15)
        assert client.ws.close_code == CloseCode.TOKEN_EXPIRED
        # Closed at expiry plus the configured clock-skew leeway, not before and not much later.
        elapsed = time.monotonic() - started
        assert TEST_AUTH.leeway_s - 0.5 < elapsed < 1 + TEST_AUTH.leeway_s + 3


async def test_join_replies_echo_the_rid(start_node: NodeStarter, ledger: Ledger) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.send(RoomJoin(room=room, rid="abc"))
        snapshot = await client.recv_type(RoomSnapshot)
        assert snapshot.rid == "abc"
        assert snapshot.seq is None  # direct replies carry no seq
