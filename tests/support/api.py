"""Helpers for side-API tests: configured keys and agents, signed requests, a funded player."""

import hashlib
import json
import secrets
import time
from typing import Any, Final

import httpx
import msgspec

from api.signatures import sign
from roomserver.config import API_SCOPES, ApiConfig, ApiKeyConfig, Config, WalletAgentConfig
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.support.node import unique

ADMIN_KEY: Final = "test-admin-key-with-every-scope"
READER_KEY: Final = "test-reader-key-tournaments-read"
OTHER_ADMIN_KEY: Final = "test-second-admin-key"
AGENT_ID: Final = "test-agent"
AGENT_SECRET: Final = "test-agent-secret-current"
AGENT_OLD_SECRET: Final = "test-agent-secret-previous"


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
