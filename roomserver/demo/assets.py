"""The demo's files: its pages in `clients/demo/`, the browser SDK's bundle in `clients/js/dist/`.

Files are read on every request (they are small), so an edited page shows on reload.
"""

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

# The files ship as package data of `clients` (pyproject.toml), beside its Python modules.
CLIENTS_DIR: Final = Path(str(files("clients")))
PAGES_DIR: Final = CLIENTS_DIR / "demo"
BUNDLE: Final = CLIENTS_DIR / "js" / "dist" / "roomserver.iife.js"

# Text types are sent with `; charset=utf-8` (added by the framework).
CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
# `/assets/<name>`: one file of the pages' directory, never a path (no `/`, no `..`), never a
# page (a page is served only at its origin's `/`).
_ASSET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+")


@dataclass(frozen=True, slots=True)
class Asset:
    """A file with the type it is served as."""

    path: Path
    content_type: str

    def read(self) -> bytes | None:
        """The file's bytes, or None when it does not exist (a bundle not built yet)."""
        try:
            return self.path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None


def page(name: str, directory: Path = PAGES_DIR) -> Asset:
    """The HTML page `name` (`lobby` or `game`)."""
    return Asset(directory / f"{name}.html", CONTENT_TYPES[".html"])


def asset(name: str, directory: Path = PAGES_DIR) -> Asset | None:
    """The file behind `/assets/<name>`, or None for a name that is not a servable file name."""
    if not _ASSET_NAME.fullmatch(name):
        return None
    suffix = Path(name).suffix
    if suffix == ".html" or suffix not in CONTENT_TYPES:
        return None
    return Asset(directory / name, CONTENT_TYPES[suffix])


def bundle(path: Path = BUNDLE) -> Asset:
    """The browser SDK's IIFE bundle (global `RoomServer`)."""
    return Asset(path, CONTENT_TYPES[".js"])
