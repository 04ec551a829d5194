"""The installed package's version, as `--version`, `/health` and server-info report it."""

import importlib.metadata


def package_version() -> str:
    """The installed package's version, or `0+unknown` when it is run without being installed."""
    try:
        return importlib.metadata.version("roomserver")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
