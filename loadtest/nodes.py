"""The nodes a run speaks to (`--url`, several times or comma-separated).

Also the one the failover scenario kills: where it is, and that the process given really is it.
"""

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from loadtest.server_stats import listens_on


def split_urls(values: Iterable[str]) -> list[str]:
    """Every URL of `--url` options, each of which may hold several separated by commas."""
    return [url.strip() for value in values for url in value.split(",") if url.strip()]


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_of(url: str) -> int:
    """The URL's port (the scheme's default when it names none)."""
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme in ("wss", "https") else 80


def check_kill_target(pid: int, url: str) -> None:
    """Fail unless process `pid` is what serves `url`: it listens on the URL's port.

    Raises:
        ValueError: it does not (or cannot be inspected).
    """
    port = port_of(url)
    if not listens_on(pid, port):
        raise ValueError(
            f"--kill-pid {pid} is not the node of --kill-url {url}: it does not listen on "
            f"port {port}"
        )
