"""The signature matrix of wallet callbacks: what passes, and that every refusal is a clean 401."""

import contextlib
import gc
import json
import math
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Final

import httpx
import msgspec
import pytest
from redis.asyncio.connection import AbstractConnection

from roomserver.config import Config, RedisConfig
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    AGENT_OLD_SECRET,
    api_config,
    api_url,
    funded_player,
    signed_headers,
)

PATH: Final = "/wallet/getBalance"
WINDOW_S: Final = 300


@pytest.fixture
async def client(start_node: NodeStarter, base_config: Config) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a node with the test agent configured."""
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), timeout=30.0) as http,
    ):
        yield http


@pytest.fixture
async def player(ledger: Ledger) -> str:
    """A player with 500 EUR."""
    return await funded_player(ledger, 500)


def balance_body(player_id: str) -> bytes:
    """A getBalance body, serialized the way it is signed."""
    return json.dumps({"player_id": player_id, "currency": "EUR"}).encode()


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST `body` to getBalance with exactly these headers."""
    return await client.post(PATH, content=body, headers=headers)


def assert_bad_signature(response: httpx.Response) -> None:
    """A 401 with the error body of a refused signature."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"code", "message", "retryable", "trace_id"}
    assert body["code"] == "BAD_SIGNATURE"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["retryable"] is False
    assert isinstance(body["trace_id"], str)
    assert body["trace_id"]
    assert response.headers["x-trace-id"] == body["trace_id"]


def assert_balance(response: httpx.Response) -> None:
    """A 200 with the player's balance."""
    assert response.status_code == 200, response.text
    assert response.json() == {"balance": 500, "currency": "EUR"}


async def test_valid_signature_passes(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    assert_balance(await post(client, body, signed_headers(body)))


async def test_rotation_secret_passes(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    assert_balance(await post(client, body, signed_headers(body, secret=AGENT_OLD_SECRET)))


async def test_uppercase_hex_signature_passes(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    headers["X-Signature"] = headers["X-Signature"].upper()
    assert_balance(await post(client, body, headers))


async def test_flipped_body_byte_is_refused(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    tampered = bytearray(body)
    index = body.index(b"EUR")
    tampered[index] ^= 0x01  # "EUR" -> "DUR": still valid JSON, different bytes
    assert_bad_signature(await post(client, bytes(tampered), headers))


@pytest.mark.parametrize(
    "reserialize",
    [
        pytest.param(lambda value: json.dumps(value, separators=(",", ":")), id="compact"),
        pytest.param(lambda value: json.dumps(value, indent=2), id="indented"),
        pytest.param(lambda value: json.dumps(dict(reversed(value.items()))), id="key-order"),
    ],
)
async def test_reserialized_json_is_refused(
    client: httpx.AsyncClient, player: str, reserialize: Callable[[dict[str, str]], str]
) -> None:
    payload = {"player_id": player, "currency": "EUR"}
    signed = json.dumps(payload).encode()
    headers = signed_headers(signed)
    resent: bytes = reserialize(payload).encode()
    assert resent != signed
    assert json.loads(resent) == payload
    assert_bad_signature(await post(client, resent, headers))


async def test_timestamp_window(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    now = time.time()
    stale = signed_headers(body, timestamp=math.floor(now) - (WINDOW_S + 1))
    ahead = signed_headers(body, timestamp=math.ceil(now) + WINDOW_S + 1)
    old_but_inside = signed_headers(body, timestamp=math.ceil(now) - (WINDOW_S - 1))
    ahead_but_inside = signed_headers(body, timestamp=math.floor(now) + WINDOW_S - 1)
    assert_bad_signature(await post(client, body, stale))
    assert_bad_signature(await post(client, body, ahead))
    assert_balance(await post(client, body, old_but_inside))
    assert_balance(await post(client, body, ahead_but_inside))


async def test_non_numeric_timestamp_is_refused(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    headers["X-Timestamp"] = "yesterday"
    assert_bad_signature(await post(client, body, headers))


async def test_replayed_nonce_is_refused(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    assert_balance(await post(client, body, headers))
    assert_bad_signature(await post(client, body, headers))


async def test_forged_request_does_not_burn_the_nonce(
    client: httpx.AsyncClient, player: str
) -> None:
    body = balance_body(player)
    headers = signed_headers(body, nonce="nonce-forged-first")
    forged = {**headers, "X-Signature": "0" * 64}
    assert_bad_signature(await post(client, body, forged))
    assert_balance(await post(client, body, headers))


def redis_config(base_config: Config, redis_url: str) -> Config:
    """The test agent's config on nodes sharing `redis_url` (nonces and rate limits there)."""
    return msgspec.structs.replace(api_config(base_config), redis=RedisConfig(url=redis_url))


@contextlib.asynccontextmanager
async def redis_leak_check() -> AsyncIterator[list[str]]:
    """Yields a list that, on exit, names the Redis connections opened inside and left open.

    The leaked connections are closed, and the ResourceWarnings their collection raises are
    recorded into the list, so neither surfaces in whichever test runs next. (A recorded
    warning holds its source alive, so the records are dropped and the collection repeated.)
    """
    before = weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, AbstractConnection))
    leaked: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            yield leaked
        finally:
            for _ in range(10):
                gc.collect()
                if not caught:
                    break
                leaked += [
                    str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                ]
                caught.clear()
            still_open = [
                o
                for o in gc.get_objects()
                if isinstance(o, AbstractConnection) and o not in before and o.is_connected
            ]
            for connection in still_open:
                leaked.append(f"open {connection!r}")
                await connection.disconnect()
            del still_open
            gc.collect()


async def test_nonce_is_single_use_across_nodes_sharing_redis(
    start_node: NodeStarter, base_config: Config, player: str, redis_url: str
) -> None:
    config = redis_config(base_config, redis_url)
    body = balance_body(player)
    headers = signed_headers(body)
    async with redis_leak_check() as leaked:
        async with (
            start_node(config) as first,
            start_node(config) as second,
            httpx.AsyncClient(timeout=30.0) as http,
        ):
            accepted = await http.post(f"{api_url(first)}{PATH}", content=body, headers=headers)
            replayed = await http.post(f"{api_url(second)}{PATH}", content=body, headers=headers)
        del first, second
    assert leaked == []
    assert_balance(accepted)
    assert_bad_signature(replayed)


async def test_stopped_node_leaves_no_redis_connection_open(
    start_node: NodeStarter, base_config: Config, player: str, redis_url: str
) -> None:
    body = balance_body(player)
    async with redis_leak_check() as leaked:
        async with (
            start_node(redis_config(base_config, redis_url)) as node,
            httpx.AsyncClient(base_url=api_url(node), timeout=30.0) as http,
        ):
            assert_balance(await post(http, body, signed_headers(body)))
        del node
    assert leaked == []


@pytest.mark.parametrize("missing", ["X-Agent-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
async def test_missing_header_is_refused(
    client: httpx.AsyncClient, player: str, missing: str
) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    del headers[missing]
    assert_bad_signature(await post(client, body, headers))


@pytest.mark.parametrize("empty", ["X-Agent-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
async def test_empty_header_is_refused(client: httpx.AsyncClient, player: str, empty: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    headers[empty] = ""
    assert_bad_signature(await post(client, body, headers))


async def test_unknown_agent_is_refused(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    assert_bad_signature(await post(client, body, signed_headers(body, agent_id="no-such-agent")))


async def test_wrong_secret_is_refused(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = signed_headers(body, secret="not-the-agent-secret")
    assert_bad_signature(await post(client, body, headers))


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("z" * 64, id="non-hex"),
        pytest.param("ab" * 16, id="too-short"),
        pytest.param("ab" * 33, id="too-long"),
        pytest.param("0" * 64, id="right-length-wrong"),
        pytest.param("not a signature at all", id="garbage"),
    ],
)
async def test_garbage_signature_is_refused(
    client: httpx.AsyncClient, player: str, signature: str
) -> None:
    body = balance_body(player)
    headers = {**signed_headers(body), "X-Signature": signature}
    assert_bad_signature(await post(client, body, headers))


@pytest.mark.parametrize(
    "nonce", [pytest.param("n" * 129, id="too-long"), pytest.param("bad nonce!", id="bad-chars")]
)
async def test_malformed_nonce_is_refused(
    client: httpx.AsyncClient, player: str, nonce: str
) -> None:
    body = balance_body(player)
    assert_bad_signature(await post(client, body, signed_headers(body, nonce=nonce)))


async def test_signature_over_another_timestamp_is_refused(
    client: httpx.AsyncClient, player: str
) -> None:
    body = balance_body(player)
    headers = signed_headers(body)
    headers["X-Timestamp"] = str(int(headers["X-Timestamp"]) - 1)
    assert_bad_signature(await post(client, body, headers))


async def test_trace_id_is_echoed_on_a_refusal(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    headers = {**signed_headers(body), "X-Signature": "0" * 64, "X-Trace-Id": "my-trace-1"}
    response = await post(client, body, headers)
    assert_bad_signature(response)
    assert response.headers["x-trace-id"] == "my-trace-1"
    assert response.json()["trace_id"] == "my-trace-1"


async def test_trace_id_is_echoed_on_success(client: httpx.AsyncClient, player: str) -> None:
    body = balance_body(player)
    response = await post(client, body, {**signed_headers(body), "X-Trace-Id": "my-trace-2"})
    assert_balance(response)
    assert response.headers["x-trace-id"] == "my-trace-2"
