"""A tournament as the rules see it: what it is, where it is in its lifecycle, who stands where.

Plain immutable records, pure: the store reads and writes them, the rooms and services pass them
around, nothing here does I/O.
"""

import datetime as dt
from dataclasses import dataclass

import msgspec

from protocol.ids import Scoring, TournamentStatus
from roomserver.domain import lifecycle

TournamentKind = lifecycle.Kind


class Prize(msgspec.Struct, frozen=True):
    """Prize for the ranks `rank_from`..`rank_to` inclusive."""

    rank_from: int
    rank_to: int
    amount: int


@dataclass(frozen=True, slots=True)
class TournamentConfig:
    """What a tournament is; immutable once created."""

    tournament_id: str
    kind: TournamentKind
    name: str
    game_id: str
    currency: str
    buy_in: int
    starting_chips: int
    min_stake: int
    max_stake: int
    max_players: int
    scoring: Scoring
    leaderboard_size: int = 10
    prizes: tuple[Prize, ...] = ()
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Tournament:
    """A tournament with its current status and its RNG seed."""

    config: TournamentConfig
    status: TournamentStatus
    server_seed: bytes
    server_seed_hash: str


@dataclass(frozen=True, slots=True)
class Standing:
    """A registered player's score; ties go to whoever reached the score first."""

    player_id: str
    name: str
    score: int
    reached_at: dt.datetime
    spins: int  # the version of the standing: spins and game-server results applied
