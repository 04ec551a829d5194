"""Health, readiness, metrics, server info, token validation and the OpenAPI document."""

import datetime as dt
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.params import JSONBody
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import ApiError, error_responses
from api.guards import context_of, scoped
from api.models import (
    Health,
    NodeInfo,
    Readiness,
    ResponsibleGaming,
    ServerInfo,
    TokenClaims,
    TokenValidity,
    ValidateToken,
)
from roomserver.gateway.tokens import TokenRejected


@get("/health", summary="Liveness", responses=error_responses(429, 500))
async def health(request: Request[Any, Any, Any]) -> Health:
    """The process is up."""
    return Health(status="ok", version=context_of(request).version, time=dt.datetime.now(dt.UTC))


@get(
    "/ready", summary="Readiness", responses=error_responses(500) | {503: error_responses(500)[500]}
)
async def ready(request: Request[Any, Any, Any]) -> Readiness:
    """Postgres (and Redis when configured) answer."""
    context = context_of(request)
    try:
        await context.ledger.ping()
    except Exception:
        raise ApiError("NOT_READY", "postgres is not answering", status=503) from None
    redis_state: Any = "not_configured"
    if context.redis is not None:
        try:
            await context.redis.ping()
        except Exception:
            raise ApiError("NOT_READY", "redis is not answering", status=503) from None
        redis_state = "ok"
    return Readiness(status="ready", postgres="ok", redis=redis_state)


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Connections, rooms, spins, spin latency, frames sent, errors by code, the outbox backlog."""
    body = generate_latest(context_of(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@get(
    "/internal/server-info",
    summary="This node",
    opt=scoped("tournaments:read"),
    security=[{"ApiKey": []}],
    responses=error_responses(401, 403, 429),
)
async def server_info(request: Request[Any, Any, Any]) -> ServerInfo:
    """Public WebSocket URL, load and version.

    `nodes` lists every live node with the load of its last heartbeat (every two seconds), this
    one first with its load now; a single node lists itself.
    """
    context = context_of(request)
    node = NodeInfo(
        node_id=context.node_id,
        public_url=context.config.server.public_url,
        version=context.version,
        connections=len(context.hub.sessions),
        rooms=len(context.rooms),
    )
    others = [
        NodeInfo(
            node_id=other.node_id,
            public_url=other.public_url,
            version=other.version,
            connections=other.connections,
            rooms=other.rooms,
        )
        for other in await context.nodes.live()
        if other.node_id != node.node_id
    ]
    return ServerInfo(
        node_id=node.node_id,
        public_url=node.public_url,
        version=node.version,
        connections=node.connections,
        rooms=node.rooms,
        nodes=[node, *others],
    )


@post(
    "/internal/auth/validate-token",
    summary="Validate a player token",
    status_code=200,
    opt=scoped("auth:validate", "token_validation"),
    security=[{"ApiKey": []}],
    responses=error_responses(400, 401, 403, 429),
)
async def validate_token(
    request: Request[Any, Any, Any], data: JSONBody[ValidateToken]
) -> TokenValidity:
    """The token's player and claims, or 401 with the reason."""
    try:
        claims = context_of(request).tokens.verify(data.token)
    except TokenRejected as rejected:
        code = "TOKEN_EXPIRED" if "expired" in str(rejected) else "TOKEN_INVALID"
        raise ApiError(code, str(rejected)) from None
    return TokenValidity(
        valid=True,
        player_id=claims.player_id,
        claims=TokenClaims(
            sub=claims.player_id,
            name=claims.name,
            currency=claims.currency,
            geo=claims.geo,
            rg=ResponsibleGaming(
                self_excluded=claims.self_excluded,
                loss_limit=claims.loss_limit,
                session_limit_min=claims.session_limit_min,
            ),
            jti=claims.token_id,
        ),
        expires_at=dt.datetime.fromtimestamp(claims.expires_at, dt.UTC),
    )


@get("/openapi.json", summary="This document", include_in_schema=False)
async def openapi_document(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The OpenAPI 3 document, generated from the route and body types."""
    return Response(request.app.openapi_schema.to_schema())


ROUTES: Final = [health, ready, metrics, server_info, validate_token, openapi_document]
