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
from hypercorn.config import Config as HypercornConfig
from litestar import Litestar

from roomserver.config import Config, DemoConfig
from roomserver.demo.site import DemoSite, casino_app, game_app
from roomserver.ops.startup import listen_error

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
        self._casino = _bind(config.host, config.casino_port, "casino_port")
        try:
            self._game = _bind(config.host, config.game_port, "game_port")
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
        casino, game = self._casino.detach(), self._game.detach()
        log.info("demo casino on %s, its game on %s", site.lobby_url, site.game_origin)
        if not site.bundle_path.is_file():
            log.warning(
                "the demo pages need the browser SDK, %s, which is not built: run `npm ci && "
                "npm run build` in clients/js",
                site.bundle_path,
            )
        try:
            await asyncio.gather(
                self._serve(casino_app(site), casino), self._serve(game_app(site), game)
            )
        finally:
            self._stop.set()

    async def _serve(self, app: Litestar, fd: int) -> None:
        config = HypercornConfig()
        # Hypercorn takes the descriptor over (and closes it).
        config.bind = [f"fd://{fd}"]
        config.accesslog = None
        config.errorlog = log
        config.graceful_timeout = 2.0
        config.keep_alive_timeout = 30.0
        await serve(app, config, shutdown_trigger=self._stop.wait, mode="asgi")  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop serving; requests in flight finish."""
        self._stop.set()

    def close(self) -> None:
        """Close listeners that were never served (the node failed to start after binding)."""
        self._casino.close()
        self._game.close()


def _bind(host: str, port: int, port_key: str) -> socket.socket:
    try:
        listener = socket.create_server((host, port))
    except OSError as exc:
        raise listen_error(exc, "demo", host, port, port_key=port_key) from None
    listener.setblocking(False)
    return listener


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
