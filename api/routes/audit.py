"""Audit and reporting: tournament money reports, and spin replay from the recorded inputs."""

from typing import Any, Final

from litestar import Request, get

from api.errors import ApiError, error_responses
from api.guards import context_of, scoped
from api.models import CurrencyReport, SpinOutcomeView, SpinReplay, TournamentReportView
from api.routes.params import API_KEY, SpinId, TournamentId
from roomserver.domain.lifecycle import FINAL_STATUSES
from roomserver.domain.refusal import Refusal
from roomserver.domain.spin_audit import ReelsOutcome, replay_spin


@get(
    "/internal/tournaments/{tournament_id:str}/report",
    summary="A tournament's money report",
    opt=scoped("reports:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def tournament_report(
    request: Request[Any, Any, Any], tournament_id: TournamentId
) -> TournamentReportView:
    """Spins, turnover (stakes), wins, GGR, buy-ins, refunds and prizes paid.

    Summed from the ledger's records; GGR is turnover - wins. `per_currency` lists each
    currency (a tournament has one).
    """
    report = await context_of(request).ledger.tournament_report(tournament_id)
    if report is None:
        raise ApiError(Refusal.NOT_FOUND, f"no tournament {tournament_id!r}")
    return TournamentReportView(
        tournament_id=report.tournament_id,
        status=report.status,
        spins_total=report.spins_total,
        turnover=report.turnover,
        wins=report.wins,
        ggr=report.ggr,
        prizes_paid=report.prizes_paid,
        per_currency=[
            CurrencyReport(
                currency=report.currency,
                spins_total=report.spins_total,
                turnover=report.turnover,
                wins=report.wins,
                ggr=report.ggr,
                buy_ins=report.buy_ins,
                refunds=report.refunds,
                prizes_paid=report.prizes_paid,
            )
        ],
    )


@get(
    "/internal/spins/{spin_id:str}/replay",
    summary="Replay a spin from its recorded inputs",
    opt=scoped("reports:read"),
    security=API_KEY,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def spin_replay(request: Request[Any, Any, Any], spin_id: SpinId) -> SpinReplay:
    """Recompute the spin and compare it with what was recorded.

    The spin is recomputed from the tournament's server seed, the client seed, the nonce and the
    game-math version; `match` says whether reels and win equal what was recorded (both outcomes
    are returned). The seed itself is shown once the tournament is over.
    """
    spin = await context_of(request).ledger.recorded_spin(spin_id)
    if spin is None:
        raise ApiError(Refusal.NOT_FOUND, f"no spin {spin_id}")
    replay = replay_spin(
        server_seed=spin.server_seed,
        server_seed_hash=spin.server_seed_hash,
        client_seed=spin.client_seed,
        nonce=spin.nonce,
        math_version=spin.math_version,
        stake=spin.stake,
        recorded_win=spin.win,
        recorded_outcome_json=spin.outcome_json,
    )
    return SpinReplay(
        match=replay.match,
        spin_id=spin.spin_id,
        tournament_id=spin.tournament_id,
        player_id=spin.player_id,
        math_version=spin.math_version,
        client_seed=spin.client_seed,
        nonce=spin.nonce,
        stake=spin.stake,
        server_seed_hash=spin.server_seed_hash,
        seed_matches_hash=replay.seed_matches_hash,
        recorded=_outcome_view(replay.recorded),
        recomputed=None if replay.recomputed is None else _outcome_view(replay.recomputed),
        server_seed=spin.server_seed.hex() if spin.tournament_status in FINAL_STATUSES else None,
        reason=replay.reason,
    )


def _outcome_view(outcome: ReelsOutcome) -> SpinOutcomeView:
    return SpinOutcomeView(
        symbols=outcome.symbols,
        stops=outcome.stops,
        multiplier=outcome.multiplier,
        rule=outcome.rule,
        win=outcome.win,
    )


ROUTES: Final = [tournament_report, spin_replay]
