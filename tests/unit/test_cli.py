"""Tests for the `roomserver` command line: refusing bad config, and printing tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest

from roomserver import cli
from roomserver.config import Config, load_config

REPO_ROOT = Path(__file__).parents[2]
REPO_CONFIG = REPO_ROOT / "config.toml"


@pytest.fixture(autouse=True)
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may start a node, and the developer's environment must not leak in."""

    def refuse(config: Config) -> None:
        pytest.fail("the CLI tried to start a node")

    monkeypatch.setattr(cli, "_run", refuse)
    for variable in list(os.environ):
        if variable.startswith("ROOMSERVER_"):
            monkeypatch.delenv(variable)


@pytest.fixture(scope="module")
def repo_config() -> Config:
    return load_config(REPO_CONFIG, environ={})


def claims_of(token: str, config: Config) -> dict[str, Any]:
    """The token's claims, verified with the repo config's secret, issuer and audience."""
    claims: dict[str, Any] = jwt.decode(
        token,
        config.auth.jwt_secret,
        algorithms=["HS256"],
        issuer=config.auth.issuer,
        audience=config.auth.audience,
    )
    return claims


def printed_token(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the token command and return the one line it printed."""
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    return lines[0]


def test_unknown_key_is_reported_and_nothing_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[server]\nportt = 1\n[auth]\njwt_secret = "0123456789abcdef0123456789abcdef"\n',
        encoding="utf-8",
    )
    assert cli.main(["--config", str(path), "run"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "server.portt" in err
    assert err.startswith("roomserver: ")


def test_sandbox_secret_without_sandbox_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(REPO_CONFIG), "run"]) == 2
    _, err = capsys.readouterr()
    assert "auth.jwt_secret" in err
    assert "--sandbox" in err


def test_missing_config_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(tmp_path / "absent.toml"), "run"]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_token_for_a_self_excluded_player(
    capsys: pytest.CaptureFixture[str], repo_config: Config
) -> None:
    token = printed_token(
        capsys, ["--config", str(REPO_CONFIG), "token", "--player", "p_blocked_rg"]
    )
    claims = claims_of(token, repo_config)
    assert claims["sub"] == "p_blocked_rg"
    assert claims["name"] == "Blocked Player"
    assert claims["rg"]["self_excluded"] is True
    assert claims["currency"] == "EUR"
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["iss"] == "casino-system"
    assert claims["aud"] == "roomserver"
    assert isinstance(claims["jti"], str)
    assert claims["jti"]


def test_token_carries_the_players_currency(
    capsys: pytest.CaptureFixture[str], repo_config: Config
) -> None:
    token = printed_token(capsys, ["--config", str(REPO_CONFIG), "token", "--player", "p_demo_2"])
    claims = claims_of(token, repo_config)
    assert claims["sub"] == "p_demo_2"
    assert claims["currency"] == "USD"
    assert claims["rg"]["self_excluded"] is False


def test_tokens_get_distinct_ids(capsys: pytest.CaptureFixture[str], repo_config: Config) -> None:
    argv = ["--config", str(REPO_CONFIG), "token", "--player", "p_demo_1"]
    first = claims_of(printed_token(capsys, argv), repo_config)
    second = claims_of(printed_token(capsys, argv), repo_config)
    assert first["jti"] != second["jti"]


def test_token_ttl(capsys: pytest.CaptureFixture[str], repo_config: Config) -> None:
    token = printed_token(
        capsys, ["--config", str(REPO_CONFIG), "token", "--player", "p_demo_1", "--ttl-s", "60"]
    )
    claims = claims_of(token, repo_config)
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_non_positive_ttl_is_refused(capsys: pytest.CaptureFixture[str], ttl: str) -> None:
    argv = ["--config", str(REPO_CONFIG), "token", "--player", "p_demo_1", "--ttl-s", ttl]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--ttl-s" in err


def test_token_is_signed_with_the_environment_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "an-overriding-secret-of-enough-bytes-0123"
    monkeypatch.setenv("ROOMSERVER_JWT_SECRET", secret)
    token = printed_token(capsys, ["--config", str(REPO_CONFIG), "token", "--player", "p_demo_1"])
    overridden = load_config(REPO_CONFIG, environ={"ROOMSERVER_JWT_SECRET": secret})
    assert claims_of(token, overridden)["sub"] == "p_demo_1"


def test_python_dash_m_prints_one_token(repo_config: Config) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ROOMSERVER_")}
    argv = ["-m", "roomserver", "--config", "config.toml", "token", "--player", "p_demo_1"]
    completed = subprocess.run(
        [sys.executable, *argv],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].count(".") == 2
    assert claims_of(lines[0], repo_config)["sub"] == "p_demo_1"
