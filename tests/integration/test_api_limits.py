"""What a side-API request may carry, each breach refused with the one error body, never a 500.

Its body's size (413), its JSON nesting (400), its headers (431), and ids and idempotency keys of
one rule (400), over real HTTP to a real node with the default limits.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Final

import httpx
import pytest

from roomserver.config import Config
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    ADMIN_KEY,
    admin_client,
    admin_headers,
    api_config,
    api_fixtures,
    api_url,
    assert_traced_error,
    funded_player,
    signed_headers,
    tournament_body,
)
from tests.support.node import create_tournament

KIB: Final = 1024
JSON: Final = {"Content-Type": "application/json"}


node, client = api_fixtures(timeout=30.0)


def padded(size: int) -> bytes:
    """A valid create-tournament body of exactly `size` bytes (an unknown field pads it)."""
    head = json.dumps(tournament_body(pad="")).encode()
    body = head[:-2] + b"x" * (size - len(head)) + head[-2:]
    assert len(body) == size
    return body


async def raw_exchange(port: int, request: bytes, timeout_s: float = 10.0) -> bytes:
    """Send raw bytes to the side API and read until the server closes (or stops answering)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        # The server may answer and close before reading everything.
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.drain(), timeout_s)
        chunks = []
        try:
            while chunk := await asyncio.wait_for(reader.read(65536), timeout_s):
                chunks.append(chunk)
        except ConnectionError:
            pass
        return b"".join(chunks)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# ---------------------------------------------------------------- body size


async def test_a_body_over_the_limit_is_413_and_one_within_it_is_served(
    client: httpx.AsyncClient,
) -> None:
    megabyte = padded(1_000_000)
    too_large = await client.post("/internal/tournaments", content=megabyte, headers=JSON)
    body = assert_traced_error(too_large, 413, "PAYLOAD_TOO_LARGE")
    assert body["retryable"] is False
    just_over = await client.post(
        "/internal/tournaments", content=padded(64 * KIB + 1), headers=JSON
    )
    assert_traced_error(just_over, 413, "PAYLOAD_TOO_LARGE")
    at_limit = await client.post("/internal/tournaments", content=padded(64 * KIB), headers=JSON)
    assert at_limit.status_code == 201, at_limit.text


async def test_a_body_without_content_length_is_bounded_too(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = padded(200 * KIB)
        for start in range(0, len(body), 16 * KIB):
            yield body[start : start + 16 * KIB]

    response = await client.post("/internal/tournaments", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_traced_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_the_body_limit_is_configurable_and_covers_signed_routes(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    config = api_config(base_config, max_body_bytes=512)
    player = await funded_player(ledger, 1_000)
    async with (
        start_node(config) as node,
        admin_client(node) as client,
    ):
        refused = await client.post("/internal/tournaments", content=padded(600), headers=JSON)
        assert_traced_error(refused, 413, "PAYLOAD_TOO_LARGE")
        served = await client.post("/internal/tournaments", content=padded(500), headers=JSON)
        assert served.status_code == 201, served.text
        signed = json.dumps({"player_id": player, "currency": "EUR", "pad": "x" * 600}).encode()
        wallet = await client.post(
            "/wallet/getBalance", content=signed, headers=signed_headers(signed)
        )
        assert_traced_error(wallet, 413, "PAYLOAD_TOO_LARGE")


# ---------------------------------------------------------------- JSON nesting


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        # Deep inside a field the route ignores: skipping it would recurse as deep.
        b'{"kind": "hop_on_off", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"kind": "hop_on_off", "extra": ' + b"[" * 40 + b"]" * 40 + b"}",
    ],
    ids=["arrays", "unclosed", "objects", "ignored-field", "just-too-deep"],
)
async def test_deeply_nested_json_is_a_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/internal/tournaments", content=content, headers=JSON)
    body = assert_traced_error(response, 400, "BAD_REQUEST")
    assert "nested" in body["message"]


async def test_nesting_within_the_bound_and_brackets_in_strings_are_served(
    client: httpx.AsyncClient,
) -> None:
    nested = json.loads("[" * 30 + "]" * 30)
    body = tournament_body(extra=nested, name="[[[[" * 30)
    response = await client.post("/internal/tournaments", json=body)
    assert response.status_code == 201, response.text


async def test_deep_nesting_on_a_signed_route_is_a_400(client: httpx.AsyncClient) -> None:
    content = b"[" * 100_000 + b"]" * 100_000
    response = await client.post(
        "/wallet/makeBet", content=content, headers=signed_headers(content)
    )
    assert_traced_error(response, 400, "BAD_REQUEST")


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize("size", [16 * KIB + 1, 1_000_000, 1_048_576, 2_000_000])
async def test_oversized_headers_are_431_with_the_error_body(
    client: httpx.AsyncClient, size: int
) -> None:
    response = await client.get("/internal/server-info", headers={"X-Api-Key": "k" * size})
    body = assert_traced_error(response, 431, "HEADERS_TOO_LARGE")
    assert body["retryable"] is False
    # Refused before authentication: the same on a route without authentication.
    health = await client.get("/health", headers={"X-Padding": "p" * size})
    assert_traced_error(health, 431, "HEADERS_TOO_LARGE")


async def test_headers_within_the_limit_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/server-info", headers={"X-Padding": "p" * 8 * KIB})
    assert response.status_code == 200, response.text


async def test_a_request_head_beyond_the_servers_bound_is_431_without_a_body(node: Node) -> None:
    assert node.api_port is not None
    request = (
        b"GET /internal/server-info HTTP/1.1\r\nHost: x\r\n"
        + b"X-Api-Key: "
        + b"k" * (3 * 1024 * KIB)
        + b"\r\n\r\n"
    )
    status, headers, body = parse_response(await raw_exchange(node.api_port, request))
    assert status == 431
    assert headers.get("content-length") == "0" and body == b""


async def test_the_header_limits_are_configurable(
    start_node: NodeStarter, base_config: Config
) -> None:
    config = api_config(base_config, max_header_bytes=2 * KIB, max_request_head_bytes=64 * KIB)
    async with start_node(config) as node:
        async with httpx.AsyncClient(base_url=api_url(node)) as client:
            ok = await client.get("/internal/server-info", headers=admin_headers())
            assert ok.status_code == 200, ok.text
            refused = await client.get(
                "/internal/server-info", headers={"X-Api-Key": ADMIN_KEY, "X-Pad": "p" * 3 * KIB}
            )
            assert_traced_error(refused, 431, "HEADERS_TOO_LARGE")
        assert node.api_port is not None
        request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 128 * KIB + b"\r\n\r\n"
        status, _, body = parse_response(await raw_exchange(node.api_port, request))
        assert status == 431 and body == b""


# ---------------------------------------------------------------- ids and idempotency keys


@pytest.mark.parametrize(
    "key",
    ["tab\there", "c1\x85control", "k" * 129],
    ids=["tab", "c1-control", "too-long"],
)
async def test_an_idempotency_key_breaking_the_rule_is_a_400(
    client: httpx.AsyncClient, ledger: Ledger, key: str
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    player = await funded_player(ledger, 1_000)
    headers = {b"X-Idempotency-Key": key.encode("latin-1")}
    created = await client.post("/internal/tournaments", json=tournament_body(), headers=headers)
    assert_traced_error(created, 400, "BAD_REQUEST")
    registered = await client.post(
        f"/internal/tournaments/{tournament_id}/players",
        json={"player_id": player},
        headers=headers,
    )
    assert_traced_error(registered, 400, "BAD_REQUEST")


async def test_a_nul_byte_in_an_idempotency_key_never_reaches_the_database(node: Node) -> None:
    assert node.api_port is not None
    body = json.dumps(tournament_body()).encode()
    request = (
        b"POST /internal/tournaments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Api-Key: {ADMIN_KEY}\r\nContent-Length: {len(body)}\r\n".encode()
        + b"X-Idempotency-Key: a\x00b\r\n\r\n"
        + body
    )
    status, _, _ = parse_response(await raw_exchange(node.api_port, request))
    assert status == 400  # refused by the HTTP parser itself, before the application


@pytest.mark.parametrize("player_id", ["a\x00b", "a b", "a/b", "é", "x" * 65, ""], ids=repr)
async def test_a_body_id_breaking_the_rule_is_a_400(
    client: httpx.AsyncClient, ledger: Ledger, player_id: str
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    response = await client.post(
        f"/internal/tournaments/{tournament_id}/players", json={"player_id": player_id}
    )
    assert_traced_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("player_id", ["a%00b", "a%20b", "x" * 65], ids=repr)
async def test_a_path_id_breaking_the_rule_is_a_400(
    client: httpx.AsyncClient, ledger: Ledger, player_id: str
) -> None:
    tournament_id = (await create_tournament(ledger)).config.tournament_id
    response = await client.delete(f"/internal/tournaments/{tournament_id}/players/{player_id}")
    assert_traced_error(response, 400, "BAD_REQUEST")
    rg = await client.get(f"/internal/players/{player_id}/rg")
    assert_traced_error(rg, 400, "BAD_REQUEST")
