"""Reality checks in the demo: the game stops spinning until the player acknowledges one."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.browser import require_browser

require_browser(module_level=True)

from playwright.async_api import BrowserContext, expect  # noqa: E402

from roomserver.node import Node  # noqa: E402
from tests.browser.demo_pages import open_game, screenshot  # noqa: E402
from tests.support.demo import demo_node_config, demo_node_running, demo_urls  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
async def checking_node(database_dsn: str, tmp_path: Path) -> AsyncIterator[Node]:
    """A demo node sending a reality check to each connection every 3 s."""
    config = demo_node_config(database_dsn, tmp_path / "events.jsonl", reality_check_interval_s=3.0)
    async with demo_node_running(config) as node:
        yield node


async def test_a_reality_check_pauses_play_until_acknowledged(
    checking_node: Node, context: BrowserContext, artifacts_dir: Path
) -> None:
    opened = await open_game(context, demo_urls(checking_node), "p_demo_6")
    game, lobby = opened.game, opened.page
    await expect(game.locator("#rg-overlay")).to_be_visible()
    await expect(game.locator("#rg-text")).to_contain_text("Net result this session")
    await expect(game.locator("#spin")).to_be_disabled()
    # The casino hears of it too (the frame is forwarded) and may acknowledge it for the player.
    await expect(lobby.locator("#rg-box")).to_be_visible()
    await screenshot(opened, artifacts_dir, "demo-reality-check")
    await lobby.click("#rg-ack")
    await expect(game.locator("#rg-overlay")).to_be_hidden()
    await expect(game.locator("#spin")).to_be_enabled()
    # The next one, acknowledged in the game.
    await expect(game.locator("#rg-overlay")).to_be_visible()
    await game.locator("#rg-continue").click()
    await expect(game.locator("#rg-overlay")).to_be_hidden()
