"""Tournament System, Casino System and game servers: tournaments, players, results."""

import datetime as dt
import hashlib
from typing import Any, Final

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import JSONBody

from api.errors import ApiError, error_responses
from api.guards import CALLER_STATE, context_of, scoped
from api.idempotency import IdempotencyKey, keyed
from api.models import (
    AppliedResult,
    ClosingView,
    CreateTournament,
    GameServerResult,
    HopOff,
    LeaderboardPage,
    LeaderboardRow,
    PlayersPage,
    PlayerView,
    PrizeSpec,
    RegisterPlayer,
    Registration,
    StatusView,
    TournamentView,
)
from api.routes.params import API_KEY, Limit, Offset, PlayerId, TournamentId
from roomserver.domain.fingerprint import fingerprint
from roomserver.domain.lifecycle import FINAL_STATUSES
from roomserver.domain.refusal import Refusal, Refused
from roomserver.domain.tournament import Prize, Tournament, TournamentConfig


def tournament_view(tournament: Tournament) -> TournamentView:
    """A tournament's configuration as the API shows it."""
    config = tournament.config
    return TournamentView(
        tournament_id=config.tournament_id,
        kind=config.kind,
        status=tournament.status,
        name=config.name,
        game_id=config.game_id,
        currency=config.currency,
        buy_in=config.buy_in,
        starting_chips=config.starting_chips,
        min_stake=config.min_stake,
        max_stake=config.max_stake,
        max_players=config.max_players,
        scoring=config.scoring,
        prizes=[PrizeSpec(p.rank_from, p.rank_to, p.amount) for p in config.prizes],
        leaderboard_size=config.leaderboard_size,
        starts_at=config.starts_at,
        ends_at=config.ends_at,
        server_seed_hash=tournament.server_seed_hash,
        server_seed=tournament.server_seed.hex() if tournament.status in FINAL_STATUSES else None,
    )


def _checked_config(body: CreateTournament, tournament_id: str) -> TournamentConfig:
    if body.max_stake < body.min_stake:
        raise ApiError("UNPROCESSABLE", "max_stake is below min_stake")
    if body.kind == "scheduled" and (body.starts_at is None or body.ends_at is None):
        raise ApiError("UNPROCESSABLE", "a scheduled tournament needs starts_at and ends_at")
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise ApiError("UNPROCESSABLE", "ends_at must be after starts_at")
    for prize in body.prizes:
        if prize.rank_to < prize.rank_from:
            raise ApiError("UNPROCESSABLE", "a prize's rank_to is below its rank_from")
    return TournamentConfig(
        tournament_id=tournament_id,
        kind=body.kind,
        name=body.name,
        game_id=body.game_id,
        currency=body.currency,
        buy_in=body.buy_in,
        starting_chips=body.starting_chips,
        min_stake=body.min_stake,
        max_stake=body.max_stake,
        max_players=body.max_players,
        scoring=body.scoring,
        leaderboard_size=body.leaderboard_size,
        prizes=tuple(Prize(p.rank_from, p.rank_to, p.amount) for p in body.prizes),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )


def _derived_id(caller: str, idempotency_key: str) -> str:
    return "t_" + hashlib.sha256(f"{caller}\0{idempotency_key}".encode()).hexdigest()[:24]


@post(
    "/internal/tournaments",
    summary="Create a tournament",
    status_code=201,
    opt=scoped("tournaments:write"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 409, 413, 422, 429),
)
async def create_tournament(
    request: Request[Any, Any, Any],
    data: JSONBody[CreateTournament],
    idempotency_key: IdempotencyKey = None,
) -> Response[TournamentView]:
    """A `scheduled` tournament waits for `starts_at`; a `hop_on_off` one runs at once.

    With `X-Idempotency-Key`, a retry returns the stored response byte for byte (same body) or
    422 IDEMPOTENCY_MISMATCH (another body).
    """
    context = context_of(request)
    caller: str = request.state[CALLER_STATE]
    digest = fingerprint(data)

    async def run() -> TournamentView:
        tournament_id = data.tournament_id
        if tournament_id is None and idempotency_key:
            # The same key always names the same tournament, so a retry whose first try created
            # it but died before storing the response finds it instead of making another.
            tournament_id = _derived_id(caller, idempotency_key)
        if tournament_id is None:
            tournament_id = (
                "t_"
                + hashlib.sha256(
                    msgspec.json.encode([caller, digest, dt.datetime.now(dt.UTC).isoformat()])
                ).hexdigest()[:24]
            )
        config = _checked_config(data, tournament_id)
        try:
            tournament = await context.tournaments.create(config)
        except Refused as refused:
            if refused.refusal is not Refusal.DUPLICATE or not idempotency_key:
                raise
            # Created by an earlier try with this key: the same configuration is the same
            # request.
            tournament = await context.tournaments.tournament(config.tournament_id)
            if tournament.config != config:
                raise ApiError(Refusal.IDEMPOTENCY_MISMATCH) from None
        return tournament_view(tournament)

    return await keyed(request, idempotency_key, "create_tournament", digest, run, 201)


@get(
    "/internal/tournaments/{tournament_id:str}/config",
    summary="A tournament's configuration",
    opt=scoped("tournaments:read", "tournament_config"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def tournament_config(
    request: Request[Any, Any, Any], tournament_id: TournamentId
) -> TournamentView:
    """The configuration and status of one tournament."""
    return tournament_view(await context_of(request).tournaments.tournament(tournament_id))


@get(
    "/internal/tournaments/{tournament_id:str}/players",
    summary="Registered players",
    opt=scoped("tournaments:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def list_players(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PlayersPage:
    """Players in rank order with score, chip balance and whether they are online."""
    context = context_of(request)
    total, rows = await context.tournaments.ranked_page(tournament_id, limit, offset)
    return PlayersPage(
        tournament_id=tournament_id,
        players=[
            PlayerView(
                player_id=row.player_id,
                name=row.name,
                score=row.score,
                rank=row.rank,
                balance=row.chips,
                spins=row.spins,
                online=context.tournaments.online(tournament_id, row.player_id),
            )
            for row in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@post(
    "/internal/tournaments/{tournament_id:str}/players",
    summary="Register a player",
    status_code=200,
    opt=scoped("tournaments:write"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429),
)
async def register_player(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    data: JSONBody[RegisterPlayer],
    idempotency_key: IdempotencyKey = None,
) -> Response[Registration]:
    """Debit the buy-in from the player's cash, credit the starting chips; idempotent.

    A player unknown to the server is created with `name` and `currency` (default: the
    tournament's currency). Without `X-Idempotency-Key` a repeat answers `already_registered`;
    with it, a retry returns the first response byte for byte.
    """

    async def run() -> Registration:
        registration = await context_of(request).tournaments.register(
            tournament_id, data.player_id, data.name, data.currency
        )
        return Registration(
            tournament_id=tournament_id,
            player_id=data.player_id,
            status="registered" if registration.created else "already_registered",
            chips=registration.chips,
        )

    digest = fingerprint([tournament_id, data])
    return await keyed(request, idempotency_key, "register_player", digest, run)


@delete(
    "/internal/tournaments/{tournament_id:str}/players/{player_id:str}",
    summary="Hop off / unregister a player",
    status_code=200,
    opt=scoped("tournaments:write"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
)
async def hop_off(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    player_id: PlayerId,
    idempotency_key: IdempotencyKey = None,
) -> Response[HopOff]:
    """Leave the tournament, with the refund the rules give.

    Refund: the whole buy-in before it starts; while a hop-on/hop-off
    tournament runs, the buy-in in proportion to the chips left (at most the buy-in). A running
    scheduled tournament cannot be left (409). Repeats return the stored response.
    """

    async def run() -> HopOff:
        response = await context_of(request).tournaments.hop_off(tournament_id, player_id)
        return msgspec.json.decode(response, type=HopOff)

    digest = fingerprint([tournament_id, player_id])
    return await keyed(request, idempotency_key, "hop_off", digest, run)


@get(
    "/internal/tournaments/{tournament_id:str}/status",
    summary="Tournament status",
    opt=scoped("tournaments:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def tournament_status(
    request: Request[Any, Any, Any], tournament_id: TournamentId
) -> StatusView:
    """Status, players registered and online, spins, turnover, and the node owning the room."""
    status = await context_of(request).tournaments.status(tournament_id)
    config = status.tournament.config
    return StatusView(
        tournament_id=tournament_id,
        status=status.tournament.status,
        kind=config.kind,
        players_registered=status.activity.registered,
        players_online=status.players_online,
        spins=status.activity.spins,
        turnover=status.activity.turnover,
        currency=config.currency,
        owner_node=status.owner_node,
        starts_at=config.starts_at,
        ends_at=config.ends_at,
    )


@get(
    "/internal/tournaments/{tournament_id:str}/leaderboard",
    summary="Full standings",
    opt=scoped("tournaments:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def leaderboard(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    limit: Limit = 100,
    offset: Offset = 0,
) -> LeaderboardPage:
    """Standings by the tournament's scoring; ties go to whoever reached the score first."""
    context = context_of(request)
    total, rows = await context.tournaments.ranked_page(tournament_id, limit, offset)
    return LeaderboardPage(
        tournament_id=tournament_id,
        entries=[LeaderboardRow(r.rank, r.player_id, r.name, r.score) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@post(
    "/internal/tournaments/{tournament_id:str}/results",
    summary="Push a game server's result",
    status_code=200,
    opt=scoped("results:write", "results"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429),
)
async def push_result(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    data: JSONBody[GameServerResult],
    idempotency_key: IdempotencyKey = None,
) -> Response[AppliedResult]:
    """Apply `score_delta` (added) or `score` (set) once per `result_id`.

    The room's members see `leaderboard.updated`. A repeat with the same body returns the
    stored result (with `replayed` true and the current rank); with `X-Idempotency-Key`, a
    retry returns the first response byte for byte.
    """
    if (data.score_delta is None) == (data.score is None):
        raise ApiError("BAD_REQUEST", "send exactly one of score_delta and score", status=400)

    async def run() -> AppliedResult:
        applied = await context_of(request).tournaments.apply_result(
            tournament_id,
            data.result_id,
            data.player_id,
            score_delta=data.score_delta,
            score=data.score,
        )
        stored = msgspec.json.decode(applied.response_json, type=AppliedResult)
        return msgspec.structs.replace(stored, rank=applied.rank, replayed=applied.replayed)

    digest = fingerprint([tournament_id, data])
    return await keyed(request, idempotency_key, "push_result", digest, run)


@post(
    "/internal/tournaments/{tournament_id:str}/cancel",
    summary="Cancel a tournament with refunds",
    status_code=200,
    opt=scoped("tournaments:write"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
)
async def cancel_tournament(
    request: Request[Any, Any, Any],
    tournament_id: TournamentId,
    idempotency_key: IdempotencyKey = None,
) -> Response[ClosingView]:
    """Cancel a scheduled or running tournament, refunding every buy-in.

    Every registered player's buy-in goes back to their cash in one transaction, and the server
    seed is revealed. Cancelling is idempotent by
    itself (a repeat returns the same record; with `X-Idempotency-Key`, the first response byte
    for byte); a tournament that is completing or completed cannot be cancelled (409
    TOURNAMENT_FINISHED).
    """

    async def run() -> ClosingView:
        response = await context_of(request).tournaments.cancel(tournament_id)
        return msgspec.json.decode(response, type=ClosingView)

    digest = fingerprint([tournament_id])
    return await keyed(request, idempotency_key, "cancel_tournament", digest, run)


@get(
    "/internal/tournaments/{tournament_id:str}/closing",
    summary="How a tournament ended",
    opt=scoped("tournaments:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def tournament_closing(
    request: Request[Any, Any, Any], tournament_id: TournamentId
) -> ClosingView:
    """How the tournament ended, with the revealed server seed.

    Final standings and prizes paid (completed) or refunds (cancelled); 404 NOT_ENDED while the
    tournament is not over.
    """
    tournaments = context_of(request).tournaments
    await tournaments.tournament(tournament_id)
    response = await tournaments.closing(tournament_id)
    if response is None:
        raise ApiError("NOT_ENDED", "the tournament is not over yet", status=404)
    return msgspec.json.decode(response, type=ClosingView)


ROUTES: Final = [
    create_tournament,
    tournament_config,
    list_players,
    register_player,
    hop_off,
    tournament_status,
    leaderboard,
    push_result,
    cancel_tournament,
    tournament_closing,
]
