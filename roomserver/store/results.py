"""Scores in Postgres: game servers' results, and every registered player's standing."""

import datetime as dt
from dataclasses import dataclass

from roomserver.domain.refusal import Refusal
from roomserver.domain.tournament import Standing
from roomserver.store.pool import PoolStore


@dataclass(frozen=True, slots=True)
class GameResult:
    """A game server's result: a score delta or an absolute score."""

    tournament_id: str
    result_id: str
    player_id: str
    request_hash: bytes
    score_delta: int | None
    score: int | None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """What `record_result` returns; `version` orders the standing's updates."""

    status: Refusal
    response_json: str | None
    score_reached_at: dt.datetime | None
    version: int | None
    score: int | None
    name: str | None


class ResultStore(PoolStore):
    """Game servers' results and the standings they move."""

    async def record_result(self, result: GameResult) -> ResultRecord:
        """Apply a game server's result once per `result_id`."""
        row = await self._pool.fetchrow(
            """SELECT status, response::text, score_reached_at, version, score, name
                 FROM record_result($1, $2, $3, $4, $5, $6)""",
            result.tournament_id,
            result.result_id,
            result.player_id,
            result.request_hash,
            result.score_delta,
            result.score,
        )
        assert row is not None
        return ResultRecord(Refusal(row[0]), row[1], row[2], row[3], row[4], row[5])

    async def standings(self, tournament_id: str) -> list[Standing]:
        """Every registered player's score."""
        rows = await self._pool.fetch(
            """SELECT tp.player_id, p.name, tp.score, tp.score_reached_at, tp.spins + tp.results
                 FROM tournament_players tp JOIN players p USING (player_id)
                WHERE tp.tournament_id = $1""",
            tournament_id,
        )
        return [Standing(r[0], r[1], r[2], r[3], r[4]) for r in rows]
