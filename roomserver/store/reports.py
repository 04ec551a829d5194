"""Reports from Postgres: a tournament's money, its activity and ranking, and recorded spins.

Read-only; the money figures come from the ledger's own entries, not from counters.
"""

import datetime as dt
from dataclasses import dataclass

from protocol.ids import TournamentStatus
from roomserver.store.pool import PoolStore


@dataclass(frozen=True, slots=True)
class TournamentReport:
    """A tournament's money in its currency: spins, turnover, wins, GGR, prizes."""

    tournament_id: str
    status: TournamentStatus
    currency: str
    spins_total: int
    turnover: int
    wins: int
    buy_ins: int
    refunds: int
    prizes_paid: int

    @property
    def ggr(self) -> int:
        """Gross gaming revenue of the spins: turnover minus wins."""
        return self.turnover - self.wins


@dataclass(frozen=True, slots=True)
class RecordedSpin:
    """A spin as recorded, with what is needed to play it again."""

    spin_id: str
    tournament_id: str
    player_id: str
    tournament_status: TournamentStatus
    server_seed: bytes
    server_seed_hash: str
    client_seed: str
    nonce: int
    math_version: str
    stake: int
    win: int
    outcome_json: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TournamentActivity:
    """Totals over a tournament's registered players."""

    registered: int
    spins: int
    turnover: int
    wins: int


@dataclass(frozen=True, slots=True)
class RankedPlayer:
    """A registered player with score, chips and rank."""

    player_id: str
    name: str
    score: int
    spins: int
    chips: int
    rank: int


class ReportStore(PoolStore):
    """Read-only views for the side API and audits."""

    async def tournament_report(self, tournament_id: str) -> TournamentReport | None:
        """Spins, turnover, wins, buy-ins, refunds and prizes, from the ledger's own records."""
        row = await self._pool.fetchrow(
            """WITH pool_transactions AS (
                   SELECT e.tx_id, lt.kind
                     FROM accounts pool
                     JOIN entries e ON e.account_id = pool.account_id
                     JOIN ledger_transactions lt ON lt.tx_id = e.tx_id
                    WHERE pool.kind = 'prize_pool' AND pool.owner_id = $1 AND pool.scope = $1
                   UNION
                   -- prizes the house guarantees beyond an empty pool do not touch the pool;
                   -- the closing names its transaction whatever its key's format
                   SELECT lt.tx_id, lt.kind FROM tournament_closings c
                     JOIN ledger_transactions lt ON lt.tx_id = c.tx_id
                    WHERE c.tournament_id = $1),
               -- what players' cash paid in and got back, in the transactions of the pool
               cash AS (
                   SELECT pt.kind, e.amount
                     FROM pool_transactions pt
                     JOIN entries e ON e.tx_id = pt.tx_id
                     JOIN accounts a ON a.account_id = e.account_id
                    WHERE a.kind = 'player_cash'),
               spun AS (
                   SELECT count(*) AS spins, coalesce(sum(stake), 0)::bigint AS turnover,
                          coalesce(sum(win), 0)::bigint AS wins
                     FROM spins WHERE tournament_id = $1)
               SELECT t.tournament_id, t.status, t.currency, spun.spins, spun.turnover, spun.wins,
                      coalesce((SELECT -sum(amount) FROM cash WHERE kind = 'registration'),
                               0)::bigint,
                      coalesce((SELECT sum(amount) FROM cash WHERE kind IN ('hop_off', 'cancel')),
                               0)::bigint,
                      coalesce((SELECT sum(amount) FROM cash WHERE kind = 'prizes'), 0)::bigint
                 FROM tournaments t, spun
                WHERE t.tournament_id = $1""",
            tournament_id,
        )
        return None if row is None else TournamentReport(*row)

    async def recorded_spin(self, spin_id: str) -> RecordedSpin | None:
        """A spin with its tournament's seed, for replay; None when unknown."""
        row = await self._pool.fetchrow(
            """SELECT s.spin_id::text, s.tournament_id, s.player_id, t.status, t.server_seed,
                      t.server_seed_hash, s.client_seed, s.nonce, s.math_version, s.stake,
                      s.win, s.outcome::text, s.created_at
                 FROM spins s JOIN tournaments t USING (tournament_id)
                WHERE s.spin_id = $1::uuid""",
            spin_id,
        )
        if row is None:
            return None
        return RecordedSpin(
            spin_id=row[0],
            tournament_id=row[1],
            player_id=row[2],
            tournament_status=row[3],
            server_seed=bytes(row[4]),
            server_seed_hash=row[5],
            client_seed=row[6],
            nonce=row[7],
            math_version=row[8],
            stake=row[9],
            win=row[10],
            outcome_json=row[11],
            created_at=row[12],
        )

    async def tournament_activity(self, tournament_id: str) -> TournamentActivity:
        """Registered players, spins and turnover of a tournament."""
        row = await self._pool.fetchrow(
            """SELECT count(*), coalesce(sum(spins), 0)::bigint,
                      coalesce(sum(total_bet), 0)::bigint, coalesce(sum(total_win), 0)::bigint
                 FROM tournament_players WHERE tournament_id = $1""",
            tournament_id,
        )
        assert row is not None
        return TournamentActivity(row[0], row[1], row[2], row[3])

    async def ranked_players(
        self, tournament_id: str, limit: int, offset: int
    ) -> list[RankedPlayer]:
        """Registered players in rank order (ties to whoever reached the score first)."""
        rows = await self._pool.fetch(
            """SELECT tp.player_id, p.name, tp.score, tp.spins,
                      coalesce(a.balance, 0) AS chips,
                      row_number() OVER (ORDER BY tp.score DESC, tp.score_reached_at,
                                                  tp.player_id) AS rank
                 FROM tournament_players tp
                 JOIN players p USING (player_id)
                 LEFT JOIN accounts a ON a.kind = 'player_chips' AND a.owner_id = tp.player_id
                                     AND a.scope = tp.tournament_id
                WHERE tp.tournament_id = $1
                ORDER BY rank LIMIT $2 OFFSET $3""",
            tournament_id,
            limit,
            offset,
        )
        return [RankedPlayer(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
