"""The demo casino in headless Chromium: a lobby on one origin, the game in its frame on another.

Each test plays its own sandbox player, so the tests share one node and one database.
"""

import asyncio
from pathlib import Path
from typing import Final

import pytest

from tests.support.browser import require_browser

require_browser(module_level=True)

from playwright.async_api import BrowserContext, WebSocketRoute, expect  # noqa: E402

from clients.python.room_client import RoomClient  # noqa: E402
from protocol.messages import Spin, SpinResult  # noqa: E402
from roomserver.demo.tokens import sandbox_token  # noqa: E402
from roomserver.node import Node  # noqa: E402
from roomserver.services.sandbox import DEMO_TOURNAMENT  # noqa: E402
from tests.browser.demo_pages import (  # noqa: E402
    balance_of,
    feed_reaches,
    feed_types,
    open_game,
    play_as,
    screenshot,
    spin,
)
from tests.support.demo import demo_urls  # noqa: E402
from tests.support.node import TEST_AUTH, join, ws_url  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ROOM: Final = DEMO_TOURNAMENT.tournament_id
START: Final = DEMO_TOURNAMENT.starting_chips


async def test_the_lobby_embeds_the_game_from_another_origin(
    demo_node: Node, context: BrowserContext
) -> None:
    urls = demo_urls(demo_node)
    problems: list[str] = []
    opened = await open_game(context, urls, "p_demo_1", problems)
    page_origin = await opened.page.evaluate("location.origin")
    game_origin = await opened.frame.evaluate("location.origin")
    assert page_origin == urls.casino_origin
    assert game_origin == urls.game_origin
    assert page_origin != game_origin
    frame_element = opened.page.locator("#game")
    assert await frame_element.get_attribute("sandbox") == "allow-scripts allow-same-origin"
    assert await frame_element.get_attribute("allow") == "autoplay; fullscreen"
    # The token reached the game by postMessage, never in its URL.
    assert await opened.frame.evaluate("location.href") == f"{urls.game_origin}/"
    assert await frame_element.get_attribute("src") == f"{urls.game_origin}/"

    await expect(opened.game.locator("#status")).to_have_attribute("data-status", "running")
    await expect(opened.game.locator("#countdown")).to_have_text("Open-ended")
    await expect(opened.page.locator("#balance")).to_have_attribute("data-balance", str(START))
    assert await balance_of(opened.game) == START
    types = await feed_types(opened.page)
    for expected in ("game.hello", "token.request", "token.response", "game.ready"):
        assert expected in types, types
    assert types.index("token.request") < types.index("token.response") < types.index("game.ready")
    shown = await spin(opened)
    assert shown.balance == START - shown.stake + shown.win
    # Nothing the pages do is refused by their policies, nothing throws.
    assert problems == []


async def test_a_spin_updates_the_game_and_the_lobby(
    demo_node: Node, context: BrowserContext
) -> None:
    opened = await open_game(context, demo_urls(demo_node), "p_demo_2")
    before = await balance_of(opened.game)
    shown = await spin(opened, stake=500)
    assert shown.balance == before - shown.stake + shown.win
    # The lobby hears it through the bridge (round.ended and the forwarded spin.result).
    await expect(opened.page.locator("#balance")).to_have_attribute(
        "data-balance", str(shown.balance)
    )
    await expect(opened.page.locator("#rounds")).to_have_text("1")
    types = await feed_types(opened.page)
    assert {"game.busy", "round.started", "frame: spin.result", "round.ended", "game.idle"} <= set(
        types
    )
    assert await demo_node.ledger.chips_balance(ROOM, "p_demo_2") == shown.balance


async def test_another_players_spin_moves_the_leaderboard(
    demo_node: Node, context: BrowserContext
) -> None:
    opened = await open_game(context, demo_urls(demo_node), "p_demo_3")
    other = "p_demo_7"
    rival = opened.game.locator(f'#leaderboard li[data-player-id="{other}"]')
    await expect(rival).to_have_count(0)
    async with await RoomClient.connect(
        ws_url(demo_node), sandbox_token(TEST_AUTH, other)
    ) as client:
        await join(client, ROOM)
        total = 0
        for attempt in range(100):
            rid = f"spin-{attempt}"
            await client.send(Spin(rid=rid, room=ROOM, stake=1000, idempotency_key=rid))
            result = await client.recv_type(SpinResult, rid=rid)
            total += result.payload.win
            if total > 0:
                break
        assert total > 0
    await expect(rival).to_have_attribute("data-score", str(total))
    await expect(rival.locator(".lb-name")).to_have_text("Demo Player 7")
    # The player's own row stays highlighted; the rival's is not.
    await expect(opened.game.locator("#leaderboard li.is-you")).to_have_attribute(
        "data-player-id", "p_demo_3"
    )
    await expect(rival).not_to_have_class("is-you")


async def test_a_spin_whose_socket_drops_takes_effect_once(
    demo_node: Node, context: BrowserContext
) -> None:
    player = "p_demo_4"
    dropped = asyncio.Event()
    connections = 0

    async def between_game_and_node(page_side: WebSocketRoute) -> None:
        nonlocal connections
        connections += 1
        node_side = page_side.connect_to_server()

        def to_node(message: str | bytes) -> None:
            node_side.send(message)

        async def to_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if '"spin.result"' in text and not dropped.is_set():
                # The spin committed, its result is lost with the connection: the game must
                # send it again with the same key and get the stored result.
                dropped.set()
                await page_side.close(code=1001, reason="dropped by the test")
                await node_side.close()
                return
            page_side.send(message)

        page_side.on_message(to_node)
        node_side.on_message(to_page)

    await context.route_web_socket(
        lambda url: url.startswith(ws_url(demo_node)), between_game_and_node
    )
    opened = await open_game(context, demo_urls(demo_node), player)
    shown = await spin(opened, stake=200)
    assert dropped.is_set()
    assert connections >= 2
    assert shown.balance == START - shown.stake + shown.win

    spins = await demo_node.ledger.pool.fetch(
        "SELECT idempotency_key, stake, win FROM spins WHERE tournament_id = $1 AND player_id = $2",
        ROOM,
        player,
    )
    assert [(row["stake"], row["win"]) for row in spins] == [(shown.stake, shown.win)]
    transactions = await demo_node.ledger.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions "
        "WHERE idempotency_key = ledger_key('spin', $1, $2)",
        player,
        spins[0]["idempotency_key"],
    )
    assert transactions == 1
    assert await demo_node.ledger.chips_balance(ROOM, player) == shown.balance
    await expect(opened.page.locator("#balance")).to_have_attribute(
        "data-balance", str(shown.balance)
    )
    types = await feed_types(opened.page)
    assert types.count("round.ended") == 1
    assert "connection.state" in types


EVIL_ORIGIN: Final = "http://evil.test"
EVIL_PAGE: Final = "<!doctype html><title>Not the casino</title><p>Nothing to see here.</p>"


async def test_messages_from_another_origin_are_ignored(
    demo_node: Node, context: BrowserContext
) -> None:
    urls = demo_urls(demo_node)
    await context.route(
        f"{EVIL_ORIGIN}/**", lambda route: route.fulfill(body=EVIL_PAGE, content_type="text/html")
    )
    evil = await context.new_page()
    await evil.goto(f"{EVIL_ORIGIN}/")
    # The evil page opens the lobby, so it holds a reference to it and to the game's frame.
    async with context.expect_page() as popup:
        await evil.evaluate("url => { window.lobby = window.open(url); }", urls.lobby)
    lobby = await popup.value
    opened = await play_as(lobby, "p_demo_5")
    real_balance = await balance_of(opened.game)

    await evil.evaluate(
        """() => {
          const envelope = (type, fields) => ({ ns: "roomserver", v: 1, type, ...fields });
          const game = window.lobby.frames[0];
          game.postMessage(envelope("game.pause", { reason: "evil" }), "*");
          game.postMessage(envelope("audio.set", { muted: true }), "*");
          game.postMessage(envelope("token.response", { token: "forged" }), "*");
          game.postMessage(envelope("game.close", {}), "*");
          const lobby = window.lobby;
          lobby.postMessage(envelope("round.ended", { room: "demo", win: 1, balance: 1 }), "*");
          const forged = { type: "balance", payload: { balance: 1, currency: "EUR" } };
          lobby.postMessage(envelope("frame", { frame: forged }), "*");
          lobby.postMessage(envelope("token.request", { reason: "initial" }), "*");
        }"""
    )
    # A round trip through the real bridge: by the time it is back, the forged messages (posted
    # first) have been handled, or dropped.
    await lobby.click("#refresh")
    await feed_reaches(lobby, "balance.refresh", "frame: balance")

    await expect(opened.game.locator("#pause-overlay")).to_be_hidden()
    await expect(opened.game.locator("#fatal-overlay")).to_be_hidden()
    await expect(opened.game.locator("#connection")).to_have_attribute("data-state", "open")
    assert await balance_of(lobby) == real_balance
    types = await feed_types(lobby)
    assert "round.ended" not in types
    assert types.count("token.request") == 1
    # The game still plays.
    shown = await spin(opened)
    await expect(lobby.locator("#balance")).to_have_attribute("data-balance", str(shown.balance))

    # The same pause from the casino's own page is obeyed.
    await lobby.click("#pause")
    await expect(opened.game.locator("#pause-overlay")).to_be_visible()
    await expect(opened.game.locator("#spin")).to_be_disabled()
    await lobby.click("#resume")
    await expect(opened.game.locator("#pause-overlay")).to_be_hidden()
    await expect(opened.game.locator("#spin")).to_be_enabled()


async def test_a_self_excluded_player_is_told_play_is_blocked(
    demo_node: Node, context: BrowserContext
) -> None:
    page = await context.new_page()
    await page.goto(demo_urls(demo_node).lobby)
    await page.select_option("#player", "p_blocked_rg")
    await page.click("#play")
    game = page.frame_locator("#game")
    # The node closes the connection with 4003; the client does not reconnect.
    await expect(game.locator("#fatal-title")).to_have_text("Play is blocked")
    await expect(game.locator("#connection")).to_have_attribute("data-state", "closed")
    await expect(game.locator("#spin")).to_be_disabled()
    await expect(page.locator('#feed li[data-type="game.error"]')).to_have_count(1)
    await expect(page.locator("#game-state")).to_have_attribute("data-state", "error")


async def test_the_pages_say_so_when_the_sdk_bundle_is_missing(
    demo_node: Node, context: BrowserContext
) -> None:
    urls = demo_urls(demo_node)
    await context.route("**/sdk/roomserver.iife.js", lambda route: route.fulfill(status=404))
    page = await context.new_page()
    await page.goto(urls.lobby)
    await expect(page.locator("#sdk-missing")).to_be_visible()
    await expect(page.locator("#sdk-missing")).to_contain_text("npm run build")
    await expect(page.locator("#play")).to_be_disabled()
    await page.goto(f"{urls.game}/")
    await expect(page.locator("#sdk-missing")).to_be_visible()


async def test_the_game_refuses_to_start_outside_the_casino(
    demo_node: Node, context: BrowserContext
) -> None:
    page = await context.new_page()
    await page.goto(f"{demo_urls(demo_node).game}/")
    await expect(page.locator("#fatal-overlay")).to_be_visible()
    await expect(page.locator("#fatal-title")).to_have_text("Open the game from the casino")


async def test_screenshots_of_a_win(
    demo_node: Node, context: BrowserContext, artifacts_dir: Path
) -> None:
    """Last in the module, so the leaderboard holds the players of the tests before it."""
    opened = await open_game(context, demo_urls(demo_node), "p_demo_8")
    for _ in range(60):
        shown = await spin(opened, stake=1000)
        if shown.win > 0:
            break
    assert shown.win > 0
    await expect(opened.game.locator("#outcome")).to_contain_text("you win")
    await expect(opened.game.locator("#leaderboard li.is-you")).to_have_attribute(
        "data-player-id", "p_demo_8"
    )
    await opened.page.wait_for_timeout(1500)  # the win's glow settles
    lobby, game = await screenshot(opened, artifacts_dir, "demo-win")
    assert lobby.stat().st_size > 10_000
    assert game.stat().st_size > 10_000
