"""Whether the browser tests can run here: the `playwright` package and the system's Chromium.

Chromium is the distribution's (`/usr/bin/chromium`), or the executable named by
`ROOMSERVER_TEST_CHROMIUM`; never a browser downloaded by `playwright install`. Where one is
missing the tests skip, saying what to install; with `CI=true` they fail instead.
"""

import importlib
import os
import shutil
from typing import Final

import pytest

CHROMIUM_ENV: Final = "ROOMSERVER_TEST_CHROMIUM"
CHROMIUM_CANDIDATES: Final = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_PLAYWRIGHT: Final = (
    "the playwright package is not installed: pip install -e '.[dev]' "
    "(never `playwright install`: the tests drive the system's Chromium)"
)


def chromium_path() -> str | None:
    """The Chromium to drive: `ROOMSERVER_TEST_CHROMIUM`, else the distribution's."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def missing_browser() -> str | None:
    """What is missing to run the browser tests, or None."""
    try:
        importlib.import_module("playwright.async_api")
    except ImportError:
        return INSTALL_PLAYWRIGHT
    if chromium_path() is None:
        return (
            f"no Chromium: apt-get install chromium (Debian), or set {CHROMIUM_ENV} to a "
            "Chromium executable"
        )
    return None


def require_browser(*, module_level: bool = False) -> None:
    """Skip (with CI=true: fail) when the browser tests cannot run here."""
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(
        f"browser tests need Chromium and Playwright: {reason}", allow_module_level=module_level
    )
