"""What the side API's handlers and guards need from the node."""

from dataclasses import dataclass

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from api.api_keys import ApiKeys
from api.rate_limits import ApiRateLimiter
from api.signatures import SignatureVerifier
from roomserver.cluster.nodes import NodeDirectory
from roomserver.config import Config
from roomserver.gateway.hub import Hub
from roomserver.gateway.tokens import TokenVerifier
from roomserver.ops.metrics import NodeMetrics
from roomserver.rooms.registry import RoomDirectory
from roomserver.services.tournaments import TournamentService
from roomserver.services.wallet import WalletService
from roomserver.store.ledger import Ledger


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The node's services, as the side API sees them."""

    config: Config
    node_id: str
    version: str
    ledger: Ledger
    hub: Hub
    rooms: RoomDirectory
    tournaments: TournamentService
    wallet: WalletService
    tokens: TokenVerifier
    metrics: NodeMetrics
    api_keys: ApiKeys
    signatures: SignatureVerifier
    rate_limiter: ApiRateLimiter
    redis: "redis.Redis | RedisCluster | None"  # the configured Redis, for readiness
    nodes: NodeDirectory  # the live nodes and their load
