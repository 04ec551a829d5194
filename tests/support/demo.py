"""The demo casino in tests: a sandbox node serving it on free ports, and its two origins."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from roomserver.config import (
    ApiConfig,
    Config,
    DemoConfig,
    EventsConfig,
    LifecycleConfig,
    PostgresConfig,
    RgConfig,
    RoomsConfig,
    SandboxConfig,
    ServerConfig,
)
from roomserver.node import Node, running_node
from tests.support.node import TEST_AUTH


def with_demo(config: Config, *, casino_host: str = "localhost") -> Config:
    """`config` in sandbox mode with the demo on free ports of 127.0.0.1."""
    return msgspec.structs.replace(
        config,
        sandbox=SandboxConfig(enabled=True),
        demo=DemoConfig(
            enabled=True,
            host="127.0.0.1",
            casino_host=casino_host,
            casino_port=0,
            game_host="127.0.0.1",
            game_port=0,
        ),
    )


@dataclass(frozen=True, slots=True)
class DemoUrls:
    """Where a node serves the demo: each origin by name, and by address for HTTP clients."""

    casino_origin: str
    game_origin: str
    casino: str  # http://127.0.0.1:<casino port>
    game: str  # http://127.0.0.1:<game port>

    @property
    def lobby(self) -> str:
        """The lobby as a player opens it."""
        return f"{self.casino_origin}/"


def demo_urls(node: Node) -> DemoUrls:
    """The demo's origins of a running node (which must serve the demo)."""
    assert node.demo is not None, "the node does not serve the demo"
    casino_origin, game_origin = node.demo.casino_origin, node.demo.game_origin
    return DemoUrls(
        casino_origin=casino_origin,
        game_origin=game_origin,
        casino=f"http://127.0.0.1:{urlsplit(casino_origin).port}",
        game=f"http://127.0.0.1:{urlsplit(game_origin).port}",
    )


def demo_node_config(database_dsn: str, events_file: Path, **rg: float) -> Config:
    """A sandbox node on free loopback ports serving the demo, on the test database."""
    config = Config(
        server=ServerConfig(host="127.0.0.1", port=0, close_timeout_s=2.0),
        postgres=PostgresConfig(dsn=database_dsn, pool_min_size=1, pool_max_size=8),
        auth=TEST_AUTH,
        api=ApiConfig(port=0),
        rooms=RoomsConfig(leaderboard_hz=10.0),
        lifecycle=LifecycleConfig(tick_s=0.1),
        events=EventsConfig(file=str(events_file), poll_interval_s=0.05),
        rg=RgConfig(reality_check_interval_s=rg.get("reality_check_interval_s", 0.0)),
    )
    return with_demo(config)


@contextlib.asynccontextmanager
async def demo_node_running(config: Config) -> AsyncIterator[Node]:
    """Run a node and audit its books when it stops."""
    async with running_node(config) as node:
        yield node
        problems = await node.ledger.audit()
    assert problems == []
