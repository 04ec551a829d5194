"""Tests for loading and validating the node configuration."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from roomserver.config import (
    SANDBOX_JWT_SECRET,
    AuthConfig,
    Config,
    ConfigError,
    JwtKey,
    check_startable,
    load_config,
)

REPO_CONFIG = Path(__file__).parents[2] / "config.toml"
SECRET = "a-test-secret-that-is-long-enough-0123456789"
AUTH = f'[auth]\njwt_secret = "{SECRET}"\n'


def write(tmp_path: Path, text: str) -> Path:
    """A config file holding `text`."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    """Load `text` with an empty (or the given) environment."""
    return load_config(write(tmp_path, text), environ={} if environ is None else environ)


def config_error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    """The message of the ConfigError that loading `text` must raise."""
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text, environ)
    return str(caught.value)


def test_defaults_with_only_a_secret(tmp_path: Path) -> None:
    config = load_text(tmp_path, AUTH)
    assert config.auth.jwt_secret == SECRET
    # Everything else is the Struct defaults.
    assert msgspec.structs.replace(config, auth=AuthConfig()) == Config()
    assert config.server.port == 8765
    assert config.server.path == "/ws"
    assert config.auth.token_ttl_s == 7200
    assert config.sandbox.enabled is False


def test_no_file_and_no_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"auth\.jwt_secret"):
        load_config(None, environ={})


def test_no_file_with_secret_from_environment() -> None:
    config = load_config(None, environ={"ROOMSERVER_JWT_SECRET": SECRET})
    assert config.auth.jwt_secret == SECRET
    assert config.server == Config().server


def test_repo_config_loads() -> None:
    config = load_config(REPO_CONFIG, environ={})
    assert config.server.port == 8765
    assert "http://localhost:3000" in config.server.allowed_origins
    assert config.auth.issuer == "casino-system"
    assert config.auth.audience == "roomserver"
    assert config.auth.jwt_secret == SANDBOX_JWT_SECRET
    assert config.sandbox.enabled is False


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    assert "not valid TOML" in config_error(tmp_path, "[server\nport = 1\n")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[bogus]\nx = 1\n", "bogus"),
        ("bogus = 1\n", "bogus"),
        ("[server]\nbogus = 1\n", "server.bogus"),
        ("[rooms]\nleaderboard_hzz = 4.0\n", "rooms.leaderboard_hzz"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nport = -1\n", "server.port"),
        ("[rooms]\nleaderboard_hz = 0\n", "rooms.leaderboard_hz"),
        ("[server]\nmax_message_bytes = -1\n", "server.max_message_bytes"),
        ("[rate_limit]\nburst = 0\n", "rate_limit.burst"),
        ('[server]\nport = "8765"\n', "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ('[server]\nallowed_origins = "http://x"\n', "server.allowed_origins"),
        ('[sandbox]\nenabled = "yes"\n', "sandbox.enabled"),
        ('[log]\nlevel = "TRACE"\n', "log.level"),
        ("server = 5\n", "server"),
        ('[server]\npath = "ws"\n', "server.path"),
        ("[postgres]\npool_min_size = 9\npool_max_size = 2\n", "postgres.pool_min_size"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(tmp_path, text + AUTH)
    assert message.startswith(f"config key {key}:"), message


def test_auth_algorithm_other_than_hs256_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, AUTH + 'algorithm = "none"\n')
    assert message.startswith("config key auth.algorithm:")


def test_short_hs256_secret_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[auth]\njwt_secret = "only-31-bytes-long-secret-12345"\n')
    assert "auth.jwt_secret" in message
    assert "32 bytes" in message
    # Exactly 32 bytes is enough.
    assert load_text(tmp_path, f'[auth]\njwt_secret = "{"x" * 32}"\n').auth.jwt_secret == "x" * 32


def test_short_secret_from_environment_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, AUTH, {"ROOMSERVER_JWT_SECRET": "short"})
    assert "auth.jwt_secret" in message


def test_short_secret_of_a_keyed_hs256_key_is_refused(tmp_path: Path) -> None:
    text = '[[auth.keys]]\nkid = "k1"\nalgorithm = "HS256"\nsecret = "short"\n'
    assert "auth.keys[k1].secret" in config_error(tmp_path, text)


def test_asymmetric_key_without_pem_is_refused(tmp_path: Path) -> None:
    text = '[[auth.keys]]\nkid = "k1"\nalgorithm = "RS256"\n'
    assert "auth.keys[k1].public_key_pem" in config_error(tmp_path, text)


def test_keys_alone_are_enough(tmp_path: Path) -> None:
    text = f'[[auth.keys]]\nkid = "k1"\nalgorithm = "HS256"\nsecret = "{SECRET}"\n'
    config = load_text(tmp_path, text)
    assert config.auth.keys == (JwtKey(kid="k1", algorithm="HS256", secret=SECRET),)


def test_environment_overrides_secrets_and_urls(tmp_path: Path) -> None:
    environ = {
        "ROOMSERVER_POSTGRES_DSN": "postgresql://u:p@db:5432/rooms",
        "ROOMSERVER_REDIS_URL": "redis://cache:6379/0",
        "ROOMSERVER_JWT_SECRET": "z" * 40,
        "ROOMSERVER_PUBLIC_URL": "wss://rooms.example/ws",
    }
    text = AUTH + '[postgres]\ndsn = "postgresql://file"\n[redis]\nurl = "redis://file"\n'
    config = load_text(tmp_path, text, environ)
    assert config.postgres.dsn == "postgresql://u:p@db:5432/rooms"
    assert config.redis.url == "redis://cache:6379/0"
    assert config.auth.jwt_secret == "z" * 40
    assert config.server.public_url == "wss://rooms.example/ws"


def test_other_roomserver_variables_are_not_config(tmp_path: Path) -> None:
    """Only secrets and URLs come from the environment; tuning stays in the reviewed file."""
    environ = {
        "ROOMSERVER_SERVER_PORT": "1",
        "ROOMSERVER_PORT": "1",
        "ROOMSERVER_SANDBOX_ENABLED": "true",
        "ROOMSERVER_LOG_LEVEL": "DEBUG",
    }
    config = load_text(tmp_path, AUTH, environ)
    assert config.server.port == 8765
    assert config.sandbox.enabled is False
    assert config.log.level == "INFO"


def test_environment_is_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMSERVER_REDIS_URL", "redis://from-os:6379")
    config = load_config(write(tmp_path, AUTH))
    assert config.redis.url == "redis://from-os:6379"


def test_check_startable_refuses_the_sandbox_secret() -> None:
    config = load_config(REPO_CONFIG, environ={})
    with pytest.raises(ConfigError, match=r"auth\.jwt_secret"):
        check_startable(config)


def test_check_startable_allows_the_sandbox_secret_in_sandbox_mode() -> None:
    config = load_config(REPO_CONFIG, environ={}, sandbox=True)
    assert config.sandbox.enabled is True
    check_startable(config)


def test_check_startable_allows_an_overridden_secret() -> None:
    config = load_config(REPO_CONFIG, environ={"ROOMSERVER_JWT_SECRET": SECRET})
    check_startable(config)


@pytest.mark.parametrize(("flag", "enabled"), [(True, True), (False, False), (None, True)])
def test_sandbox_argument_overrides_the_file(
    tmp_path: Path, flag: bool | None, enabled: bool
) -> None:
    path = write(tmp_path, AUTH + "[sandbox]\nenabled = true\n")
    assert load_config(path, environ={}, sandbox=flag).sandbox.enabled is enabled


def test_sandbox_argument_turns_sandbox_on(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, AUTH), environ={}, sandbox=True)
    assert config.sandbox.enabled is True


def test_config_structs_are_frozen(tmp_path: Path) -> None:
    config = load_text(tmp_path, AUTH)
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.auth = AuthConfig()  # type: ignore[misc]
    assert config.server.port == 8765


def test_lists_become_tuples(tmp_path: Path) -> None:
    """A frozen config must not hold a mutable list."""
    config = load_text(tmp_path, AUTH + '[server]\nallowed_origins = ["http://a"]\n')
    assert type(config.server.allowed_origins) is tuple
    assert config.server.allowed_origins == ("http://a",)


def test_non_table_sandbox_with_sandbox_flag_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sandbox"):
        load_config(write(tmp_path, "sandbox = 5\n" + AUTH), environ={}, sandbox=True)


def test_side_api_bind_address_from_environment() -> None:
    # A container publishes the side API only when told to bind it beyond loopback.
    environ = {"ROOMSERVER_JWT_SECRET": SECRET, "ROOMSERVER_API_HOST": "0.0.0.0"}
    assert load_config(None, environ=environ).api.host == "0.0.0.0"
    assert load_config(None, environ={"ROOMSERVER_JWT_SECRET": SECRET}).api.host == "127.0.0.1"


def test_database_startup_retry_defaults_and_bounds(tmp_path: Path) -> None:
    config = load_text(tmp_path, AUTH)
    assert config.postgres.startup_retry_s == 30.0
    assert config.postgres.connect_timeout_s == 10.0
    assert load_text(tmp_path, "[postgres]\nstartup_retry_s = 0\n" + AUTH).postgres == (
        msgspec.structs.replace(config.postgres, startup_retry_s=0.0)
    )
    assert "postgres.startup_retry_s" in config_error(
        tmp_path, "[postgres]\nstartup_retry_s = -1\n" + AUTH
    )
    assert "postgres.connect_timeout_s" in config_error(
        tmp_path, "[postgres]\nconnect_timeout_s = 0\n" + AUTH
    )
