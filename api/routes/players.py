"""Players' responsible-gaming settings, set by the Casino System."""

from typing import Any, Final

from litestar import Request, Response, get, put
from litestar.params import JSONBody

from api.errors import ApiError, error_responses
from api.guards import context_of, scoped
from api.idempotency import IdempotencyKey, keyed
from api.models import RgSettingsBody, RgSettingsView
from api.routes.params import API_KEY, PlayerId
from roomserver.domain.fingerprint import fingerprint
from roomserver.domain.refusal import Refusal
from roomserver.store.players import RgSettings


@put(
    "/internal/players/{player_id:str}/rg",
    summary="Set a player's responsible-gaming flag and limits",
    status_code=200,
    opt=scoped("tournaments:write"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429),
)
async def set_rg(
    request: Request[Any, Any, Any],
    player_id: PlayerId,
    data: JSONBody[RgSettingsBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[RgSettingsView]:
    """Replace the player's self-exclusion flag, loss limit and session time limit.

    The loss limit is in minor units per session, the time limit in minutes. The stricter of
    these and the token's `rg` claims applies, checked in the same transaction as each debit;
    settling or rolling back earlier bets is never blocked.
    Setting the flag closes the player's open connections on this node with 4003.
    Idempotent (a PUT); with `X-Idempotency-Key`, a retry returns the first response.
    """

    async def run() -> RgSettingsView:
        settings = RgSettings(
            player_id, data.self_excluded, data.loss_limit, data.session_limit_min
        )
        if not await context_of(request).ledger.set_rg_settings(settings):
            raise ApiError(Refusal.PLAYER_NOT_FOUND, f"no player {player_id!r}")
        if settings.self_excluded:
            context_of(request).hub.close_self_excluded(player_id)
        return _view(settings)

    return await keyed(request, idempotency_key, "set_rg", fingerprint([player_id, data]), run)


@get(
    "/internal/players/{player_id:str}/rg",
    summary="A player's responsible-gaming flag and limits",
    opt=scoped("tournaments:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def get_rg(request: Request[Any, Any, Any], player_id: PlayerId) -> RgSettingsView:
    """The per-player settings (token claims are not included)."""
    settings = await context_of(request).ledger.rg_settings(player_id)
    if settings is None:
        raise ApiError(Refusal.PLAYER_NOT_FOUND, f"no player {player_id!r}")
    return _view(settings)


def _view(settings: RgSettings) -> RgSettingsView:
    return RgSettingsView(
        player_id=settings.player_id,
        self_excluded=settings.self_excluded,
        loss_limit=settings.loss_limit,
        session_limit_min=settings.session_limit_min,
    )


ROUTES: Final = [set_rg, get_rg]
