"""The HTTP listeners' common ground (side API, demo casino): a bound socket, Hypercorn on it."""

import logging
import socket

from hypercorn.config import Config as HypercornConfig

from roomserver.ops.startup import listen_error


def bind_listener(name: str, host: str, port: int, *, port_key: str = "port") -> socket.socket:
    """A non-blocking listening socket on `host`:`port` (0: any free port).

    Raises:
        StartupError: the address cannot be bound; the message names `name`.`port_key`.
    """
    try:
        listener = socket.create_server((host, port))
    except OSError as exc:
        raise listen_error(exc, name, host, port, port_key=port_key) from None
    listener.setblocking(False)
    return listener


def hypercorn_config(
    listener: socket.socket, errorlog: logging.Logger, *, graceful_timeout_s: float
) -> HypercornConfig:
    """Hypercorn's settings to serve on `listener`, which it takes over (and closes)."""
    config = HypercornConfig()
    config.bind = [f"fd://{listener.detach()}"]
    config.accesslog = None
    config.errorlog = errorlog
    config.graceful_timeout = graceful_timeout_s
    config.keep_alive_timeout = 30.0
    return config
