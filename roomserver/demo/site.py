"""The demo's two HTTP applications, one per origin: the casino's (the lobby) and the game's.

Each origin serves its page at `/`, its settings at `/config.json`, the pages' scripts and
styles at `/assets/<name>` and the browser SDK at `/sdk/roomserver.iife.js`. Only the casino
serves `GET /sandbox/token`, and only in sandbox mode. Every response carries its origin's
Content-Security-Policy: the lobby may frame nothing but the game's origin, the game page may be
framed by nothing but the casino's origin (`frame-ancestors`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import msgspec
from litestar import Litestar, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.types import Message, Scope

from roomserver.config import AuthConfig
from roomserver.demo.assets import BUNDLE, PAGES_DIR, Asset, asset, bundle, page
from roomserver.demo.tokens import sandbox_token
from roomserver.domain import slot_game
from roomserver.services.sandbox import DEMO_TOURNAMENT, SANDBOX_PLAYERS

CASINO_ID: Final = "demo-casino"
_NOTES: Final = {
    "p_demo_2": "plays in USD",
    "p_blocked_rg": "self-excluded: refused as it connects",
    "p_low_balance": "50 cents of cash",
}


@dataclass(frozen=True, slots=True)
class DemoSite:
    """What the two applications serve: the origins, the node's WebSocket URL, the token key."""

    casino_origin: str
    game_origin: str
    ws_url: str
    auth: AuthConfig
    sandbox: bool
    room: str = DEMO_TOURNAMENT.tournament_id
    pages_dir: Path = PAGES_DIR
    bundle_path: Path = BUNDLE

    @property
    def lobby_url(self) -> str:
        """The URL a player opens."""
        return f"{self.casino_origin}/"


class SandboxToken(msgspec.Struct, kw_only=True):
    """The body of `GET /sandbox/token`."""

    token: str
    player_id: str
    name: str
    currency: str
    expires_in_s: int


class DemoError(msgspec.Struct, kw_only=True):
    """The body of a refused request."""

    code: str
    message: str
    retryable: bool = False


def casino_csp(site: DemoSite) -> str:
    """The lobby's policy: its own scripts and styles, the game's origin in a frame, no framing."""
    return _policy(
        {
            "connect-src": "'self'",
            "frame-src": site.game_origin,
            "frame-ancestors": "'none'",
        }
    )


def game_csp(site: DemoSite) -> str:
    """The game's policy: its own files, the node's WebSocket, framed by the casino alone."""
    ws = urlsplit(site.ws_url)
    return _policy(
        {
            "connect-src": f"'self' {ws.scheme}://{ws.netloc}",
            "frame-ancestors": site.casino_origin,
        }
    )


def _policy(directives: Mapping[str, str]) -> str:
    base = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        **directives,
    }
    return "; ".join(f"{name} {value}" for name, value in base.items())


def casino_app(site: DemoSite) -> Litestar:
    """The casino's origin: the lobby, and in sandbox mode the token endpoint."""
    settings = {
        "casino_id": CASINO_ID,
        "locale": "en",
        "game_origin": site.game_origin,
        "game_url": f"{site.game_origin}/",
        "room": site.room,
        "players": [
            {
                "player_id": player.player_id,
                "name": player.name,
                "currency": player.currency,
                "note": _NOTES.get(player.player_id, ""),
            }
            for player in SANDBOX_PLAYERS
        ],
    }
    handlers = _common_handlers(site, "lobby", settings)
    if site.sandbox:
        handlers.append(_token_handler(site.auth))
    return _app(handlers, casino_csp(site))


def game_app(site: DemoSite) -> Litestar:
    """The game's origin: the game page, which only the casino's origin may frame."""
    settings = {
        "casino_origin": site.casino_origin,
        "ws_url": site.ws_url,
        "room": site.room,
        "game_id": slot_game.GAME_ID,
        # The reel strips, so the game shows each reel's symbols around the payline.
        "reels": slot_game.REELS,
    }
    return _app(_common_handlers(site, "game", settings), game_csp(site))


def _app(handlers: list[HTTPRouteHandler], csp: str) -> Litestar:
    security = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]

    async def secure(message: Message, scope: Scope) -> None:
        """`before_send` hook: every response, errors included, gets the origin's policy."""
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", b"no-cache"))
            message["headers"] = [*headers, *security]

    return Litestar(
        route_handlers=handlers,
        before_send=[secure],
        openapi_config=None,
        debug=False,
        logging_config=None,
    )


def _common_handlers(
    site: DemoSite, page_name: str, settings: Mapping[str, object]
) -> list[HTTPRouteHandler]:
    settings_body = msgspec.json.encode(settings)

    @get("/", name="page")
    async def serve_page() -> Response[bytes]:
        return _file(page(page_name, site.pages_dir))

    @get("/config.json", name="settings")
    async def serve_settings() -> Response[bytes]:
        return Response(
            settings_body,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @get("/assets/{name:str}", name="asset")
    async def serve_asset(name: FromPath[str]) -> Response[bytes]:
        found = asset(name, site.pages_dir)
        return _not_found() if found is None else _file(found)

    @get("/sdk/roomserver.iife.js", name="sdk")
    async def serve_sdk() -> Response[bytes]:
        return _file(bundle(site.bundle_path))

    return [serve_page, serve_settings, serve_asset, serve_sdk]


def _token_handler(auth: AuthConfig) -> HTTPRouteHandler:
    players = {player.player_id: player for player in SANDBOX_PLAYERS}

    @get("/sandbox/token", name="token")
    async def serve_token(player_id: FromQuery[str] = "") -> Response[bytes]:
        player = players.get(player_id)
        if player is None:
            known = ", ".join(players)
            message = (
                f"no sandbox player {player_id!r}; the players are {known}"
                if player_id
                else f"the query parameter player_id is required (one of {known})"
            )
            code = "UNKNOWN_PLAYER" if player_id else "BAD_REQUEST"
            return Response(
                msgspec.json.encode(DemoError(code=code, message=message)),
                status_code=404 if player_id else 400,
                media_type="application/json",
                headers={"Cache-Control": "no-store"},
            )
        body = SandboxToken(
            token=sandbox_token(auth, player.player_id),
            player_id=player.player_id,
            name=player.name,
            currency=player.currency,
            expires_in_s=auth.token_ttl_s,
        )
        return Response(
            msgspec.json.encode(body),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return serve_token


def _file(found: Asset) -> Response[bytes]:
    content = found.read()
    if content is None:
        return _not_found()
    return Response(content, media_type=found.content_type)


def _not_found() -> Response[bytes]:
    return Response(b"not found\n", status_code=404, media_type="text/plain")
