"""The demo's listeners: the casino's origin and the game's, each on a port of its own.

Both are bound as the node starts, before its hub, so that the game's origin (its port may be
chosen by the system) is known when the hub's allowed origins are set. Hypercorn serves the two
applications on the node's loop until `stop`.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

from hypercorn.asyncio import serve
from litestar import Litestar

from roomserver.config import Config, DemoConfig
from roomserver.demo.site import DemoSite, casino_app, game_app
from roomserver.ops.http_listener import bind_listener, hypercorn_config

log = logging.getLogger(__name__)


class DemoServer:
    """The two listeners, bound on creation (read the origins, then `run`).

    Raises:
        StartupError: a port cannot be bound; the message names `demo.casino_port` or
            `demo.game_port`.
    """

    def __init__(self, config: DemoConfig) -> None:
        """Bind `config.host` on the casino's and the game's ports."""
        self._config = config
        self._casino = bind_listener(
            "demo", config.host, config.casino_port, port_key="casino_port"
        )
        try:
            self._game = bind_listener("demo", config.host, config.game_port, port_key="game_port")
        except BaseException:
            self._casino.close()
            raise
        self.casino_port: int = self._casino.getsockname()[1]
        self.game_port: int = self._game.getsockname()[1]
        self._stop = asyncio.Event()

    @property
    def casino_origin(self) -> str:
        """The lobby's origin, as a browser names it."""
        return f"http://{self._config.casino_host}:{self.casino_port}"

    @property
    def game_origin(self) -> str:
        """The game page's origin, as a browser names it (the hub must allow it)."""
        return f"http://{self._config.game_host}:{self.game_port}"

    async def run(self, site: DemoSite) -> None:
        """Serve the casino's and the game's applications until `stop`."""
        log.info("demo casino on %s, its game on %s", site.lobby_url, site.game_origin)
        if not site.bundle_path.is_file():
            log.warning(
                "the demo pages need the browser SDK, %s, which is not built: run `npm ci && "
                "npm run build` in clients/js",
                site.bundle_path,
            )
        try:
            await asyncio.gather(
                self._serve(casino_app(site), self._casino), self._serve(game_app(site), self._game)
            )
        finally:
            self._stop.set()

    async def _serve(self, app: Litestar, listener: socket.socket) -> None:
        config = hypercorn_config(listener, log, graceful_timeout_s=2.0)
        await serve(app, config, shutdown_trigger=self._stop.wait, mode="asgi")  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop serving; requests in flight finish."""
        self._stop.set()

    def close(self) -> None:
        """Close listeners that were never served (the node failed to start after binding)."""
        self._casino.close()
        self._game.close()


@contextlib.asynccontextmanager
async def demo_listeners(config: Config) -> AsyncIterator[DemoServer | None]:
    """The demo's bound listeners in sandbox mode with `demo.enabled`, else None.

    Leaving the block closes listeners that were never served.
    """
    if not (config.sandbox.enabled and config.demo.enabled):
        yield None
        return
    server = DemoServer(config.demo)
    try:
        yield server
    finally:
        server.close()


def node_ws_url(config: Config, port: int) -> str:
    """The node's WebSocket URL as the game page reaches it: `server.public_url` when set."""
    if config.server.public_url:
        return config.server.public_url
    host = config.server.host
    if host in ("", "0.0.0.0", "::"):
        host = config.demo.game_host
    elif ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}{config.server.path}"
