"""The `[demo]` section: its defaults, the repository's values, and what it refuses."""

import re
from pathlib import Path

import pytest

from roomserver.config import Config, ConfigError, DemoConfig, load_config
from roomserver.local_cluster import node_config, node_ports

REPO_CONFIG = Path(__file__).parents[2] / "config.toml"
AUTH = '[auth]\njwt_secret = "a-test-secret-that-is-long-enough-0123456789"\n'


def load_text(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(AUTH + text, encoding="utf-8")
    return load_config(path, environ={})


def test_off_by_default_and_on_in_the_repository_config() -> None:
    assert Config().demo == DemoConfig(enabled=False)
    demo = load_config(REPO_CONFIG, environ={}).demo
    assert demo.enabled is True
    assert (demo.host, demo.casino_host, demo.casino_port) == ("127.0.0.1", "localhost", 8090)
    assert (demo.game_host, demo.game_port) == ("127.0.0.1", 8091)


def test_ports_and_host_names_are_configurable(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[demo]\nenabled = true\ncasino_host = "casino.localhost"\ncasino_port = 9090\n'
        'game_host = "games.localhost"\ngame_port = 0\n',
    )
    assert (config.demo.casino_host, config.demo.casino_port) == ("casino.localhost", 9090)
    assert (config.demo.game_host, config.demo.game_port) == ("games.localhost", 0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            '[demo]\nenabled = true\ncasino_host = "x"\ngame_host = "x"\ngame_port = 8090\n',
            "demo.game_port",
        ),
        ('[demo]\nenabled = true\ncasino_host = "http://localhost"\n', "demo.casino_host"),
        ('[demo]\nenabled = true\ngame_host = "127.0.0.1:8091"\n', "demo.game_host"),
        ("[demo]\ngame_port = 70000\n", "demo.game_port"),
        ("[demo]\nport = 1\n", "demo.port"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"config key {re.escape(key)}"):
        load_text(tmp_path, text)


def test_one_origin_for_both_is_allowed_when_the_demo_is_off(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[demo]\ncasino_host = "x"\ngame_host = "x"\ngame_port = 8090\n')
    assert config.demo.enabled is False


def test_cluster_nodes_never_serve_the_demo() -> None:
    base = {"demo": {"enabled": True, "casino_port": 9000}}
    raw = node_config(base, node_ports(2, 8765)[0], "redis://r:1/0", "postgresql://db/x")
    assert raw["demo"] == {"enabled": False, "casino_port": 9000}
    assert base["demo"]["enabled"] is True  # the user's dict untouched
