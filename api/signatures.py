"""HMAC-SHA256 signatures of wallet callbacks, checked on the raw body before it is parsed.

X-Signature = hex(HMAC_SHA256(secret, timestamp + "." + nonce + "." + raw_body)); the timestamp
must be within the window both ways, the nonce single use within it; each agent may have two
secrets during a rotation. The nonce is spent only once the signature is good, so a forger
cannot burn an agent's nonces.
"""

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Final, Protocol

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from api.errors import ApiError
from roomserver.config import WalletAgentConfig

_NONCE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SIGNATURE: Final = re.compile(r"^[0-9a-fA-F]{64}$")


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The signature of a request (what an agent computes)."""
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class NonceStore(Protocol):
    """Remembers nonces for a while; `claim` is True only the first time."""

    async def claim(self, agent_id: str, nonce: str, ttl_s: int) -> bool:
        """Remember the agent's nonce for `ttl_s`; True unless it was already remembered."""


class MemoryNonceStore:
    """Nonces of one node."""

    def __init__(self) -> None:
        """An empty store."""
        self._expiry: dict[tuple[str, str], float] = {}
        self._next_prune = 0.0

    async def claim(self, agent_id: str, nonce: str, ttl_s: int) -> bool:
        """True the first time a nonce is seen within `ttl_s`."""
        now = time.monotonic()
        if now >= self._next_prune:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            self._next_prune = now + 10.0
        key = (agent_id, nonce)
        if self._expiry.get(key, 0.0) > now:
            return False
        self._expiry[key] = now + ttl_s
        return True


class RedisNonceStore:
    """Nonces shared by every node (SET NX with expiry)."""

    def __init__(self, client: "redis.Redis | RedisCluster") -> None:
        """Nonces kept as expiring keys through `client`."""
        self._client = client

    async def claim(self, agent_id: str, nonce: str, ttl_s: int) -> bool:
        """True the first time any node sees the nonce within `ttl_s`."""
        created = await self._client.set(
            f"roomserver:nonce:{agent_id}:{nonce}", 1, nx=True, ex=ttl_s
        )
        return bool(created)


class SignatureVerifier:
    """Checks the signed headers of a wallet callback."""

    def __init__(
        self, agents: tuple[WalletAgentConfig, ...], window_s: int, nonces: NonceStore
    ) -> None:
        """Verify with the `agents`' secrets, `window_s` of clock skew and the `nonces` seen."""
        self._secrets = {agent.agent_id: agent.secrets for agent in agents}
        self._window_s = window_s
        self._nonces = nonces

    async def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """The agent id of a correctly signed, fresh, first-seen request.

        Raises:
            ApiError: BAD_SIGNATURE (401) naming what is wrong, never the expected value.
        """
        agent_id = headers.get("x-agent-id")
        timestamp = headers.get("x-timestamp")
        nonce = headers.get("x-nonce")
        signature = headers.get("x-signature")
        for name, value in (
            ("X-Agent-Id", agent_id),
            ("X-Timestamp", timestamp),
            ("X-Nonce", nonce),
            ("X-Signature", signature),
        ):
            if not value:
                raise ApiError("BAD_SIGNATURE", f"{name} header required")
        assert agent_id and timestamp and nonce and signature
        secrets = self._secrets.get(agent_id)
        if secrets is None:
            raise ApiError("BAD_SIGNATURE", "unknown agent")
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise ApiError("BAD_SIGNATURE", "X-Timestamp must be unix seconds")
        if abs(now - int(timestamp)) > self._window_s:
            raise ApiError("BAD_SIGNATURE", "X-Timestamp outside the allowed window")
        if not _NONCE.match(nonce):
            raise ApiError("BAD_SIGNATURE", "X-Nonce must be 1-128 characters [A-Za-z0-9._:-]")
        if not _SIGNATURE.match(signature):
            raise ApiError("BAD_SIGNATURE", "X-Signature must be 64 hex digits")
        presented = signature.lower().encode()
        matched = False
        for secret in secrets:  # every active secret compared, in constant time
            expected = sign(secret, timestamp, nonce, body).encode()
            matched |= hmac.compare_digest(expected, presented)
        if not matched:
            raise ApiError("BAD_SIGNATURE", "signature does not match")
        if not await self._nonces.claim(agent_id, nonce, 2 * self._window_s):
            raise ApiError("BAD_SIGNATURE", "nonce already used")
        return agent_id
