"""The `roomserver` command: `run` (default), `cluster` and `token`.

`run` starts a node, `cluster` several on this machine, `token` prints a player token.
"""

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from roomserver.config import ENV_OVERRIDES, Config, ConfigError, check_startable, load_config
from roomserver.demo.tokens import sandbox_token
from roomserver.local_cluster import run_cluster
from roomserver.node import Node, running_node
from roomserver.ops.file_limits import raise_open_file_limit
from roomserver.ops.log_redaction import configure_logging
from roomserver.ops.startup import StartupError
from roomserver.ops.version import package_version

log = logging.getLogger("roomserver")

DEFAULT_CONFIG = Path("config.toml")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of `python -m roomserver`.

    Returns:
        The exit status: 0 after a clean stop, 1 when the node cannot start (a port in use, the
        database unreachable), 2 for a bad command line or configuration.
    """
    parser = argparse.ArgumentParser(prog="roomserver", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="config file (default: ./config.toml if present)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="start a node (the default command)")
    run.add_argument("--sandbox", action="store_true", help="seed the demo tournament and players")
    cluster = commands.add_parser(
        "cluster", help="start several nodes sharing Redis on this machine (try many nodes)"
    )
    cluster.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    cluster.add_argument("--sandbox", action="store_true", help="seed the demo tournament")
    cluster.add_argument(
        "--port", type=int, default=8765, help="the load balancer's port (nodes: +6.., +16..)"
    )
    token = commands.add_parser("token", help="print a player token signed with the configured key")
    token.add_argument("--player", required=True, help="player id (the token's sub)")
    token.add_argument("--ttl-s", type=int, default=None, help="lifetime in seconds")
    args = parser.parse_args(argv)

    path = (
        args.config
        if args.config is not None
        else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    )
    try:
        config = load_config(path, sandbox=True if getattr(args, "sandbox", False) else None)
        if args.command == "token":
            return _print_token(config, args.player, args.ttl_s)
        check_startable(config)
        if args.command == "cluster" and not 1 <= args.nodes <= 9:
            raise ConfigError("--nodes must be between 1 and 9")
    except ConfigError as exc:
        print(f"roomserver: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log.level)
    overrides = [variable for variable in ENV_OVERRIDES if variable in os.environ]
    log.info(
        "roomserver %s starting with config %s%s",
        package_version(),
        "built-in defaults" if path is None else path.resolve(),
        f" (environment overrides: {', '.join(overrides)})" if overrides else "",
    )
    token_command = "roomserver token --player p_demo_1"
    if args.config is not None:
        token_command = (
            f"roomserver --config {shlex.quote(str(args.config))} token --player p_demo_1"
        )
    try:
        if args.command == "cluster":
            _run_until_stopped(
                run_cluster(config, path, args.nodes, sandbox=args.sandbox, lb_port=args.port)
            )
        else:
            _run(config, lambda node: _announce(node, token_command))
    except Exception as exc:
        startup_error = _startup_error_in(exc)
        if startup_error is None:
            raise
        print(f"roomserver: {startup_error}", file=sys.stderr)
        return 1
    return 0


def _startup_error_in(exc: BaseException) -> StartupError | None:
    """The StartupError behind `exc`, which a task group may have wrapped, if there is one."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_error_in(inner)
            if found is not None:
                return found
    return None


def _announce(node: Node, token_command: str) -> None:
    """In sandbox mode, tell the user how to get in."""
    if not node.config.sandbox.enabled:
        return
    server = node.config.server
    host = "localhost" if server.host in ("0.0.0.0", "::", "") else server.host
    log.info(
        "sandbox mode: get a player token with `%s` (players p_demo_1 to p_demo_10), "
        "then connect to ws://%s:%d%s with it (query parameter `token`, or the Authorization "
        "header)",
        token_command,
        host,
        node.hub.port,
        server.path,
    )
    if node.demo is not None:
        log.info("demo casino: open %s in a browser and pick a player", node.demo.lobby_url)


def _print_token(config: Config, player_id: str, ttl_s: int | None) -> int:
    if ttl_s is not None and ttl_s <= 0:
        print("roomserver: --ttl-s must be positive", file=sys.stderr)
        return 2
    print(sandbox_token(config.auth, player_id, ttl_s=ttl_s))
    return 0


def _run(config: Config, on_ready: Callable[[Node], None]) -> None:
    raise_open_file_limit()
    _run_until_stopped(_serve(config, on_ready))


def _run_until_stopped(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(config: Config, on_ready: Callable[[Node], None]) -> None:
    stop = asyncio.Event()
    started = False
    main_task = asyncio.current_task()
    assert main_task is not None

    def signalled() -> None:
        # Before the node is up (waiting for its database, say) there is nothing to drain.
        if started:
            stop.set()
        else:
            main_task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled)
    try:
        async with running_node(config) as node:
            started = True
            on_ready(node)
            await stop.wait()
            log.info("shutting down: draining connections")
    except asyncio.CancelledError:
        if started:
            raise
        main_task.uncancel()
        log.info("stopped before the node was ready")
        return
    log.info("stopped")
