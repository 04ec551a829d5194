"""Signed wallet callbacks: agent style (`/wallet/...`) and two-phase (`/v1/bets/...`).

Both styles call the ledger functions the spins use; nothing about money is decided here.
"""

from typing import Any, Final

import msgspec
from litestar import Request, Response, post
from litestar.params import JSONBody

from api.errors import ApiError, error_responses
from api.guards import CALLER_STATE, context_of
from api.idempotency import IdempotencyKey, keyed
from api.models import (
    AuthorizeBet,
    BalanceView,
    BetTaken,
    GetBalance,
    HoldView,
    MakeBet,
    ReleaseBet,
    Resolution,
    RollbackBet,
    RollbackDone,
    SettleBet,
)
from roomserver.domain.fingerprint import fingerprint
from roomserver.gateway.tokens import TokenRejected

SIGNED: Final[list[dict[str, list[str]]]] = [
    {"AgentId": [], "Timestamp": [], "Nonce": [], "Signature": []}
]
_OPT: Final = {"signed": True, "rate": "default"}
_ERRORS: Final = error_responses(400, 401, 403, 404, 409, 413, 422, 429)


def _signed_post(path: str, summary: str) -> post:
    """A wallet callback: POST, signed by an agent, answered 200."""
    return post(
        path, summary=summary, status_code=200, opt=_OPT, security=SIGNED, responses=_ERRORS
    )


def _agent(request: Request[Any, Any, Any]) -> str:
    caller: str = request.state[CALLER_STATE]
    return caller.removeprefix("agent:")


@_signed_post("/wallet/getBalance", "A player's cash balance")
async def get_balance(request: Request[Any, Any, Any], data: JSONBody[GetBalance]) -> BalanceView:
    """The player's cash in `currency`."""
    balance = await context_of(request).wallet.balance(data.player_id, data.currency)
    return BalanceView(balance=balance, currency=data.currency)


@_signed_post("/wallet/makeBet", "Debit a bet and credit its win")
async def make_bet(
    request: Request[Any, Any, Any],
    data: JSONBody[MakeBet],
    idempotency_key: IdempotencyKey = None,
) -> Response[BetTaken]:
    """Take a bet's stake from the player's cash, in one ledger transaction.

    Idempotent by `transaction_id` (same body: the stored response; different body: 422), and
    by `X-Idempotency-Key` when sent. A transaction id already rolled back is refused (409).
    """

    async def run() -> BetTaken:
        response = await context_of(request).wallet.make_bet(
            _agent(request),
            transaction_id=data.transaction_id,
            round_id=data.round_id,
            player_id=data.player_id,
            currency=data.currency,
            bet=data.bet,
            win=data.win,
            game_id=data.game_id,
            session_id=data.session_id,
        )
        return msgspec.json.decode(response, type=BetTaken)

    return await keyed(request, idempotency_key, "make_bet", fingerprint(data), run)


@_signed_post("/wallet/rollback", "Reverse a bet once")
async def rollback(
    request: Request[Any, Any, Any],
    data: JSONBody[RollbackBet],
    idempotency_key: IdempotencyKey = None,
) -> Response[RollbackDone]:
    """Return a bet's stake.

    An unknown transaction id is tombstoned (a late bet with it is
    refused); a round already settled with a win is refused (409). Idempotent by
    `rollback_transaction_id`, and by `X-Idempotency-Key` when sent.
    """

    async def run() -> RollbackDone:
        response = await context_of(request).wallet.rollback(
            _agent(request), data.transaction_id, data.rollback_transaction_id
        )
        return msgspec.json.decode(response, type=RollbackDone)

    return await keyed(request, idempotency_key, "wallet_rollback", fingerprint(data), run)


@_signed_post("/v1/bets/authorize", "Hold a stake")
async def authorize(
    request: Request[Any, Any, Any],
    data: JSONBody[AuthorizeBet],
    idempotency_key: IdempotencyKey = None,
) -> Response[HoldView]:
    """Hold a stake: it leaves the available balance until settled or rolled back.

    The player is
    `player_id`, or the player of `session_id` (the player's access token). Idempotent by
    `bet_id`, and by `X-Idempotency-Key` when sent.
    """
    context = context_of(request)
    player_id = data.player_id
    if player_id is None:
        if data.session_id is None:
            raise ApiError("BAD_REQUEST", "send player_id or session_id", status=400)
        try:
            player_id = context.tokens.verify(data.session_id).player_id
        except TokenRejected as rejected:
            raise ApiError("UNPROCESSABLE", f"session_id: {rejected}") from None

    async def run() -> HoldView:
        response = await context.wallet.authorize(
            _agent(request),
            bet_id=data.bet_id,
            round_id=data.round_id,
            player_id=player_id,
            session_id=data.session_id,
            amount=data.amount,
        )
        return msgspec.json.decode(response, type=HoldView)

    return await keyed(request, idempotency_key, "authorize_bet", fingerprint(data), run)


@_signed_post("/v1/bets/settle", "Capture a hold and credit the win")
async def settle(
    request: Request[Any, Any, Any],
    data: JSONBody[SettleBet],
    idempotency_key: IdempotencyKey = None,
) -> Response[Resolution]:
    """Settle a held bet, exactly once.

    Without an authorize 404, after a rollback 409. Idempotent by `bet_id`, and by
    `X-Idempotency-Key` when sent.
    """

    async def run() -> Resolution:
        response = await context_of(request).wallet.resolve(
            _agent(request), data.bet_id, "settle", round_id=data.round_id, win=data.win
        )
        return msgspec.json.decode(response, type=Resolution)

    return await keyed(request, idempotency_key, "settle_bet", fingerprint(data), run)


@_signed_post("/v1/bets/rollback", "Release a hold")
async def release(
    request: Request[Any, Any, Any],
    data: JSONBody[ReleaseBet],
    idempotency_key: IdempotencyKey = None,
) -> Response[Resolution]:
    """Release a held bet's stake, exactly once.

    Without an authorize 404, after a settle 409. Idempotent by `bet_id`, and by
    `X-Idempotency-Key` when sent.
    """

    async def run() -> Resolution:
        response = await context_of(request).wallet.resolve(
            _agent(request), data.bet_id, "rollback", round_id=None, win=0
        )
        return msgspec.json.decode(response, type=Resolution)

    return await keyed(request, idempotency_key, "release_bet", fingerprint(data), run)


ROUTES: Final = [get_balance, make_bet, rollback, authorize, settle, release]
