"""The hub's edges: upgrade checks, bad input, rate limits, replacement and token expiry."""

import asyncio
import gc
import time
from typing import Any, Final

import httpx
import jwt
import msgspec
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from clients.python.room_client import RoomClient
from protocol.codes import SUBPROTOCOL, CloseCode, ErrorCode
from protocol.messages import Error, Ping, Pong, RoomJoin, RoomSnapshot
from roomserver.config import Config, RateLimitConfig
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import admin_headers, api_config, api_url
from tests.support.node import TEST_AUTH, create_tournament, join, token, unique, ws_url


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


# ---------------------------------------------------------------- claims decoded strictly


def signed(claims: dict[str, Any]) -> str:
    """A token correctly signed with the test secret, carrying exactly these claims."""
    return jwt.encode(claims, TEST_AUTH.jwt_secret, algorithm="HS256")


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": unique("p"),
        "name": "Mallory",
        "currency": "EUR",
        "iss": TEST_AUTH.issuer,
        "aud": TEST_AUTH.audience,
        "iat": now,
        "exp": now + 600,
        "rg": {"self_excluded": False, "loss_limit": None, "session_limit_min": None},
    }
    claims.update(overrides)
    return claims


async def upgrade_refusal(url: str, headers: Any) -> tuple[int, str]:
    """The status and body of an upgrade (101 and "" if it was accepted)."""
    try:
        async with connect(url, additional_headers=headers):
            return 101, ""
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body.decode()


MISTYPED_CLAIMS: Final = {
    "self-excluded-string": {"rg": {"self_excluded": "true"}},
    "self-excluded-number": {"rg": {"self_excluded": 1}},
    "loss-limit-string": {"rg": {"self_excluded": False, "loss_limit": "100"}},
    "session-limit-float": {"rg": {"self_excluded": False, "session_limit_min": 1.5}},
    "rg-string": {"rg": "none"},
    "exp-numeric-string": {"exp": "9999999999"},
    "iat-numeric-string": {"iat": str(int(time.time()))},
    "sub-nul": {"sub": "p\x00nul"},
    "sub-space": {"sub": "p one"},
    "sub-65": {"sub": "p" * 65},
    "sub-final-newline": {"sub": "p-1\n"},
    "name-number": {"name": 7},
    "currency-number": {"currency": 978},
    "geo-object": {"geo": {"country": "MT"}},
}


@pytest.mark.parametrize("overrides", MISTYPED_CLAIMS.values(), ids=MISTYPED_CLAIMS.keys())
async def test_mistyped_claims_are_401_at_the_upgrade_and_at_validate_token(
    start_node: NodeStarter, base_config: Config, overrides: dict[str, Any]
) -> None:
    """A correctly signed token with one mistyped claim never becomes a connection.

    The side API gives the same verdict.
    """
    bad = signed(valid_claims(**overrides))
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), headers=admin_headers()) as api,
    ):
        status, reason = await upgrade_refusal(ws_url(node), {"Authorization": f"Bearer {bad}"})
        assert (status, reason.startswith("invalid token")) == (401, True), reason
        validated = await api.post("/internal/auth/validate-token", json={"token": bad})
        assert validated.status_code == 401, validated.text
        assert validated.json()["code"] == "TOKEN_INVALID"
        # The control: the same claims with the right types connect.
        good = signed(valid_claims())
        assert await upgrade_status(ws_url(node), {"Authorization": f"Bearer {good}"}) == 101


async def test_a_self_excluded_string_claim_cannot_spin(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    room = (await create_tournament(ledger)).config.tournament_id
    bad = signed(valid_claims(rg={"self_excluded": "true"}))
    async with start_node() as node:
        with pytest.raises(InvalidStatus) as refused:
            async with await RoomClient.connect(ws_url(node), bad) as client:
                await join(client, room)
        assert refused.value.response.status_code == 401


# ---------------------------------------------------------------- one credential


async def test_ambiguous_credentials_are_401(start_node: NodeStarter) -> None:
    first, second = token(unique("p")), token(unique("p"))
    async with start_node() as node:
        url = ws_url(node)
        refusals = [
            await upgrade_refusal(f"{url}?token={second}", {"Authorization": f"Bearer {first}"}),
            await upgrade_refusal(f"{url}?token={first}&token={second}", {}),
            await upgrade_refusal(f"{url}?token={first}&token={first}", {}),
            await upgrade_refusal(f"{url}?token={first}", {"Authorization": f"Bearer {first}"}),
            await upgrade_refusal(
                url, [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]
            ),
            await upgrade_refusal(f"{url}?token={first}&token=", {}),
        ]
        for status, reason in refusals:
            assert status == 401, reason
            assert "exactly one" in reason, reason
        # Either credential alone still connects.
        assert await upgrade_status(url, {"Authorization": f"Bearer {first}"}) == 101
        assert await upgrade_status(f"{url}?token={second}", {}) == 101


async def test_a_non_bearer_authorization_is_not_a_credential(start_node: NodeStarter) -> None:
    """Basic credentials a browser replays for a proxy in front neither count nor conflict."""
    basic = {"Authorization": "Basic dXNlcjpwdw=="}
    async with start_node() as node:
        status, reason = await upgrade_refusal(ws_url(node), basic)
        assert (status, reason) == (401, "missing token\n")
        assert await upgrade_status(f"{ws_url(node)}?token={token(unique('p'))}", basic) == 101


async def raw_upgrade_status(port: int, target: str, headers: str = "") -> int:
    """The status of an upgrade sent as raw bytes (for request targets no client would send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\n{headers}\r\n"
            ).encode()
        )
        async with asyncio.timeout(10):
            status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


async def test_an_upgrade_check_that_fails_unexpectedly_is_400_not_500(
    start_node: NodeStarter,
) -> None:
    """A request target the URL parser chokes on: refused, logged, and the node serves on."""
    good = token(unique("p"))
    async with start_node() as node:
        assert await raw_upgrade_status(node.hub.port, "//[oops/ws") == 400
        assert await raw_upgrade_status(node.hub.port, f"/ws?token={good}") == 101


# ---------------------------------------------------------------- frames


async def test_invalid_utf8_text_frame_closes_1007(start_node: NodeStarter) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.ws.send(b'{"type": "ping", "rid": "\xff\xfe"}', text=True)
        await client.until_closed()
        assert client.ws.close_code == CloseCode.INVALID_DATA


async def test_a_binary_frame_holding_utf8_json_is_read_like_a_text_frame(
    start_node: NodeStarter,
) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.ws.send(b'{"type": "ping", "rid": "bin"}', text=False)
        await client.recv_type(Pong, rid="bin")
        await client.ws.send(b'{"type": "ping", "rid": "\xff\xfe"}', text=False)
        refused = await client.recv_type(Error)
        assert refused.payload.code == ErrorCode.BAD_MESSAGE
        assert "UTF-8" in refused.payload.message
        await client.send(Ping(rid="text"))
        await client.recv_type(Pong, rid="text")


async def test_a_deeply_nested_ping_is_bad_message_and_the_connection_stays(
    start_node: NodeStarter,
) -> None:
    depth = 2_500
    deep = '{"type":"ping","rid":"deep","x":' + '{"a":' * depth + "1" + "}" * depth + "}"
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.send_raw(deep)
        refused = await client.recv_type(Error)
        assert refused.payload.code == ErrorCode.BAD_MESSAGE
        await client.send(Ping(rid="after"))
        await client.recv_type(Pong, rid="after")
        assert client.ws.close_code is None


# ---------------------------------------------------------------- refused upgrades leave nothing


async def refused_upgrades(port: int, request: bytes, count: int, concurrency: int = 64) -> None:
    """`count` upgrades on raw loopback sockets, each expected to be refused with 403."""
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                status_line = await reader.readline()
                assert status_line.split()[1] == b"403", status_line
            finally:
                writer.close()
                await writer.wait_closed()

    async with asyncio.timeout(60):
        await asyncio.gather(*(worker() for _ in range(concurrency)))


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


def live_server_connections() -> int:
    gc.collect()
    return sum(isinstance(item, ServerConnection) for item in gc.get_objects())


@pytest.mark.slow
async def test_refused_upgrades_leave_no_state_and_no_memory_behind(
    start_node: NodeStarter, base_config: Config
) -> None:
    """A valid token from a foreign Origin is refused (403).

    Nothing created while checking the upgrade may outlive it.
    """
    config = msgspec.structs.replace(
        base_config,
        server=msgspec.structs.replace(
            base_config.server, allowed_origins=("https://casino.example",)
        ),
    )
    request = (
        "GET /ws HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Origin: https://evil.example\r\n"
        f"Authorization: Bearer {token(unique('p'))}\r\n"
        "\r\n"
    ).encode()
    async with start_node(config) as node:
        await refused_upgrades(node.hub.port, request, 1_000)  # warm-up: pools, caches
        connections_before = live_server_connections()
        rss_before = rss_bytes()
        await refused_upgrades(node.hub.port, request, 10_000)
        assert live_server_connections() == connections_before
        growth = rss_bytes() - rss_before
        assert growth < 6 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB"
