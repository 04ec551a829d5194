"""Serves the side API on the node's event loop.

Hypercorn: an ASGI server that runs inside an existing loop and leaves signal handling to the
node.
"""

import asyncio
import logging

import redis.asyncio as redis
from hypercorn.asyncio import serve
from litestar import Litestar
from redis.asyncio.cluster import RedisCluster

from api.api_keys import ApiKeys
from api.app import create_app
from api.context import ApiContext
from api.limits import HeaderLimit
from api.rate_limits import ApiRateLimiter
from api.signatures import MemoryNonceStore, NonceStore, RedisNonceStore, SignatureVerifier
from roomserver.cluster.nodes import NodeDirectory
from roomserver.cluster.open import redis_client as redis_client_of
from roomserver.config import ApiConfig, Config
from roomserver.gateway.hub import Hub
from roomserver.gateway.tokens import TokenVerifier
from roomserver.ops.http_listener import bind_listener, hypercorn_config
from roomserver.ops.metrics import NodeMetrics
from roomserver.ops.version import package_version
from roomserver.rooms.registry import RoomDirectory
from roomserver.services.registration import Registrations
from roomserver.services.sandbox import SANDBOX_API_KEY_CONFIG, SANDBOX_WALLET_AGENT
from roomserver.services.scheduler import TournamentScheduler
from roomserver.services.tournaments import TournamentService
from roomserver.services.wallet import WalletService
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)


class ApiServer:
    """The side API's listener, bound on creation (port 0 picks one, then read `port`).

    Raises:
        StartupError: the address cannot be bound; the message names `api.port`/`api.host`.
    """

    def __init__(
        self,
        app: Litestar,
        host: str,
        port: int,
        redis_client: "redis.Redis | RedisCluster | None",
        *,
        limits: ApiConfig | None = None,
    ) -> None:
        """Bind `host`:`port` for `app` (the Redis client is closed when the server stops)."""
        self._app = app
        self._limits = limits or ApiConfig()
        self._redis = redis_client
        self._listener = bind_listener("api", host, port)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Serve until `stop`; in-flight requests finish first."""
        config = hypercorn_config(self._listener, log, graceful_timeout_s=5.0)
        config.h2_max_concurrent_streams = 100
        # The server itself refuses a larger request head (431, empty body); below that bound
        # the application answers oversized headers with the error body.
        config.h11_max_incomplete_size = self._limits.max_request_head_bytes
        config.h2_max_header_list_size = self._limits.max_request_head_bytes
        app = HeaderLimit(self._app, self._limits.max_header_bytes)
        log.info("side API listening on http://%s:%d", self.host, self.port)
        try:
            await serve(app, config, shutdown_trigger=self._stop.wait, mode="asgi")  # type: ignore[arg-type]
        finally:
            if self._redis is not None:
                await self._redis.aclose()

    def stop(self) -> None:
        """Stop accepting and finish."""
        self._stop.set()


def start_side_api(
    config: Config,
    ledger: Ledger,
    hub: Hub,
    rooms: RoomDirectory,
    tokens: TokenVerifier,
    metrics: NodeMetrics,
    scheduler: TournamentScheduler,
    registrations: Registrations,
    nodes: NodeDirectory,
) -> ApiServer:
    """Build the side API over the node's services and bind its listener."""
    api = config.api
    keys = api.keys
    agents = api.wallet_agents
    if config.sandbox.enabled:
        keys = (*keys, SANDBOX_API_KEY_CONFIG)
        agents = (*agents, SANDBOX_WALLET_AGENT)
    redis_client = redis_client_of(config.redis) if config.redis.url else None
    nonces: NonceStore = (
        MemoryNonceStore() if redis_client is None else RedisNonceStore(redis_client)
    )
    node_id = hub.node_id
    context = ApiContext(
        config=config,
        node_id=node_id,
        version=package_version(),
        ledger=ledger,
        hub=hub,
        rooms=rooms,
        tournaments=TournamentService(ledger, rooms, registrations, scheduler),
        wallet=WalletService(ledger),
        tokens=tokens,
        metrics=metrics,
        api_keys=ApiKeys(keys),
        signatures=SignatureVerifier(agents, api.signature_window_s, nonces),
        rate_limiter=ApiRateLimiter(api.rate_limits_per_min, config.redis, redis_client),
        redis=redis_client,
        nodes=nodes,
    )
    return ApiServer(create_app(context), api.host, api.port, redis_client, limits=api)
