"""The `roomserver` command: `run` (default) starts a node, `token` prints a player token."""

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from roomserver.config import Config, ConfigError, check_startable, load_config
from roomserver.log_redaction import configure_logging
from roomserver.node import running_node
from roomserver.sandbox import sandbox_player
from roomserver.tokens import issue_token

log = logging.getLogger("roomserver")

DEFAULT_CONFIG = Path("config.toml")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of `python -m roomserver`."""
    parser = argparse.ArgumentParser(prog="roomserver", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="config file (default: ./config.toml if present)"
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="start a node (the default command)")
    run.add_argument("--sandbox", action="store_true", help="seed the demo tournament and players")
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
    except ConfigError as exc:
        print(f"roomserver: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log.level)
    _run(config)
    return 0


def _print_token(config: Config, player_id: str, ttl_s: int | None) -> int:
    if ttl_s is not None and ttl_s <= 0:
        print("roomserver: --ttl-s must be positive", file=sys.stderr)
        return 2
    player = sandbox_player(player_id)
    print(
        issue_token(
            config.auth,
            player_id=player.player_id,
            name=player.name,
            currency=player.currency,
            self_excluded=player.self_excluded,
            ttl_s=ttl_s,
        )
    )
    return 0


def _run(config: Config) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(_serve(config))
    else:
        uvloop.run(_serve(config))


async def _serve(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_node(config):
        await stop.wait()
        log.info("shutting down: draining connections")
    log.info("stopped")
