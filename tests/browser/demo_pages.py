"""Driving the demo's pages: open the lobby as a player, spin in the game, read what they show."""

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import BrowserContext, Frame, FrameLocator, Page, expect

from tests.support.demo import DemoUrls


@dataclass(frozen=True, slots=True)
class OpenGame:
    """The lobby page and the game inside it."""

    page: Page
    game: FrameLocator  # for locators and expectations
    frame: Frame  # for script in the game's origin


@dataclass(frozen=True, slots=True)
class SpinShown:
    """A spin as the game page shows it."""

    stake: int
    win: int
    balance: int


async def open_game(
    context: BrowserContext, urls: DemoUrls, player_id: str, problems: list[str] | None = None
) -> OpenGame:
    """Open the lobby, pick `player_id`, press Play and wait until the game may spin.

    Script errors and console errors of both pages (a refused Content-Security-Policy is one)
    are appended to `problems` when given.
    """
    page = await context.new_page()
    if problems is not None:
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
    await page.goto(urls.lobby)
    return await play_as(page, player_id)


async def play_as(page: Page, player_id: str) -> OpenGame:
    """In an open lobby, pick `player_id`, press Play and wait until the game may spin."""
    await page.select_option("#player", player_id)
    await page.click("#play")
    game = page.frame_locator("#game")
    await expect(game.locator("#connection")).to_have_attribute("data-state", "open")
    await expect(game.locator("#spin")).to_be_enabled()
    element = await page.wait_for_selector("#game")
    assert element is not None
    frame = await element.content_frame()
    assert frame is not None
    return OpenGame(page, game, frame)


async def balance_of(game: FrameLocator | Page) -> int:
    """The balance a page shows, in minor units."""
    value = await game.locator("#balance").get_attribute("data-balance")
    assert value, "no balance shown yet"
    return int(value)


async def spin(opened: OpenGame, stake: int = 100) -> SpinShown:
    """Choose `stake`, press Spin, and wait for the result on the reels."""
    game = opened.game
    await game.locator(f'#stakes [data-stake="{stake}"]').click()
    await opened.frame.evaluate("document.getElementById('outcome').dataset.win = ''")
    await game.locator("#spin").click()
    await expect(game.locator("#outcome")).not_to_have_attribute("data-win", "")
    await expect(game.locator("#spin")).to_be_enabled()
    win = await game.locator("#outcome").get_attribute("data-win")
    assert win is not None
    return SpinShown(stake=stake, win=int(win), balance=await balance_of(game))


async def feed_types(page: Page) -> list[str]:
    """The types of the bridge messages the lobby's feed lists, oldest first."""
    types = await page.locator("#feed li").evaluate_all("items => items.map(i => i.dataset.type)")
    return list(reversed(types))


async def feed_reaches(page: Page, after: str, then: str) -> None:
    """Wait until the lobby's feed lists a `then` message after its last `after` message."""
    await page.wait_for_function(
        """([after, then]) => {
          const types = [...document.querySelectorAll("#feed li")].map((i) => i.dataset.type);
          types.reverse();
          const at = types.lastIndexOf(after);
          return at >= 0 && types.slice(at + 1).includes(then);
        }""",
        arg=[after, then],
    )


async def screenshot(opened: OpenGame, directory: Path, name: str) -> tuple[Path, Path]:
    """Save the lobby (whole page) and the game (its frame) as `<name>-lobby.png` / `-game.png`."""
    lobby = directory / f"{name}-lobby.png"
    game = directory / f"{name}-game.png"
    await opened.page.screenshot(path=lobby, full_page=True)
    await opened.page.locator("#game").screenshot(path=game)
    return lobby, game
