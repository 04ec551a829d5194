"""The side API application: routes, guards, the error body and the OpenAPI document."""

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.context import ApiContext
from api.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_refused,
    handle_unexpected,
)
from api.guards import authenticate
from api.routes import audit, operations, players, tournaments, wallet
from api.tracing import echo_trace_id
from roomserver.domain.refusal import Refused


def _header_key(name: str, description: str) -> SecurityScheme:
    return SecurityScheme(
        type="apiKey", name=name, security_scheme_in="header", description=description
    )


def create_app(context: ApiContext) -> Litestar:
    """The ASGI application serving the side API for one node."""
    openapi = OpenAPIConfig(
        title="roomserver side API",
        version=context.version,
        description="Internal HTTP API of a roomserver node (see API.md).",
        components=Components(
            security_schemes={
                "ApiKey": _header_key("X-Api-Key", "Internal API key"),
                "AgentId": _header_key("X-Agent-Id", "Wallet agent id"),
                "Timestamp": _header_key("X-Timestamp", "Unix seconds, within +-300 s"),
                "Nonce": _header_key("X-Nonce", "Single use within the window"),
                "Signature": _header_key(
                    "X-Signature",
                    'hex(HMAC_SHA256(secret, timestamp + "." + nonce + "." + raw_body))',
                ),
            }
        ),
        path="/schema",
        render_plugins=[],
    )
    return Litestar(
        route_handlers=[
            *operations.ROUTES,
            *tournaments.ROUTES,
            *audit.ROUTES,
            *players.ROUTES,
            *wallet.ROUTES,
        ],
        guards=[authenticate],
        exception_handlers={
            ApiError: handle_api_error,
            Refused: handle_refused,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        before_send=[echo_trace_id],
        # Bodies are bounded as they arrive, by size and JSON depth (api.limits, from the guard),
        # so that a deeply nested body is a 400 even when it is also too long.
        request_max_body_size=None,
        openapi_config=openapi,
        state=State({"context": context}),
        debug=False,
        logging_config=None,
    )
