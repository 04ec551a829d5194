"""The side API answers as its own OpenAPI document says, on every route (schemathesis).

A sandbox node runs as a subprocess on a private database; schemathesis loads `/openapi.json`
from it and sends generated requests (positive and negative, bounded and derandomized) to every
operation with the sandbox API key, which has every scope. Wallet callbacks (`/wallet/...`,
`/v1/bets/...`) are signed by a `requests` auth hook over the exact body bytes sent, so they
reach the wallet logic instead of stopping at 401. Every response must be no 5xx, have a
documented status code and content type, and match the documented body schema and headers.
After the run the node must stop cleanly and the books on its database must balance.
"""

import asyncio
import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from requests.auth import AuthBase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roomserver.domain import slot_game
from roomserver.services.sandbox import (
    DEMO_TOURNAMENT,
    SANDBOX_API_KEY,
    SANDBOX_PLAYERS,
    SANDBOX_WALLET_AGENT,
)
from roomserver.store.ledger import Ledger
from roomserver.store.pool import create_pool
from tests.support.node import sandbox_process
from tests.support.services import create_database, drop_database, dsn_for_database, free_tcp_port

SIGNED_PREFIXES: Final = ("/wallet/", "/v1/bets/")
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES: Final = 40
OPERATIONS: Final = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/internal/server-info"),
    ("POST", "/internal/auth/validate-token"),
    ("POST", "/internal/tournaments"),
    ("GET", "/internal/tournaments/{tournament_id}/config"),
    ("GET", "/internal/tournaments/{tournament_id}/players"),
    ("POST", "/internal/tournaments/{tournament_id}/players"),
    ("DELETE", "/internal/tournaments/{tournament_id}/players/{player_id}"),
    ("GET", "/internal/tournaments/{tournament_id}/status"),
    ("GET", "/internal/tournaments/{tournament_id}/leaderboard"),
    ("POST", "/internal/tournaments/{tournament_id}/results"),
    ("POST", "/internal/tournaments/{tournament_id}/cancel"),
    ("GET", "/internal/tournaments/{tournament_id}/closing"),
    ("GET", "/internal/tournaments/{tournament_id}/report"),
    ("GET", "/internal/spins/{spin_id}/replay"),
    ("PUT", "/internal/players/{player_id}/rg"),
    ("GET", "/internal/players/{player_id}/rg"),
    ("POST", "/wallet/getBalance"),
    ("POST", "/wallet/makeBet"),
    ("POST", "/wallet/rollback"),
    ("POST", "/v1/bets/authorize"),
    ("POST", "/v1/bets/settle"),
    ("POST", "/v1/bets/rollback"),
]
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0
# Generous limits: a 429 would be documented, but it would hide the routes' own answers.
CONFIG_TEMPLATE: Final = """\
[server]
host = "127.0.0.1"
port = {ws_port}
close_timeout_s = 2.0
shutdown_grace_s = 5.0

[postgres]
dsn = "{dsn}"
pool_min_size = 1
pool_max_size = 8

[auth]
jwt_secret = "openapi-conformance-test-secret-0123456789"

[api]
host = "127.0.0.1"
port = {api_port}

[api.rate_limits_per_min]
tournament_config = 1000000
token_validation = 1000000
results = 1000000
default = 1000000

[events]
file = "{events_file}"

[log]
level = "INFO"
"""


@pytest.fixture(scope="module", autouse=True)
def hypothesis_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep Hypothesis's files out of the working tree.

    Its own caches (constants, Unicode tables) go to a temporary directory, not `.hypothesis` in
    the working tree; the example database is off (`database=None`).
    """
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)


@dataclass(frozen=True, slots=True)
class SandboxNode:
    """A `roomserver run --sandbox` subprocess: its side API's base URL and its log."""

    api_url: str
    log_path: Path


@pytest.fixture(scope="module")
async def sandbox_node(
    postgres_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SandboxNode]:
    """A sandbox node on a database of its own; afterwards it stops cleanly, books balanced."""
    name = f"rs_openapi_{secrets.token_hex(6)}"
    await create_database(postgres_admin_dsn, name)
    dsn = dsn_for_database(postgres_admin_dsn, name)
    workdir = tmp_path_factory.mktemp("openapi-node")
    api_port = free_tcp_port()
    config = workdir / "config.toml"
    config.write_text(
        CONFIG_TEMPLATE.format(
            ws_port=free_tcp_port(),
            api_port=api_port,
            dsn=dsn,
            events_file=workdir / "events.jsonl",
        )
    )
    log_path = workdir / "node.log"
    url = f"http://127.0.0.1:{api_port}"
    try:
        async with sandbox_process(
            config, url, log_path, start_timeout_s=START_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S
        ) as process:
            yield SandboxNode(api_url=url, log_path=log_path)
        exit_code = process.returncode
        log_text = await asyncio.to_thread(log_path.read_text, errors="replace")
        # Shown with a failure: the tracebacks behind any 500, by trace id.
        print(log_text)
        assert exit_code == 0, f"the node exited with {exit_code}"
        pool = await create_pool(dsn, min_size=1, max_size=2, timeout_s=30)
        try:
            assert await Ledger(pool).audit() == []
        finally:
            await pool.close()
    finally:
        await drop_database(postgres_admin_dsn, name)


class WalletSignature(AuthBase):
    """Signs wallet callbacks as the sandbox agent, over the body bytes actually sent."""

    def __init__(self, agent_id: str, secret: str) -> None:
        self.agent_id = agent_id
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = request.path_url
        if not path.startswith(SIGNED_PREFIXES):
            return request
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            # Sign and send the same bytes, whatever encoding the transport would pick.
            body = body.encode("utf-8")
            request.body = body
            request.prepare_content_length(body)
        elif not isinstance(body, bytes):
            raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        request.headers["X-Agent-Id"] = self.agent_id
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-Nonce"] = nonce
        message = f"{timestamp}.{nonce}.".encode() + body
        request.headers["X-Signature"] = hmac.new(
            self.secret.encode(), message, hashlib.sha256
        ).hexdigest()
        return request


@pytest.fixture(scope="module")
def signed_session() -> Iterator[requests.Session]:
    """A session that signs wallet callbacks as the sandbox agent."""
    session = requests.Session()
    session.auth = WalletSignature(SANDBOX_WALLET_AGENT.agent_id, SANDBOX_WALLET_AGENT.secrets[0])
    try:
        yield session
    finally:
        session.close()


# Values that exist on the sandbox node (or that earlier operations create), swapped into about
# half of the generated requests so that they get past 404 to the routes' logic.
KNOWN_VALUES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "tournament_id": st.just(DEMO_TOURNAMENT.tournament_id),
    "player_id": st.sampled_from([player.player_id for player in SANDBOX_PLAYERS]),
    "currency": st.sampled_from(["EUR", "USD"]),
    "game_id": st.just(slot_game.GAME_ID),
    "kind": st.just("hop_on_off"),
    # Few ids, so that settle and rollback meet the bets authorized or made before them.
    "bet_id": st.sampled_from([f"conformance-bet-{n}" for n in range(4)]),
    "transaction_id": st.sampled_from([f"conformance-tx-{n}" for n in range(4)]),
    # Amounts the seeded players can afford.
    "amount": st.integers(1, 1000),
    "bet": st.integers(0, 1000),
    "win": st.integers(0, 1000),
    "round_id": st.just("conformance-round"),
}


def _with_known_values(_context: schemathesis.HookContext, values: Any) -> st.SearchStrategy[Any]:
    """The generated path parameters or body, or the same with known values swapped in."""
    if not isinstance(values, dict):
        return st.just(values)
    known = {name: KNOWN_VALUES[name] for name in values if name in KNOWN_VALUES}
    if not known:
        return st.just(values)
    swapped = st.fixed_dictionaries(known).map(lambda fields: {**values, **fields})
    return st.one_of(st.just(values), swapped)


@pytest.fixture(scope="module")
def api_schema(sandbox_node: SandboxNode) -> schemathesis.BaseSchema:
    """The node's OpenAPI document, loaded by schemathesis (no config file is read)."""
    schema = schemathesis.openapi.from_url(
        f"{sandbox_node.api_url}/openapi.json", config=schemathesis.Config()
    )
    schema.hook("flatmap_path_parameters")(_with_known_values)
    schema.hook("flatmap_body")(_with_known_values)
    return schema


def test_document_lists_every_route(api_schema: schemathesis.BaseSchema) -> None:
    """The operations tested below are exactly the documented ones."""
    documented = set()
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot use an operation: {result!r}"
        documented.add((result.ok().method.upper(), result.ok().path))
    assert documented == set(OPERATIONS)


# One test per operation, each a Hypothesis test over the operation's generated cases.
# (`schemathesis.pytest.from_fixture` would do this, but 4.32.5 reads `Function._nodeid`, which
# pytest 9.2 no longer has.)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_documented(
    method: str,
    path: str,
    api_schema: schemathesis.BaseSchema,
    signed_session: requests.Session,
) -> None:
    """No 5xx; a documented status, content type, body and headers for every request."""
    operation = api_schema[path][method]
    statuses: list[int] = []
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases)
    def check(case: schemathesis.Case[Any]) -> None:
        # A negative case may leave the key out (a missing security header): a documented 401.
        response = case.call_and_validate(
            session=signed_session, headers={"X-Api-Key": SANDBOX_API_KEY}, checks=CHECKS
        )
        statuses.append(response.status_code)

    check()
    print(f"{method} {path}: {sorted(collections.Counter(statuses).items())}")
    # The key and the signatures were accepted: some requests reached the route itself.
    assert set(statuses) - {401}, statuses


def test_signed_session_reaches_the_wallet(
    sandbox_node: SandboxNode, signed_session: requests.Session
) -> None:
    """The signing hook works, so the wallet routes above were tested past their 401."""
    player = SANDBOX_PLAYERS[0]
    response = signed_session.post(
        f"{sandbox_node.api_url}/wallet/getBalance",
        json={"player_id": player.player_id, "currency": player.currency},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["currency"] == player.currency
