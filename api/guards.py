"""Route guards: who may call (API key and scope, or a wallet agent's signature), and how often.

A route says what it needs in its `opt`: `scope` (an API scope) or `signed` (a wallet callback),
`rate` (its rate-limit category) and optionally `max_body_bytes` (else `api.max_body_bytes`).
Guards run before the body is read, and bound what will be read.
"""

import time
from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.context import ApiContext
from api.limits import limit_body
from api.rate_limits import RateCategory
from roomserver.config import ApiScope

CALLER_STATE = "caller"


def scoped(scope: ApiScope, rate: RateCategory = "default") -> dict[str, Any]:
    """The `opt` of a route called with an API key that has `scope`, counted against `rate`."""
    return {"scope": scope, "rate": rate}


def context_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiContext:
    """The node's services (kept in the application state)."""
    return cast(ApiContext, connection.app.state["context"])


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Check the API key or the signature the route asks for, then count the request."""
    context = context_of(connection)
    opt = handler.opt
    if isinstance(connection, Request):
        api = context.config.api
        limit_body(connection, opt.get("max_body_bytes", api.max_body_bytes), api.max_json_depth)
    rate = cast(RateCategory, opt.get("rate", "default"))
    if "scope" in opt:
        caller = context.api_keys.authenticate(
            connection.headers.get("x-api-key"), cast(ApiScope, opt["scope"])
        )
        caller = f"key:{caller}"
    elif opt.get("signed"):
        assert isinstance(connection, Request)
        body = await connection.body()
        agent_id = await context.signatures.verify(connection.headers, body, time.time())
        caller = f"agent:{agent_id}"
    else:
        return
    connection.state[CALLER_STATE] = caller
    await context.rate_limiter.hit(rate, caller)
