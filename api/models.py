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
    """The process is up: its version and the server's current time."""

    status: Literal["ok"]
    version: str
    time: UtcTime


class Readiness(Body, frozen=True):
    """The node can serve: PostgreSQL answers, and Redis too when one is configured."""

    status: Literal["ready"]
    postgres: Literal["ok"]
    redis: Literal["ok", "not_configured"]


class NodeInfo(Body, frozen=True):
    """One roomserver node: its public WebSocket URL, version and current load."""

    node_id: str
    public_url: str
    version: str
    connections: int
    rooms: int


class ServerInfo(Body, frozen=True):
    """The node that answered (its URL, version and load) and every live node."""

    node_id: str
    public_url: str
    version: str
    connections: int
    rooms: int
    nodes: list[NodeInfo]


# ---------------------------------------------------------------- tournaments


class PrizeSpec(Body, frozen=True):
    """The prize for each rank from `rank_from` to `rank_to` (inclusive), in minor units."""

    rank_from: Annotated[int, Meta(ge=1, le=10**6)]
    rank_to: Annotated[int, Meta(ge=1, le=10**6)]
    amount: Money


class CreateTournament(Body, frozen=True):
    """A new tournament: its kind, game, currency, money rules, prizes and schedule."""

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
    """A tournament's configuration and status, with the hash of its server seed."""

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
    """A registered player: rank, score, chip balance, spins played and whether online."""

    player_id: str
    name: str
    score: int
    rank: int
    balance: int
    spins: int
    online: bool


class PlayersPage(Body, frozen=True):
    """One page of a tournament's registered players in rank order."""

    tournament_id: str
    players: list[PlayerView]
    total: int
    limit: int
    offset: int


class RegisterPlayer(Body, frozen=True):
    """The player to register; `name` and `currency` create one the server does not know."""

    player_id: Id
    name: Text | None = None
    currency: Currency | None = None


class Registration(Body, frozen=True):
    """The player's registration and chip balance (`already_registered`: nothing moved)."""

    tournament_id: str
    player_id: str
    status: Literal["registered", "already_registered"]
    chips: int


class HopOff(Body, frozen=True):
    """A player's exit from a tournament: the chips given back and the buy-in refunded."""

    tournament_id: str
    player_id: str
    status: Literal["unregistered"]
    chips_returned: int
    refund: int
    currency: str


class StatusView(Body, frozen=True):
    """A tournament's status, players, spins and turnover, and the node owning its room."""

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
    """One player's rank and score in the standings."""

    rank: int
    player_id: str
    name: str
    score: int


class LeaderboardPage(Body, frozen=True):
    """One page of a tournament's standings."""

    tournament_id: str
    entries: list[LeaderboardRow]
    total: int
    limit: int
    offset: int


class GameServerResult(Body, frozen=True):
    """A game server's result for a player: exactly one of `score_delta` or `score`."""

    result_id: Id
    player_id: Id
    score_delta: Score | None = None
    score: Score | None = None


class AppliedResult(Body, frozen=True):
    """A result as applied: the player's score and rank (`replayed`: a repeat)."""

    result_id: str
    tournament_id: str
    player_id: str
    score: int
    status: Literal["applied"]
    rank: int | None = None
    replayed: bool = False


# ---------------------------------------------------------------- tokens


class ValidateToken(Body, frozen=True):
    """A player access token (JWT) to check."""

    token: Annotated[str, Meta(min_length=1, max_length=8192)]


class ResponsibleGaming(Body, frozen=True):
    """The responsible-gaming claims of a token (null: no limit)."""

    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None


class TokenClaims(Body, frozen=True):
    """The claims of a valid player token."""

    sub: str
    name: str
    currency: str
    geo: str | None
    rg: ResponsibleGaming
    jti: str | None


class TokenValidity(Body, frozen=True):
    """A valid token: its player, its claims and when it expires."""

    valid: Literal[True]
    player_id: str
    claims: TokenClaims
    expires_at: UtcTime


# ---------------------------------------------------------------- wallet, agent style


class GetBalance(Body, frozen=True):
    """Whose cash balance to read, and in which currency."""

    player_id: Id
    currency: Currency


class BalanceView(Body, frozen=True):
    """A player's cash balance in minor units."""

    balance: int
    currency: str


class MakeBet(Body, frozen=True):
    """A bet and its win in one transaction, debited and credited on the player's cash."""

    transaction_id: Id
    round_id: Id
    player_id: Id
    currency: Currency
    bet: Money
    win: Money = 0
    game_id: Text | None = None
    session_id: Text | None = None


class BetTaken(Body, frozen=True):
    """A `makeBet` that was booked: the player's cash balance after the bet and the win."""

    balance: int
    transaction_id: str
    currency: str


class RollbackBet(Body, frozen=True):
    """The `makeBet` transaction to reverse, and the id of the reversal."""

    transaction_id: Id
    rollback_transaction_id: Id


class RollbackDone(Body, frozen=True):
    """A rollback: `rolled_back` with the new balance, or `tombstoned` (a bet never seen)."""

    transaction_id: str
    rollback_transaction_id: str
    status: Literal["rolled_back", "tombstoned"]
    balance: int | None
    currency: str | None


# ---------------------------------------------------------------- wallet, two-phase


class AuthorizeBet(Body, frozen=True):
    """A stake to hold for a bet: the player by `player_id` or by `session_id`."""

    bet_id: Id
    round_id: Id
    amount: PositiveMoney
    player_id: Id | None = None
    session_id: Text | None = None


class HoldView(Body, frozen=True):
    """An authorized bet: the stake held and the player's available cash balance."""

    status: Literal["authorized"]
    hold_id: str
    bet_id: str
    round_id: str
    player_id: str
    amount: int
    balance: int
    currency: str


class SettleBet(Body, frozen=True):
    """The win to credit when capturing a bet's hold (`round_id`, if sent, must match)."""

    bet_id: Id
    win: Money
    round_id: Id | None = None


class ReleaseBet(Body, frozen=True):
    """The bet whose hold to release."""

    bet_id: Id


class Resolution(Body, frozen=True):
    """A bet's hold settled (captured, win credited) or rolled back, and the cash balance."""

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
    """A player's final rank and score, and the prize paid."""

    rank: int
    player_id: str
    name: str
    score: int
    prize: int


class RefundView(Body, frozen=True):
    """The buy-in given back to a player when a tournament was cancelled."""

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
    """A tournament's money in one currency (minor units)."""

    currency: str
    spins_total: int
    turnover: int
    wins: int
    ggr: int
    buy_ins: int
    refunds: int
    prizes_paid: int


class TournamentReportView(Body, frozen=True):
    """A tournament's spins and money: turnover, wins, GGR and prizes paid."""

    tournament_id: str
    status: TournamentStatus
    spins_total: int
    turnover: int
    wins: int
    ggr: int
    prizes_paid: int
    per_currency: list[CurrencyReport]


class SpinOutcomeView(Body, frozen=True):
    """A spin's reels (symbols and stops), the paying rule and the win."""

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
    """A player's responsible-gaming flag and limits (null: no limit)."""

    player_id: str
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None
