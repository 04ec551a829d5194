"""Browser fixtures: the system's Chromium driven by Playwright, a sandbox node with the demo.

Chromium is the distribution's (`/usr/bin/chromium`, or the path in
`ROOMSERVER_TEST_CHROMIUM`), never a browser downloaded by `playwright install`. Without it, or
without the `playwright` package, the browser tests are skipped with what to install; with
`CI=true` they fail instead. Screenshots go to `ROOMSERVER_TEST_ARTIFACTS`, by default
`test-artifacts/browser/` in the checkout (git-ignored).
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from roomserver.node import Node
from tests.support.browser import chromium_path, require_browser
from tests.support.demo import demo_node_config, demo_node_running

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

ARTIFACTS_ENV: Final = "ROOMSERVER_TEST_ARTIFACTS"
CHECKOUT: Final = Path(__file__).resolve().parents[2]
# Every Playwright wait of these tests (a spin, a leaderboard push, a reconnect).
WAIT_MS: Final = 15_000


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots are saved."""
    directory = Path(os.environ.get(ARTIFACTS_ENV) or CHECKOUT / "test-artifacts" / "browser")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator["Browser"]:
    """Headless Chromium, for the whole session."""
    require_browser()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # Root in a container: no user namespace sandbox, a small /dev/shm.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: "Browser") -> AsyncIterator["BrowserContext"]:
    """A fresh browser profile for one test."""
    fresh = await browser.new_context(viewport={"width": 1440, "height": 960})
    fresh.set_default_timeout(WAIT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


@pytest.fixture(scope="module")
async def demo_node(
    database_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Node]:
    """One node serving the demo for a module's tests (each test plays its own player)."""
    require_browser()
    events = tmp_path_factory.mktemp("events") / "events.jsonl"
    async with demo_node_running(demo_node_config(database_dsn, events)) as node:
        yield node
