"""Tests for the `roomserver` command line: refusing bad config, and printing tokens."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from roomserver import cli
from roomserver.config import Config, load_config

REPO_ROOT = Path(__file__).parents[2]
REPO_CONFIG = REPO_ROOT / "config.toml"
SECRET = "a-cli-test-secret-that-is-long-enough-01234"
DB_PASSWORD = "hunter2-never-print-me"


@pytest.fixture(autouse=True)
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may start a node, and the developer's environment must not leak in."""

    def refuse(*args: object) -> None:
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


def run_roomserver(
    *argv: str, cwd: Path, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`python -m roomserver ARGV` in `cwd`, without the developer's ROOMSERVER_ variables."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ROOMSERVER_")}
    return subprocess.run(
        [sys.executable, "-m", "roomserver", *argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def last_line(stderr: str) -> str:
    """The error a failed command ends with; nothing on stderr may be a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    return lines[-1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    completed = run_roomserver("--version", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"roomserver {importlib.metadata.version('roomserver')}"


def test_missing_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    absent = tmp_path / "absent.toml"
    completed = run_roomserver("--config", str(absent), "run", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    line = last_line(completed.stderr)
    assert completed.stderr.strip() == line
    assert line == f"roomserver: cannot read config file {absent}: No such file or directory"


@pytest.mark.timeout(60)
def test_unreachable_database_is_retried_then_named_without_its_password(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "node.toml"
    config.write_text(
        f'[auth]\njwt_secret = "{SECRET}"\n'
        "[postgres]\n"
        f'dsn = "postgresql://roomserver:{DB_PASSWORD}@127.0.0.1:{port}/roomserver"\n'
        "startup_retry_s = 1.5\nconnect_timeout_s = 1.0\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    completed = run_roomserver("--config", str(config), "run", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert completed.returncode == 1, completed.stderr
    assert DB_PASSWORD not in completed.stderr
    line = last_line(completed.stderr)
    assert line.startswith(f"roomserver: cannot reach PostgreSQL at 127.0.0.1:{port}: "), line
    assert "connection refused" in line
    assert "postgres.startup_retry_s" in line
    # It kept trying for the configured time, with backoff, and no longer.
    assert completed.stderr.count("retrying in") >= 2
    assert 1.5 <= elapsed < 30


def test_startup_retry_zero_tries_once(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "node.toml"
    config.write_text(
        f'[auth]\njwt_secret = "{SECRET}"\n'
        f'[postgres]\ndsn = "postgresql://u@127.0.0.1:{port}/db"\nstartup_retry_s = 0\n',
        encoding="utf-8",
    )
    completed = run_roomserver("--config", str(config), "run", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert "retrying in" not in completed.stderr
    assert "(1 attempt in 0 s;" in last_line(completed.stderr)


@pytest.mark.timeout(60)
def test_startup_log_names_built_in_defaults_and_sigterm_stops_a_waiting_node(
    tmp_path: Path,
) -> None:
    # No ./config.toml and no --config: the defaults, the secret from the environment, and a
    # database that does not answer, so the node waits for it until told to stop.
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ROOMSERVER_")}
    environ["ROOMSERVER_JWT_SECRET"] = SECRET
    environ["ROOMSERVER_POSTGRES_DSN"] = f"postgresql://u@127.0.0.1:{closed_port()}/db"
    with subprocess.Popen(
        [sys.executable, "-m", "roomserver", "run"],
        cwd=tmp_path,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            assert "starting with config built-in defaults" in first
            overrides = "(environment overrides: ROOMSERVER_POSTGRES_DSN, ROOMSERVER_JWT_SECRET)"
            assert overrides in first
            assert "retrying in" in process.stderr.readline()
            process.send_signal(signal.SIGTERM)
            rest = process.stderr.read()
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "Traceback" not in rest
    assert "stopped before the node was ready" in rest
    assert SECRET not in first + rest


def test_invalid_database_dsn_is_named_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        f'[auth]\njwt_secret = "{SECRET}"\n'
        f'[postgres]\ndsn = "mysql://roomserver:{DB_PASSWORD}@db/roomserver"\n',
        encoding="utf-8",
    )
    completed = run_roomserver("--config", str(config), "run", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert DB_PASSWORD not in completed.stderr
    assert last_line(completed.stderr).startswith(
        "roomserver: config key postgres.dsn: not a valid PostgreSQL DSN"
    )
