"""Helpers for side-API tests: keys and agents, the node and client fixtures, error bodies.

Also signed requests, a valid create-tournament body and a funded player.
"""

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import httpx
import msgspec
import pytest

from api.signatures import sign
from roomserver.config import API_SCOPES, ApiConfig, ApiKeyConfig, Config, WalletAgentConfig
from roomserver.domain import slot_game
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.support.node import unique

ADMIN_KEY: Final = "test-admin-key-with-every-scope"
READER_KEY: Final = "test-reader-key-tournaments-read"
OTHER_ADMIN_KEY: Final = "test-second-admin-key"
AGENT_ID: Final = "test-agent"
AGENT_SECRET: Final = "test-agent-secret-current"
AGENT_OLD_SECRET: Final = "test-agent-secret-previous"
# The fields of the one error body every side-API error has.
ERROR_FIELDS: Final = frozenset({"code", "message", "retryable", "trace_id"})

# What the `start_node` fixture of tests/integration/conftest.py gives.
StartNode = Callable[[Config], contextlib.AbstractAsyncContextManager[Node]]


def _key(name: str, key: str, scopes: tuple[Any, ...]) -> ApiKeyConfig:
    return ApiKeyConfig(
        name=name, key_sha256=hashlib.sha256(key.encode()).hexdigest(), scopes=scopes
    )


def api_config(base: Config, **overrides: Any) -> Config:
    """`base` with the test keys and agent on a free port (overrides go to ApiConfig)."""
    fields: dict[str, Any] = {
        "port": 0,
        "keys": (
            _key("admin", ADMIN_KEY, API_SCOPES),
            _key("other-admin", OTHER_ADMIN_KEY, API_SCOPES),
            _key("reader", READER_KEY, ("tournaments:read",)),
        ),
        "wallet_agents": (
            WalletAgentConfig(agent_id=AGENT_ID, secrets=(AGENT_SECRET, AGENT_OLD_SECRET)),
        ),
    }
    fields.update(overrides)
    return msgspec.structs.replace(base, api=ApiConfig(**fields))


def api_url(node: Node) -> str:
    """The node's side-API base URL."""
    assert node.api_port is not None
    return f"http://127.0.0.1:{node.api_port}"


def admin_headers(key: str = ADMIN_KEY) -> dict[str, str]:
    """Headers of an internal call with `key`."""
    return {"X-Api-Key": key}


def admin_client(node: Node, key: str = ADMIN_KEY, **options: Any) -> httpx.AsyncClient:
    """A client of the node's side API sending `key` (options go to `httpx.AsyncClient`)."""
    return httpx.AsyncClient(base_url=api_url(node), headers=admin_headers(key), **options)


def api_fixtures(**client_options: Any) -> tuple[object, object]:
    """The `node` and `client` fixtures of a side-API test module.

    pytest finds fixtures among a module's names, so bind both there:
    `node, client = api_fixtures(timeout=30.0)`. `node` is a node with the side API and the
    test keys; `client` is an admin client of it, made with `client_options`.
    """

    @pytest.fixture(name="node")
    async def api_node(start_node: StartNode, base_config: Config) -> AsyncIterator[Node]:
        """A node with the side API and the test keys."""
        async with start_node(api_config(base_config)) as running:
            yield running

    @pytest.fixture(name="client")
    async def api_client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
        """An admin client of the node's side API."""
        async with admin_client(node, **client_options) as admin:
            yield admin

    return api_node, api_client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error body with this status and code; returns the body."""
    assert response.status_code == status, response.text[:500]
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS, body
    assert body["code"] == code, body
    return body


def assert_traced_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """As `assert_error`, sent as JSON with a message, its trace id also in `X-Trace-Id`."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = assert_error(response, status, code)
    assert body["message"]
    assert body["trace_id"] and response.headers["X-Trace-Id"] == body["trace_id"]
    return body


def tournament_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-tournament body: a hop-on/off slot tournament in EUR, no buy-in."""
    body: dict[str, Any] = {
        "kind": "hop_on_off",
        "name": "API tournament",
        "game_id": slot_game.GAME_ID,
        "currency": "EUR",
        "starting_chips": 5_000,
        "min_stake": 10,
        "max_stake": 1_000,
        "max_players": 100,
    }
    body.update(overrides)
    return body


def signed_headers(
    body: bytes,
    *,
    agent_id: str = AGENT_ID,
    secret: str = AGENT_SECRET,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers of a correctly signed wallet callback (each part overridable)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(12)
    return {
        "X-Agent-Id": agent_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": sign(secret, ts, nonce, body),
        "Content-Type": "application/json",
    }


async def signed_post(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], **sign_options: Any
) -> httpx.Response:
    """POST a signed wallet callback."""
    body = json.dumps(payload).encode()
    return await client.post(path, content=body, headers=signed_headers(body, **sign_options))


async def funded_player(ledger: Ledger, cash: int, currency: str = "EUR") -> str:
    """A new player with `cash` in `currency`."""
    player_id = unique("wp")
    await ledger.ensure_player(player_id, f"Player {player_id}", currency)
    await ledger.deposit(player_id, currency, cash, f"test:{player_id}")
    return player_id
