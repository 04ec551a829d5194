"""Tournaments in Postgres: creation with their accounts, loading, and the lifecycle moves.

The moves are compare-and-set on the status (`move_tournament`), and completion and
cancellation are single idempotent ledger functions, so two nodes racing apply a move once.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol.ids import TournamentStatus
from roomserver.domain import fairness
from roomserver.domain.tournament import Prize, Tournament, TournamentConfig, TournamentKind
from roomserver.store.pool import LedgerReply, PoolStore


@dataclass(frozen=True, slots=True)
class LifecycleCandidate:
    """A tournament that is not over yet, with the database's clock."""

    tournament_id: str
    kind: TournamentKind
    status: TournamentStatus
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    now: dt.datetime


class TournamentStore(PoolStore):
    """Tournaments: create, load, and move through their lifecycle."""

    async def create_tournament(
        self,
        config: TournamentConfig,
        *,
        status: TournamentStatus,
        server_seed: bytes | None = None,
    ) -> bool:
        """Create a tournament with its prize-pool and house accounts; False if it existed.

        `server_seed` is the seed of the tournament's spins, a fresh one when not given; the
        tournament stores its hash (`fairness.server_seed_hash`), published as its commitment.
        """
        if server_seed is None:
            server_seed = fairness.new_server_seed()
        server_seed_hash = fairness.server_seed_hash(server_seed)
        prizes = msgspec.json.encode(list(config.prizes)).decode()
        async with self._pool.acquire() as connection, connection.transaction():
            created = await connection.fetchval(
                """INSERT INTO tournaments (tournament_id, kind, name, game_id, currency, buy_in,
                       starting_chips, min_stake, max_stake, max_players, scoring, prizes,
                       leaderboard_size, status, starts_at, ends_at, server_seed,
                       server_seed_hash)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14,
                           $15, $16, $17, $18)
                   ON CONFLICT (tournament_id) DO NOTHING
                   RETURNING true""",
                config.tournament_id,
                config.kind,
                config.name,
                config.game_id,
                config.currency,
                config.buy_in,
                config.starting_chips,
                config.min_stake,
                config.max_stake,
                config.max_players,
                config.scoring,
                prizes,
                config.leaderboard_size,
                status,
                config.starts_at,
                config.ends_at,
                server_seed,
                server_seed_hash,
            )
            if not created:
                return False
            await connection.executemany(
                """INSERT INTO accounts (kind, owner_id, scope, currency)
                   VALUES ($1, $2, $3, $4)""",
                [
                    ("prize_pool", config.tournament_id, config.tournament_id, config.currency),
                    ("house_chips", "house", config.tournament_id, config.currency),
                ],
            )
            return True

    async def load_tournament(self, tournament_id: str) -> Tournament | None:
        """The tournament, or None."""
        row = await self._pool.fetchrow(
            "SELECT * FROM tournaments WHERE tournament_id = $1", tournament_id
        )
        return None if row is None else _tournament_from_row(row)

    async def lifecycle_candidates(
        self, tournament_id: str | None = None
    ) -> list[LifecycleCandidate]:
        """Tournaments not over yet (all, or the one given), with the database's clock.

        One clock for every node: the database's, not this machine's.
        """
        rows = await self._pool.fetch(
            """SELECT tournament_id, kind, status, starts_at, ends_at, clock_timestamp()
                 FROM tournaments
                WHERE status IN ('scheduled', 'running', 'completing')
                  AND ($1::text IS NULL OR tournament_id = $1)""",
            tournament_id,
        )
        return [LifecycleCandidate(*row) for row in rows]

    async def move_tournament(
        self, tournament_id: str, from_status: TournamentStatus, to_status: TournamentStatus
    ) -> bool:
        """Compare-and-set the status (events written with it); False if another node moved it."""
        moved: bool = await self._pool.fetchval(
            "SELECT move_tournament($1, $2, $3)", tournament_id, from_status, to_status
        )
        return moved

    async def complete_tournament(self, tournament_id: str) -> LedgerReply:
        """Final standings and prizes in one transaction, once; a repeat returns the record."""
        return await self._reply(
            "SELECT status, response::text FROM complete_tournament($1)", tournament_id
        )

    async def cancel_tournament(self, tournament_id: str) -> LedgerReply:
        """Cancel with every buy-in refunded, once; a repeat returns the record."""
        return await self._reply(
            "SELECT status, response::text FROM cancel_tournament($1)", tournament_id
        )

    async def tournament_closing(self, tournament_id: str) -> str | None:
        """How the tournament ended (standings, prizes or refunds, seed), or None."""
        value: str | None = await self._pool.fetchval(
            "SELECT response::text FROM tournament_closings WHERE tournament_id = $1",
            tournament_id,
        )
        return value


def _tournament_from_row(row: Any) -> Tournament:
    config = TournamentConfig(
        tournament_id=row["tournament_id"],
        kind=row["kind"],
        name=row["name"],
        game_id=row["game_id"],
        currency=row["currency"],
        buy_in=row["buy_in"],
        starting_chips=row["starting_chips"],
        min_stake=row["min_stake"],
        max_stake=row["max_stake"],
        max_players=row["max_players"],
        scoring=row["scoring"],
        leaderboard_size=row["leaderboard_size"],
        prizes=tuple(msgspec.json.decode(row["prizes"], type=list[Prize])),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
    )
    return Tournament(config, row["status"], bytes(row["server_seed"]), row["server_seed_hash"])
