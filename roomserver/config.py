"""Node configuration: `config.toml` decoded into frozen, typed Structs.

Only secrets, URLs and the side API's bind address may be overridden from the environment
(`ROOMSERVER_*`). Unknown keys and bad values are refused with a message that names the key.
"""

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import Meta, Struct

Port = Annotated[int, Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, Meta(gt=0)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
Seconds = Annotated[float, Meta(gt=0)]

# Secrets shipped in config.toml for the sandbox; a node refuses them unless sandbox mode is on.
SANDBOX_JWT_SECRET: Final = "sandbox-jwt-secret-do-not-use-in-production"


class _Section(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every section.

    msgspec inherits these options, but type checkers do not see that, so each section
    restates them.
    """


class ServerConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The public WebSocket listener."""

    host: str = "0.0.0.0"
    port: Port = 8765
    path: str = "/ws"
    public_url: str = ""
    max_message_bytes: PositiveInt = 16384
    open_timeout_s: Seconds = 10.0
    ping_interval_s: Seconds = 20.0
    ping_timeout_s: Seconds = 20.0
    close_timeout_s: Seconds = 5.0
    compression: bool = False
    allowed_origins: tuple[str, ...] = ()
    allow_missing_origin: bool = True
    max_connections: PositiveInt = 20000
    # SO_SNDBUF for each connection (0 keeps the OS default): caps kernel memory per client.
    socket_send_buffer_bytes: NonNegativeInt = 0
    drain_reconnect_after_ms: NonNegativeInt = 1000
    shutdown_grace_s: Seconds = 10.0
    # This node's name in status and server-info; empty: host name and port.
    node_id: str = ""
    # Accept `bench.publish` (benchmarks only): a member broadcasts a payload to its room.
    bench_publish: bool = False


class SlowConsumerConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When a client that does not read is closed with 1013."""

    max_buffered_bytes: PositiveInt = 262144
    max_stall_s: Seconds = 5.0
    check_interval_s: Seconds = 0.5


class RateLimitConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-connection message rate: a token bucket, then `RATE_LIMITED`, then close 1008."""

    messages_per_s: Seconds = 50.0
    burst: PositiveInt = 100
    strikes_before_close: PositiveInt = 20
    max_spins_in_flight: PositiveInt = 64


class RoomsConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Room actors."""

    leaderboard_hz: Seconds = 4.0
    inbox_size: PositiveInt = 4096
    history_size: PositiveInt = 1024
    presence_detail_max_members: NonNegativeInt = 500
    # The node publishing a room's leaderboard re-reads the standings from the ledger this
    # often (and when it takes the room over), correcting any change a node failed to forward.
    standings_reread_s: Seconds = 15.0
    # A room with no member and no pending work is closed after this quiet time (memory stays
    # bounded by the rooms in use); its stream outlives it for resume.
    dispose_after_s: Seconds = 30.0


class PostgresConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The ledger database; no `dsn` starts the embedded server with data in `embedded_data_dir`."""

    dsn: str = ""
    embedded_data_dir: str = "var/pg"
    pool_min_size: PositiveInt = 2
    pool_max_size: PositiveInt = 16
    command_timeout_s: Seconds = 10.0
    # Spins that queue up go to PostgreSQL up to `spin_batch_max` per call (1: never): a spin
    # goes alone, at once, while fewer than `spin_batch_in_flight` spin calls run.
    spin_batch_max: Annotated[int, Meta(ge=1, le=1000)] = 64
    spin_batch_in_flight: PositiveInt = 2
    # A node may start before its database (a deployment starting both at once): connecting is
    # retried with backoff for up to `startup_retry_s` (0: one attempt), each attempt bounded
    # by `connect_timeout_s`.
    connect_timeout_s: Seconds = 10.0
    startup_retry_s: Annotated[float, Meta(ge=0)] = 30.0


class RedisConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The cross-node bus; empty means one node with an in-process bus."""

    url: str = ""
    # `url` is one node of a Redis Cluster: rooms spread over its shards (sharded pub/sub).
    cluster: bool = False
    # One node per room publishes its leaderboard; its lease passes to another node when not
    # renewed for this long (the node died or paused).
    ticker_lease_s: Seconds = 3.0


class JwtKey(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A token verification key selected by the token's `kid` header."""

    kid: str
    algorithm: Literal["HS256", "RS256", "ES256"]
    secret: str = ""
    public_key_pem: str = ""


class AuthConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Player tokens (JWT) issued by the Casino System."""

    issuer: str = "casino-system"
    audience: str = "roomserver"
    algorithm: Literal["HS256"] = "HS256"
    jwt_secret: str = ""
    keys: tuple[JwtKey, ...] = ()
    leeway_s: NonNegativeInt = 5
    token_ttl_s: PositiveInt = 7200


ApiScope = Literal[
    "tournaments:read", "tournaments:write", "auth:validate", "results:write", "reports:read"
]
API_SCOPES: Final[tuple[ApiScope, ...]] = get_args(ApiScope)


class ApiKeyConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An internal API key, stored as the hex SHA-256 of the key."""

    name: str
    key_sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    scopes: tuple[ApiScope, ...]


class WalletAgentConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A wallet integrator signing its callbacks; two secrets are active during a rotation."""

    agent_id: str
    secrets: Annotated[tuple[str, ...], Meta(min_length=1, max_length=2)]


class RateLimitsPerMinute(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Side-API requests a key may make in any 60 s (sliding window)."""

    tournament_config: PositiveInt = 1000
    token_validation: PositiveInt = 5000
    results: PositiveInt = 10000
    default: PositiveInt = 2000


class ApiConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The internal HTTP side API (bind it to a private network only)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 8766
    keys: tuple[ApiKeyConfig, ...] = ()
    wallet_agents: tuple[WalletAgentConfig, ...] = ()
    signature_window_s: PositiveInt = 300
    rate_limits_per_min: RateLimitsPerMinute = RateLimitsPerMinute()
    # A larger request body is refused with 413, one nested deeper with 400.
    max_body_bytes: PositiveInt = 65536
    max_json_depth: Annotated[int, Meta(ge=1, le=256)] = 32
    # Request headers together (names and values) beyond this are refused with 431 and the error
    # body; a request head beyond max_request_head_bytes is cut off by the HTTP server itself
    # (431, empty body), before the application sees it.
    max_header_bytes: PositiveInt = 16384
    max_request_head_bytes: PositiveInt = 2097152
    # A retry arriving while the first request with its X-Idempotency-Key is still running
    # waits this long for the stored response (then 409 DUPLICATE, retryable); a request that
    # died holding a key gives it up after the lease.
    idempotency_wait_s: Seconds = 10.0
    idempotency_lease_s: Seconds = 60.0


class LifecycleConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The tournament scheduler (every node runs one; the database decides who moves what)."""

    tick_s: Seconds = 0.25


class RgConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Responsible gaming."""

    # `rg.reality_check` to every connection this often; 0 turns it off.
    reality_check_interval_s: Annotated[float, Meta(ge=0)] = 3600.0


class EventsConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The outbox relay: JSON lines to `file`, or an SQS FIFO queue when `sqs_queue_url` is set."""

    relay: bool = True
    file: str = "var/events.jsonl"
    sqs_queue_url: str = ""
    sqs_endpoint_url: str = ""
    batch_size: Annotated[int, Meta(gt=0, le=1000)] = 100
    poll_interval_s: Seconds = 0.2
    max_attempts: PositiveInt = 10
    backoff_base_s: Seconds = 0.5
    backoff_max_s: Seconds = 60.0
    # Retention, on every node that relays: published rows older than `retention_s` (0: any)
    # are deleted, at most `purge_batch` per statement, every `purge_interval_s`; pending and
    # dead rows stay. `vacuum`: VACUUM the outbox after a purge (autovacuum may be off).
    retention_s: Annotated[float, Meta(ge=0)] = 3600.0
    purge_batch: Annotated[int, Meta(gt=0, le=100_000)] = 5000
    purge_interval_s: Seconds = 10.0
    vacuum: bool = True


class SandboxConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Seeded demo tournament and test players; never on in production."""

    enabled: bool = False


class DemoConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The demo casino, served in sandbox mode only: a lobby embedding the game from another origin.

    Each page has its own origin, `http://<casino_host>:<casino_port>` and
    `http://<game_host>:<game_port>` (port 0: any free port); both listeners bind `host`. The
    game's origin is added to `server.allowed_origins` while the demo runs.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    casino_host: str = "localhost"
    casino_port: Port = 8090
    game_host: str = "127.0.0.1"
    game_port: Port = 8091


class LogConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole node configuration."""

    server: ServerConfig = ServerConfig()
    slow_consumer: SlowConsumerConfig = SlowConsumerConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    rooms: RoomsConfig = RoomsConfig()
    postgres: PostgresConfig = PostgresConfig()
    redis: RedisConfig = RedisConfig()
    auth: AuthConfig = AuthConfig()
    api: ApiConfig = ApiConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    rg: RgConfig = RgConfig()
    events: EventsConfig = EventsConfig()
    sandbox: SandboxConfig = SandboxConfig()
    demo: DemoConfig = DemoConfig()
    log: LogConfig = LogConfig()


# Environment variable -> (section, key). Only secrets, URLs and the side API's bind address
# (a container publishes it only when told to).
ENV_OVERRIDES: Final[Mapping[str, tuple[str, str]]] = {
    "ROOMSERVER_POSTGRES_DSN": ("postgres", "dsn"),
    "ROOMSERVER_API_HOST": ("api", "host"),
    "ROOMSERVER_REDIS_URL": ("redis", "url"),
    "ROOMSERVER_JWT_SECRET": ("auth", "jwt_secret"),
    "ROOMSERVER_PUBLIC_URL": ("server", "public_url"),
    "ROOMSERVER_SQS_QUEUE_URL": ("events", "sqs_queue_url"),
    "ROOMSERVER_SQS_ENDPOINT_URL": ("events", "sqs_endpoint_url"),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key."""


def load_config(
    path: Path | None, environ: Mapping[str, str] | None = None, *, sandbox: bool | None = None
) -> Config:
    """Read `path` (defaults only when None), apply environment overrides, validate.

    Raises:
        ConfigError: unreadable file, unknown key, bad value, or sandbox secrets outside sandbox.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    env = os.environ if environ is None else environ
    for variable, (section, key) in ENV_OVERRIDES.items():
        if variable in env:
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"config key {section}: expected a table")
            table[key] = env[variable]
    if sandbox is not None:
        table = raw.setdefault("sandbox", {})
        if not isinstance(table, dict):
            raise ConfigError("config key sandbox: expected a table")
        table["enabled"] = sandbox
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config key {_key_of(str(exc))}: {exc}") from None
    _check(config)
    return config


def _key_of(message: str) -> str:
    """`Object contains unknown field `x` - at `$.server`` -> `server.x`."""
    path = message.rsplit("at `$", 1)[-1].rstrip("`") if "at `$" in message else ""
    key = path.lstrip(".")
    if "unknown field `" in message:
        field = message.split("unknown field `", 1)[1].split("`", 1)[0]
        key = f"{key}.{field}" if key else field
    return key or "(root)"


def check_startable(config: Config) -> None:
    """Refuse to start a node on sandbox secrets unless sandbox mode is on.

    Raises:
        ConfigError: naming the key.
    """
    if config.auth.jwt_secret == SANDBOX_JWT_SECRET and not config.sandbox.enabled:
        raise ConfigError(
            "config key auth.jwt_secret: the sandbox secret is refused unless sandbox mode is on "
            "(run with --sandbox, or set ROOMSERVER_JWT_SECRET)"
        )


def _check(config: Config) -> None:
    auth = config.auth
    if not auth.jwt_secret and not auth.keys:
        raise ConfigError("config key auth.jwt_secret: no token key is configured")
    if auth.jwt_secret and len(auth.jwt_secret.encode()) < 32:
        raise ConfigError("config key auth.jwt_secret: an HS256 secret needs at least 32 bytes")
    for key in auth.keys:
        if key.algorithm == "HS256" and len(key.secret.encode()) < 32:
            raise ConfigError(f"config key auth.keys[{key.kid}].secret: needs at least 32 bytes")
        if key.algorithm != "HS256" and not key.public_key_pem:
            raise ConfigError(f"config key auth.keys[{key.kid}].public_key_pem: required")
    if not config.server.path.startswith("/"):
        raise ConfigError("config key server.path: must start with /")
    for agent in config.api.wallet_agents:
        if any(len(secret.encode()) < 16 for secret in agent.secrets):
            raise ConfigError(
                f"config key api.wallet_agents[{agent.agent_id}].secrets: needs at least 16 bytes"
            )
    if config.postgres.pool_min_size > config.postgres.pool_max_size:
        raise ConfigError("config key postgres.pool_min_size: larger than pool_max_size")
    demo = config.demo
    if demo.enabled:
        if demo.casino_port and (demo.casino_host, demo.casino_port) == (
            demo.game_host,
            demo.game_port,
        ):
            raise ConfigError(
                "config key demo.game_port: the game needs another origin than the casino "
                "(another host name or port)"
            )
        for field, name in (("casino_host", demo.casino_host), ("game_host", demo.game_host)):
            if not _HOST_NAME.fullmatch(name):
                raise ConfigError(f"config key demo.{field}: not a host name: {name!r}")


# A host name or an IPv4 address, as it appears in an origin (no port, no scheme).
_HOST_NAME: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
