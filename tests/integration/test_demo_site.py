"""The demo casino a sandbox node serves: two origins, the token endpoint, the WebSocket origin."""

import socket
from pathlib import Path

import httpx
import jwt
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from clients.python.room_client import RoomClient
from roomserver.config import Config, SandboxConfig
from roomserver.demo.site import DemoSite, casino_app, game_app
from roomserver.domain import slot_game
from roomserver.ops.startup import StartupError
from tests.integration.conftest import NodeStarter
from tests.support.demo import demo_urls, with_demo
from tests.support.node import TEST_AUTH, join, sandbox_process, ws_url
from tests.support.services import free_tcp_port


async def upgrade_status(url: str, token: str, origin: str | None) -> int:
    """The HTTP status of the upgrade (101 when it was accepted)."""
    try:
        async with connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            origin=origin,  # type: ignore[arg-type]
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def policy(response: httpx.Response) -> dict[str, str]:
    """The response's Content-Security-Policy, directive by directive."""
    directives = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        directives[name] = value
    return directives


async def test_each_origin_serves_its_page_under_its_policy(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with start_node(with_demo(base_config)) as node, httpx.AsyncClient() as http:
        urls = demo_urls(node)
        assert urls.casino_origin != urls.game_origin
        assert node.demo is not None
        assert node.demo.lobby_url == f"{urls.casino_origin}/"

        lobby = await http.get(f"{urls.casino}/")
        assert lobby.status_code == 200
        assert lobby.headers["content-type"] == "text/html; charset=utf-8"
        assert "Demo Casino" in lobby.text
        assert "/sdk/roomserver.iife.js" in lobby.text
        assert policy(lobby)["frame-src"] == urls.game_origin
        assert policy(lobby)["frame-ancestors"] == "'none'"
        assert policy(lobby)["script-src"] == "'self'"
        assert lobby.headers["x-content-type-options"] == "nosniff"

        game = await http.get(f"{urls.game}/")
        assert game.status_code == 200
        assert game.headers["content-type"] == "text/html; charset=utf-8"
        assert "Fruit-3" in game.text
        # Only the casino may frame the game; the game may open the node's WebSocket.
        assert policy(game)["frame-ancestors"] == urls.casino_origin
        assert policy(game)["connect-src"] == f"'self' ws://127.0.0.1:{node.hub.port}"
        assert "frame-src" not in policy(game)

        casino_settings = (await http.get(f"{urls.casino}/config.json")).json()
        assert casino_settings["game_url"] == f"{urls.game_origin}/"
        assert casino_settings["game_origin"] == urls.game_origin
        assert casino_settings["room"] == "demo"
        players = [player["player_id"] for player in casino_settings["players"]]
        assert players[:10] == [f"p_demo_{n}" for n in range(1, 11)]
        assert {"p_low_balance", "p_blocked_rg"} <= set(players)
        game_settings = (await http.get(f"{urls.game}/config.json")).json()
        assert game_settings == {
            "casino_origin": urls.casino_origin,
            "ws_url": ws_url(node),
            "room": "demo",
            "game_id": "fruit-3",
            "reels": [list(reel) for reel in slot_game.REELS],
        }

        for origin in (urls.casino, urls.game):
            css = await http.get(f"{origin}/assets/demo.css")
            assert css.status_code == 200
            assert css.headers["content-type"] == "text/css; charset=utf-8"
            assert css.headers["cache-control"] == "no-cache"
            script = await http.get(f"{origin}/assets/game.js")
            assert script.headers["content-type"] == "text/javascript; charset=utf-8"
            svg = await http.get(f"{origin}/assets/symbols.svg")
            assert svg.headers["content-type"] == "image/svg+xml"
            # Pages only at `/`, nothing outside the pages' directory, nothing unknown.
            for path in (
                "/assets/lobby.html",
                "/assets/..%2Fdemo%2Flobby.html",
                "/assets/%2E%2E",
                "/assets/nothing.js",
                "/assets/README",
                "/elsewhere",
            ):
                refused = await http.get(f"{origin}{path}")
                assert refused.status_code == 404, path
                assert "frame-ancestors" in refused.headers["content-security-policy"], path


async def test_the_casino_alone_mints_tokens_for_sandbox_players(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with start_node(with_demo(base_config)) as node, httpx.AsyncClient() as http:
        urls = demo_urls(node)
        minted = await http.get(f"{urls.casino}/sandbox/token", params={"player_id": "p_demo_2"})
        assert minted.status_code == 200
        assert minted.headers["content-type"] == "application/json"
        assert minted.headers["cache-control"] == "no-store"
        body = minted.json()
        assert body["player_id"] == "p_demo_2"
        assert body["currency"] == "USD"
        assert body["expires_in_s"] == TEST_AUTH.token_ttl_s
        claims = jwt.decode(
            body["token"],
            TEST_AUTH.jwt_secret,
            algorithms=["HS256"],
            audience=TEST_AUTH.audience,
            issuer=TEST_AUTH.issuer,
        )
        assert (claims["sub"], claims["name"], claims["currency"]) == (
            "p_demo_2",
            "Demo Player 2",
            "USD",
        )
        blocked = await http.get(f"{urls.casino}/sandbox/token?player_id=p_blocked_rg")
        assert jwt.decode(blocked.json()["token"], options={"verify_signature": False})["rg"][
            "self_excluded"
        ]

        # The game's origin has no token endpoint.
        on_game = await http.get(f"{urls.game}/sandbox/token", params={"player_id": "p_demo_1"})
        assert on_game.status_code == 404
        assert "token" not in on_game.text

        unknown = await http.get(f"{urls.casino}/sandbox/token", params={"player_id": "mallory"})
        assert unknown.status_code == 404
        assert unknown.headers["cache-control"] == "no-store"
        refusal = unknown.json()
        assert refusal["code"] == "UNKNOWN_PLAYER"
        assert "mallory" in refusal["message"]
        assert "p_demo_1" in refusal["message"]
        assert refusal["retryable"] is False

        missing = await http.get(f"{urls.casino}/sandbox/token")
        assert missing.status_code == 400
        assert missing.json()["code"] == "BAD_REQUEST"


async def test_no_demo_outside_sandbox_mode(start_node: NodeStarter, base_config: Config) -> None:
    config = msgspec.structs.replace(with_demo(base_config), sandbox=SandboxConfig(enabled=False))
    async with start_node(config) as node:
        assert node.demo is None
        assert node.config.server.allowed_origins == base_config.server.allowed_origins


async def test_the_casino_application_outside_sandbox_has_no_token_endpoint() -> None:
    site = DemoSite(
        casino_origin="http://localhost:1",
        game_origin="http://127.0.0.1:2",
        ws_url="ws://127.0.0.1:3/ws",
        auth=TEST_AUTH,
        sandbox=False,
    )
    async with AsyncTestClient(casino_app(site), base_url="http://casino.test") as http:
        assert (await http.get("/")).status_code == 200
        refused = await http.get("/sandbox/token", params={"player_id": "p_demo_1"})
        assert refused.status_code == 404


async def test_a_missing_bundle_is_a_404_the_pages_explain(tmp_path: Path) -> None:
    site = DemoSite(
        casino_origin="http://localhost:1",
        game_origin="http://127.0.0.1:2",
        ws_url="ws://127.0.0.1:3/ws",
        auth=TEST_AUTH,
        sandbox=True,
        bundle_path=tmp_path / "roomserver.iife.js",
    )
    async with AsyncTestClient(game_app(site), base_url="http://game.test") as http:
        missing = await http.get("/sdk/roomserver.iife.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/plain")
        assert "sdk-missing" in (await http.get("/")).text
        (tmp_path / "roomserver.iife.js").write_text("var RoomServer = {};\n")
        served = await http.get("/sdk/roomserver.iife.js")
        assert served.status_code == 200
        assert served.headers["content-type"] == "text/javascript; charset=utf-8"
        assert served.text == "var RoomServer = {};\n"


async def test_the_game_origin_is_allowed_at_the_upgrade_and_null_is_not(
    start_node: NodeStarter, base_config: Config
) -> None:
    async with start_node(with_demo(base_config)) as node, httpx.AsyncClient() as http:
        urls = demo_urls(node)
        assert urls.game_origin in node.config.server.allowed_origins
        minted = await http.get(f"{urls.casino}/sandbox/token", params={"player_id": "p_demo_4"})
        player_token = minted.json()["token"]
        url = ws_url(node)
        assert await upgrade_status(url, player_token, urls.game_origin) == 101
        # A sandboxed frame without allow-same-origin, or any page on the web, says "null".
        assert await upgrade_status(url, player_token, "null") == 403
        # The casino's page never opens the socket; its origin is not allowed.
        assert await upgrade_status(url, player_token, urls.casino_origin) == 403
        async with await RoomClient.connect(url, player_token, origin=urls.game_origin) as client:
            snapshot = await join(client, "demo")
            assert snapshot.payload.you.player_id == "p_demo_4"


async def test_a_taken_demo_port_is_named(start_node: NodeStarter, base_config: Config) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        config = with_demo(base_config)
        demo = msgspec.structs.replace(config.demo, game_port=taken.getsockname()[1])
        with pytest.raises(StartupError, match=r"config key demo\.game_port"):
            async with start_node(msgspec.structs.replace(config, demo=demo)):
                pass


@pytest.mark.timeout(90)
async def test_run_sandbox_serves_the_demo_and_names_the_lobby(
    database_dsn: str, tmp_path: Path
) -> None:
    ports = {name: free_tcp_port() for name in ("ws", "api", "casino", "game")}
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {ports["ws"]}
[postgres]
dsn = "{database_dsn}"
[auth]
jwt_secret = "{TEST_AUTH.jwt_secret}"
[api]
port = {ports["api"]}
[events]
file = "{tmp_path / "events.jsonl"}"
[demo]
enabled = true
casino_port = {ports["casino"]}
game_port = {ports["game"]}
""",
        encoding="utf-8",
    )
    lobby = f"http://localhost:{ports['casino']}/"
    log_path = tmp_path / "node.log"
    async with (
        sandbox_process(config, f"http://127.0.0.1:{ports['api']}", log_path),
        httpx.AsyncClient() as http,
    ):
        page = await http.get(f"http://127.0.0.1:{ports['casino']}/")
        assert page.status_code == 200
        settings = (await http.get(f"http://127.0.0.1:{ports['game']}/config.json")).json()
        assert settings["casino_origin"] == f"http://localhost:{ports['casino']}"
        assert settings["ws_url"] == f"ws://127.0.0.1:{ports['ws']}/ws"
    log = log_path.read_text()
    assert f"demo casino: open {lobby} in a browser and pick a player" in log
    assert "Traceback" not in log
