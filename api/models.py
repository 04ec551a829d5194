"""Request and response bodies of the side API; the OpenAPI document is generated from these."""

import datetime as dt
from typing import Annotated, Literal

from msgspec import Meta, Struct

from protocol.ids import Id, Scoring, TournamentStatus
from roomserver.domain.tournament import TournamentKind

Text = Annotated[str, Meta(min_length=1, max_length=128)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO-4217")]
Money = Annotated[int, Meta(ge=0, le=10**15, description="integer minor units")]
PositiveMoney = Annotated[int, Meta(ge=1, le=10**15, description="integer minor units")]
Score = Annotated[int, Meta(ge=-(10**15), le=10**15)]
UtcTime = Annotated[dt.datetime, Meta(tz=True)]


class Body(Struct, frozen=True, forbid_unknown_fields=False):
    """Base of bodies: unknown fields are ignored (forward compatibility)."""


# ---------------------------------------------------------------- operations


class Health(Body, frozen=True):
    status: Literal["ok"]
    version: str
    time: UtcTime


class Readiness(Body, frozen=True):
    status: Literal["ready"]
    postgres: Literal["ok"]
    redis: Literal["ok", "not_configured"]


class NodeInfo(Body, frozen=True):
    node_id: str
    public_url: str
    version: str
    connections: int
    rooms: int


class ServerInfo(Body, frozen=True):
    node_id: str
    public_url: str
    version: str
    connections: int
    rooms: int
    nodes: list[NodeInfo]


# ---------------------------------------------------------------- tournaments


class PrizeSpec(Body, frozen=True):
    rank_from: Annotated[int, Meta(ge=1, le=10**6)]
    rank_to: Annotated[int, Meta(ge=1, le=10**6)]
    amount: Money


class CreateTournament(Body, frozen=True):
    kind: TournamentKind
    name: Text
    game_id: Text
    currency: Currency
    starting_chips: Money
    min_stake: PositiveMoney
    max_stake: PositiveMoney
    max_players: Annotated[int, Meta(ge=1, le=10**6)]
    buy_in: Money = 0
    scoring: Scoring = "total_win"
    prizes: Annotated[list[PrizeSpec], Meta(max_length=100)] = []
    leaderboard_size: Annotated[int, Meta(ge=1, le=1000)] = 10
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None
    tournament_id: Id | None = None


class TournamentView(Body, frozen=True):
    tournament_id: str
    kind: TournamentKind
    status: TournamentStatus
    name: str
    game_id: str
    currency: str
    buy_in: int
    starting_chips: int
    min_stake: int
    max_stake: int
    max_players: int
    scoring: Scoring
    prizes: list[PrizeSpec]
    leaderboard_size: int
    starts_at: UtcTime | None
    ends_at: UtcTime | None
    server_seed_hash: str
    # Revealed once the tournament is completed or cancelled (hex; its SHA-256 is the hash).
    server_seed: str | None = None


class PlayerView(Body, frozen=True):
    player_id: str
    name: str
    score: int
    rank: int
    balance: int
    spins: int
    online: bool


class PlayersPage(Body, frozen=True):
    tournament_id: str
    players: list[PlayerView]
    total: int
    limit: int
    offset: int


class RegisterPlayer(Body, frozen=True):
    player_id: Id
    name: Text | None = None
    currency: Currency | None = None


class Registration(Body, frozen=True):
    tournament_id: str
    player_id: str
    status: Literal["registered", "already_registered"]
    chips: int


class HopOff(Body, frozen=True):
    tournament_id: str
    player_id: str
    status: Literal["unregistered"]
    chips_returned: int
    refund: int
    currency: str


class StatusView(Body, frozen=True):
    tournament_id: str
    status: TournamentStatus
    kind: TournamentKind
    players_registered: int
    players_online: int
    spins: int
    turnover: int
    currency: str
    owner_node: str | None
    starts_at: UtcTime | None
    ends_at: UtcTime | None


class LeaderboardRow(Body, frozen=True):
    rank: int
    player_id: str
    name: str
    score: int


class LeaderboardPage(Body, frozen=True):
    tournament_id: str
    entries: list[LeaderboardRow]
    total: int
    limit: int
    offset: int


class GameServerResult(Body, frozen=True):
    result_id: Id
    player_id: Id
    score_delta: Score | None = None
    score: Score | None = None


class AppliedResult(Body, frozen=True):
    result_id: str
    tournament_id: str
    player_id: str
    score: int
    status: Literal["applied"]
    rank: int | None = None
    replayed: bool = False


# ---------------------------------------------------------------- tokens


class ValidateToken(Body, frozen=True):
    token: Annotated[str, Meta(min_length=1, max_length=8192)]


class ResponsibleGaming(Body, frozen=True):
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None


class TokenClaims(Body, frozen=True):
    sub: str
    name: str
    currency: str
    geo: str | None
    rg: ResponsibleGaming
    jti: str | None


class TokenValidity(Body, frozen=True):
    valid: Literal[True]
    player_id: str
    claims: TokenClaims
    expires_at: UtcTime


# ---------------------------------------------------------------- wallet, agent style


class GetBalance(Body, frozen=True):
    player_id: Id
    currency: Currency


class BalanceView(Body, frozen=True):
    balance: int
    currency: str


class MakeBet(Body, frozen=True):
    transaction_id: Id
    round_id: Id
    player_id: Id
    currency: Currency
    bet: Money
    win: Money = 0
    game_id: Text | None = None
    session_id: Text | None = None


class BetTaken(Body, frozen=True):
    balance: int
    transaction_id: str
    currency: str


class RollbackBet(Body, frozen=True):
    transaction_id: Id
    rollback_transaction_id: Id


class RollbackDone(Body, frozen=True):
    transaction_id: str
    rollback_transaction_id: str
    status: Literal["rolled_back", "tombstoned"]
    balance: int | None
    currency: str | None


# ---------------------------------------------------------------- wallet, two-phase


class AuthorizeBet(Body, frozen=True):
    bet_id: Id
    round_id: Id
    amount: PositiveMoney
    player_id: Id | None = None
    session_id: Text | None = None


class HoldView(Body, frozen=True):
    status: Literal["authorized"]
    hold_id: str
    bet_id: str
    round_id: str
    player_id: str
    amount: int
    balance: int
    currency: str


class SettleBet(Body, frozen=True):
    bet_id: Id
    win: Money
    round_id: Id | None = None


class ReleaseBet(Body, frozen=True):
    bet_id: Id


class Resolution(Body, frozen=True):
    status: Literal["settled", "rolled_back"]
    hold_id: str
    bet_id: str
    round_id: str
    amount: int
    win: int
    balance: int
    currency: str


# ---------------------------------------------------------------- lifecycle, audit, RG


class ClosingStandingView(Body, frozen=True):
    rank: int
    player_id: str
    name: str
    score: int
    prize: int


class RefundView(Body, frozen=True):
    player_id: str
    amount: int


class ClosingView(Body, frozen=True):
    """How a tournament ended: completed (standings, prizes) or cancelled (refunds)."""

    tournament_id: str
    status: TournamentStatus
    currency: str
    server_seed: str
    server_seed_hash: str
    standings: list[ClosingStandingView] = []
    prize_pool: int | None = None
    prizes_paid: int | None = None
    refunds: list[RefundView] = []
    refunds_paid: int | None = None


class CurrencyReport(Body, frozen=True):
    currency: str
    spins_total: int
    turnover: int
    wins: int
    ggr: int
    buy_ins: int
    refunds: int
    prizes_paid: int


class TournamentReportView(Body, frozen=True):
    tournament_id: str
    status: TournamentStatus
    spins_total: int
    turnover: int
    wins: int
    ggr: int
    prizes_paid: int
    per_currency: list[CurrencyReport]


class SpinOutcomeView(Body, frozen=True):
    symbols: list[str]
    stops: list[int]
    multiplier: int
    rule: str | None
    win: int


class SpinReplay(Body, frozen=True):
    """A spin played again from its recorded inputs."""

    match: bool
    spin_id: str
    tournament_id: str
    player_id: str
    math_version: str
    client_seed: str
    nonce: int
    stake: int
    server_seed_hash: str
    seed_matches_hash: bool
    recorded: SpinOutcomeView
    recomputed: SpinOutcomeView | None
    # The seed itself only once the tournament is over (before that it would reveal outcomes).
    server_seed: str | None = None
    reason: str | None = None


class RgSettingsBody(Body, frozen=True):
    """A player's responsible-gaming flag and limits (null: no limit)."""

    self_excluded: bool
    loss_limit: Money | None = None
    session_limit_min: Annotated[int, Meta(gt=0, le=100000)] | None = None


class RgSettingsView(Body, frozen=True):
    player_id: str
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None
