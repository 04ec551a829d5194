"""`X-Idempotency-Key` on every write route: one request runs per key, every retry gets its bytes.

A keyed request first reserves its key (a row in `api_idempotency`, in flight), runs, then
stores its response's status and exact body bytes. A retry with the same key and the same
request replays those bytes; one with a different request is 422 IDEMPOTENCY_MISMATCH; one that
arrives while the first still runs waits for it (409 DUPLICATE, retryable, if it takes longer
than `api.idempotency_wait_s`). A request that fails gives its key up, so that a retry runs
afresh; one that died holding it (a killed node) gives it up when its lease ends.

Keys belong to their caller (an API key or a wallet agent) and to the route: the same key on
another route is another key.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.params import HeaderParameter

from api.errors import ApiError
from api.guards import CALLER_STATE, context_of
from protocol.ids import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN
from roomserver.domain.refusal import Refusal
from roomserver.store.api_idempotency import StoredResponse

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="X-Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        required=False,
        description=(
            "Retries with the same key and request get the stored response; the same key with "
            "another request is 422 IDEMPOTENCY_MISMATCH."
        ),
    ),
]

_FIRST_POLL_S: Final = 0.01
_MAX_POLL_S: Final = 0.2


def stored_key(operation: str, key: str) -> str:
    """The key's row name: operations are [a-z_]+, so the first ':' ends the operation."""
    return f"{operation}:{key}"


async def keyed(
    request: Request[Any, Any, Any],
    key: str | None,
    operation: str,
    fingerprint: bytes,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
) -> Response[Any]:
    """Answer a write route, once per idempotency key.

    Args:
        request: The request (its caller is set by the guard).
        key: `X-Idempotency-Key`, or None (the request simply runs).
        operation: The route's name, [a-z_]+.
        fingerprint: `request_hash` of the route's parameters and body.
        run: Does the work and returns the response body (a msgspec-encodable value).
        status_code: The route's success status.

    Returns:
        The JSON response, as the exact bytes stored for the key.

    Raises:
        ApiError: IDEMPOTENCY_MISMATCH (422), or DUPLICATE (409) while the first request with
            the key is still running after the wait; whatever `run` raises.
    """
    if key is None:
        return _json(status_code, msgspec.json.encode(await run()))
    context = context_of(request)
    ledger = context.ledger
    api = context.config.api
    caller: str = request.state[CALLER_STATE]
    name = stored_key(operation, key)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + api.idempotency_wait_s
    delay = _FIRST_POLL_S
    while True:
        claim = await ledger.claim_api_key(caller, name, fingerprint, api.idempotency_lease_s)
        if claim.request_hash != fingerprint:
            raise ApiError(Refusal.IDEMPOTENCY_MISMATCH)
        if claim.response is not None:
            return _replay(claim.response)
        if claim.reservation is not None:
            reservation = claim.reservation
            try:
                body = msgspec.json.encode(await run())
            except BaseException:
                # Nothing is stored for a failed request; shielded so that a cancelled request
                # still frees its key.
                await asyncio.shield(ledger.release_api_key(caller, name, reservation))
                raise
            if await ledger.complete_api_key(caller, name, reservation, status_code, body):
                return _json(status_code, body)
            # The lease ran out while this request ran and a retry took the key over: answer
            # what that one stores, so that every answer for the key is the same.
        if loop.time() >= deadline:
            raise ApiError(
                Refusal.DUPLICATE,
                "a request with this idempotency key is still in flight; retry later",
                retryable=True,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_POLL_S)


def _replay(stored: StoredResponse) -> Response[Any]:
    return _json(stored.status_code, stored.body)


def _json(status_code: int, body: bytes) -> Response[Any]:
    return Response(body, status_code=status_code, media_type=MediaType.JSON)
