"""The double-entry ledger and everything else the node keeps in Postgres. All SQL lives here.

The database enforces the money rules itself (see migrations/0001_ledger.sql): entries are
append-only, every transaction sums to zero, player balances never go negative. The functions
here are the only way the hub and the side API move money.
"""

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from protocol.codec import format_ts
from protocol.messages import Scoring
from roomserver.domain import lifecycle
from roomserver.domain.errors import DomainError
from roomserver.events.envelope import SCHEMA_VERSION, Event
from roomserver.ops.trace_context import current_trace_id

Connection = asyncpg.Connection | PoolConnectionProxy
TournamentKind = lifecycle.Kind
TournamentStatus = lifecycle.Status

# Statuses the spin and registration functions return besides success.
SPIN_OK: Final = "OK"
SPIN_REPLAY: Final = "REPLAY"
REGISTERED: Final = "OK"
ALREADY_REGISTERED: Final = "ALREADY"


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


@dataclass(frozen=True, slots=True)
class SpinRecord:
    """What `place_spin` returns: a status, and for OK/REPLAY the stored response payload."""

    status: str
    response_json: str | None
    score_reached_at: dt.datetime | None
    spins: int | None  # the standing's version


@dataclass(frozen=True, slots=True)
class SpinRequest:
    """Everything the spin transaction writes; the outcome was computed from the nonce."""

    tournament_id: str
    player_id: str
    idempotency_key: str
    request_hash: bytes
    rg_json: str  # the player's RG claims and session (see rg_limits_admit in migration 0003)
    spin_id: str
    round_id: str
    stake: int
    win: int
    client_seed: str
    nonce: int
    math_version: str
    response_json: str  # the result payload; its `outcome` is recorded with the spin


@dataclass(frozen=True, slots=True)
class LedgerReply:
    """A ledger function's answer: `OK`, `REPLAY` or a refusal code, and the stored response."""

    status: str
    response_json: str | None

    def accepted(self) -> str:
        """The (stored) response of an accepted call.

        Raises:
            DomainError: the refusal code.
        """
        if self.status not in ("OK", "REPLAY"):
            raise DomainError(self.status)
        assert self.response_json is not None
        return self.response_json


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

    status: str
    response_json: str | None
    score_reached_at: dt.datetime | None
    version: int | None
    score: int | None
    name: str | None


@dataclass(frozen=True, slots=True)
class PlayerRecord:
    """A known player."""

    player_id: str
    name: str
    currency: str
    self_excluded: bool


@dataclass(frozen=True, slots=True)
class RankedPlayer:
    """A registered player with score, chips and rank."""

    player_id: str
    name: str
    score: int
    spins: int
    chips: int
    rank: int


@dataclass(frozen=True, slots=True)
class TournamentActivity:
    """Totals over a tournament's registered players."""

    registered: int
    spins: int
    turnover: int
    wins: int


@dataclass(frozen=True, slots=True)
class WalletBet:
    """An agent-callback `makeBet`."""

    agent_id: str
    transaction_id: str
    round_id: str
    player_id: str
    currency: str
    bet: int
    win: int
    game_id: str | None
    session_id: str | None
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class BetHold:
    """A two-phase `authorize`."""

    agent_id: str
    bet_id: str
    round_id: str
    player_id: str
    session_id: str | None
    amount: int
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A side-API response kept for an idempotency key: its status and its body's bytes."""

    request_hash: bytes
    status_code: int
    body: bytes


@dataclass(frozen=True, slots=True)
class ApiKeyClaim:
    """What claiming a side-API idempotency key found.

    Exactly one of: `reservation` (the key is now this request's: run it, then complete or
    release the key), `response` (a request finished under the key), or neither (another
    request holds the key and is still running). `request_hash` is the hash the key belongs to.
    """

    request_hash: bytes
    reservation: uuid.UUID | None = None
    response: StoredResponse | None = None


@dataclass(frozen=True, slots=True)
class LifecycleCandidate:
    """A tournament that is not over yet, with the database's clock."""

    tournament_id: str
    kind: TournamentKind
    status: TournamentStatus
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    now: dt.datetime


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
class RgSettings:
    """A player's responsible-gaming settings (the side API's per-player flag and limits)."""

    player_id: str
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """The outcome of publishing a claimed batch: what failed, and why."""

    failures: Mapping[str, str]
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float


class ClaimedEvents:
    """Outbox rows claimed by one relay (locked until `settle`, invisible to other relays)."""

    def __init__(self, connection: Connection, events: list[Event]) -> None:
        self._connection = connection
        self.events = events

    async def settle(self, delivery: EventDelivery) -> None:
        """Mark published what was sent; back off, or give up on (dead), what failed."""
        published = [e.event_id for e in self.events if e.event_id not in delivery.failures]
        if published:
            await self._connection.execute(
                """UPDATE outbox SET state = 'published', published_at = clock_timestamp(),
                                     attempts = attempts + 1
                    WHERE event_id = ANY($1::uuid[])""",
                published,
            )
        if delivery.failures:
            await self._connection.execute(
                """UPDATE outbox o
                      SET attempts = o.attempts + 1,
                          last_error = left(f.reason, 500),
                          state = CASE WHEN o.attempts + 1 >= $2 THEN 'dead' ELSE 'pending' END,
                          -- exponential backoff with jitter, capped
                          next_attempt_at = clock_timestamp() + make_interval(secs =>
                              least($4::float8, $3::float8 * 2 ^ o.attempts)
                              * (0.5 + random() / 2))
                     FROM unnest($1::uuid[], $5::text[]) AS f (event_id, reason)
                    WHERE o.event_id = f.event_id""",
                list(delivery.failures),
                delivery.max_attempts,
                delivery.backoff_base_s,
                delivery.backoff_max_s,
                list(delivery.failures.values()),
            )


_PLACE_SPIN: Final = """
SELECT status, response::text AS response, score_reached_at, spins
  FROM place_spin($1, $2, $3, $4, $5::jsonb, $6::uuid, $7::uuid, $8, $9, $10, $11, $12, $13::jsonb)
"""


class Ledger:
    """Service functions over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool (for readiness checks)."""
        return self._pool

    async def ensure_player(
        self, player_id: str, name: str, currency: str, *, self_excluded: bool = False
    ) -> None:
        """Create the player if unknown; an existing player keeps their record."""
        await self._pool.execute(
            """INSERT INTO players (player_id, name, currency, self_excluded)
               VALUES ($1, $2, $3, $4) ON CONFLICT (player_id) DO NOTHING""",
            player_id,
            name,
            currency,
            self_excluded,
        )

    async def create_tournament(
        self,
        config: TournamentConfig,
        *,
        status: TournamentStatus,
        server_seed: bytes,
        server_seed_hash: str,
    ) -> bool:
        """Create a tournament with its prize-pool and house accounts; False if it existed."""
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

    async def deposit(self, player_id: str, currency: str, amount: int, key: str) -> int:
        """Credit cash from the house (sandbox seeding, tests); idempotent by `key`.

        Returns:
            The player's cash balance after the deposit (or after the original one).
        """
        if amount <= 0:
            raise ValueError("deposit amount must be positive")
        async with self._pool.acquire() as connection, connection.transaction():
            cash_id = await self._account(connection, "player_cash", player_id, currency, currency)
            house_id = await self._account(connection, "house_cash", "house", currency, currency)
            tx_id = await connection.fetchval(
                """INSERT INTO ledger_transactions (kind, idempotency_key)
                   VALUES ('deposit', $1) ON CONFLICT (idempotency_key) DO NOTHING
                   RETURNING tx_id""",
                f"deposit:{key}",
            )
            if tx_id is not None:
                await connection.execute(
                    """INSERT INTO entries (tx_id, account_id, amount)
                       VALUES ($1, $2, $3), ($1, $4, $5)""",
                    tx_id,
                    cash_id,
                    amount,
                    house_id,
                    -amount,
                )
            balance: int = await connection.fetchval(
                "SELECT balance FROM accounts WHERE account_id = $1", cash_id
            )
            return balance

    @staticmethod
    async def _account(
        connection: Connection, kind: str, owner_id: str, scope: str, currency: str
    ) -> int:
        account_id: int = await connection.fetchval(
            "SELECT ledger_account($1, $2, $3, $4)",
            kind,
            owner_id,
            scope,
            currency,
        )
        return account_id

    async def register_player(
        self, tournament_id: str, player_id: str, *, rg_self_excluded: bool
    ) -> tuple[str, int | None]:
        """Register (buy-in debited, starting chips credited); idempotent.

        Returns:
            (status, chip balance): status `OK`, `ALREADY`, or an error code name.
        """
        row = await self._pool.fetchrow(
            "SELECT status, chips FROM register_player($1, $2, $3)",
            tournament_id,
            player_id,
            rg_self_excluded,
        )
        assert row is not None
        return row["status"], row["chips"]

    async def next_nonce(self, tournament_id: str, player_id: str) -> int:
        """The first nonce the player has not used in this tournament."""
        value: int = await self._pool.fetchval(
            """SELECT coalesce(max(nonce) + 1, 0) FROM spins
                WHERE tournament_id = $1 AND player_id = $2""",
            tournament_id,
            player_id,
        )
        return value

    async def standings(self, tournament_id: str) -> list[Standing]:
        """Every registered player's score."""
        rows = await self._pool.fetch(
            """SELECT tp.player_id, p.name, tp.score, tp.score_reached_at, tp.spins + tp.results
                 FROM tournament_players tp JOIN players p USING (player_id)
                WHERE tp.tournament_id = $1""",
            tournament_id,
        )
        return [Standing(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def chips_balance(self, tournament_id: str, player_id: str) -> int | None:
        """The player's chips in a tournament, or None when not registered."""
        value: int | None = await self._pool.fetchval(
            """SELECT balance FROM accounts
                WHERE kind = 'player_chips' AND owner_id = $1 AND scope = $2""",
            player_id,
            tournament_id,
        )
        return value

    async def cash_balance(self, player_id: str, currency: str) -> int:
        """The player's cash in a currency (0 without an account)."""
        value: int | None = await self._pool.fetchval(
            """SELECT balance FROM accounts
                WHERE kind = 'player_cash' AND owner_id = $1 AND scope = $2""",
            player_id,
            currency,
        )
        return value or 0

    async def cash_balances(self, player_ids: Sequence[str], currency: str) -> dict[str, int]:
        """Several players' cash in a currency (0 without an account), in one query."""
        rows = await self._pool.fetch(
            """SELECT p.player_id, coalesce(a.balance, 0)
                 FROM unnest($1::text[]) AS p (player_id)
                 LEFT JOIN accounts a
                   ON a.kind = 'player_cash' AND a.owner_id = p.player_id AND a.scope = $2""",
            list(player_ids),
            currency,
        )
        return {row[0]: row[1] for row in rows}

    async def place_spin(self, request: SpinRequest) -> SpinRecord:
        """Run the spin transaction (one round trip).

        Raises:
            asyncpg.UniqueViolationError: a concurrent spin took the nonce
                (`spins_nonce_unique`) or the key in another room; retry.
        """
        row = await self._pool.fetchrow(
            _PLACE_SPIN,
            request.tournament_id,
            request.player_id,
            request.idempotency_key,
            request.request_hash,
            request.rg_json,
            request.spin_id,
            request.round_id,
            request.stake,
            request.win,
            request.client_seed,
            request.nonce,
            request.math_version,
            request.response_json,
        )
        assert row is not None
        return SpinRecord(row[0], row[1], row[2], row[3])

    # ------------------------------------------------------------ side API: players, results

    async def hop_off(self, tournament_id: str, player_id: str) -> LedgerReply:
        """Unregister a player with the refund the tournament's rules give; idempotent."""
        return await self._reply(
            "SELECT status, response::text FROM hop_off_player($1, $2)", tournament_id, player_id
        )

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
        return ResultRecord(row[0], row[1], row[2], row[3], row[4], row[5])

    async def player(self, player_id: str) -> PlayerRecord | None:
        """A known player, or None."""
        row = await self._pool.fetchrow(
            "SELECT player_id, name, currency, self_excluded FROM players WHERE player_id = $1",
            player_id,
        )
        return None if row is None else PlayerRecord(row[0], row[1], row[2], row[3])

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

    # ------------------------------------------------------------ wallet callbacks

    async def wallet_make_bet(self, bet: WalletBet) -> LedgerReply:
        """Debit the bet and credit the win in one transaction; idempotent by transaction id."""
        return await self._reply(
            """SELECT status, response::text
                 FROM wallet_make_bet($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            bet.agent_id,
            bet.transaction_id,
            bet.round_id,
            bet.player_id,
            bet.currency,
            bet.bet,
            bet.win,
            bet.game_id,
            bet.session_id,
            bet.request_hash,
        )

    async def wallet_rollback(
        self, agent_id: str, transaction_id: str, rollback_transaction_id: str
    ) -> LedgerReply:
        """Reverse a bet once, or leave a tombstone for one not seen yet."""
        return await self._reply(
            "SELECT status, response::text FROM wallet_rollback($1, $2, $3)",
            agent_id,
            transaction_id,
            rollback_transaction_id,
        )

    async def bet_authorize(self, hold: BetHold) -> LedgerReply:
        """Hold a stake: cash moves to the player's held account; idempotent by bet id."""
        return await self._reply(
            "SELECT status, response::text FROM bet_authorize($1, $2, $3, $4, $5, $6, $7)",
            hold.agent_id,
            hold.bet_id,
            hold.round_id,
            hold.player_id,
            hold.session_id,
            hold.amount,
            hold.request_hash,
        )

    async def bet_resolve(
        self,
        agent_id: str,
        bet_id: str,
        kind: Literal["settle", "rollback"],
        *,
        round_id: str | None,
        win: int,
        request_hash: bytes,
    ) -> LedgerReply:
        """Settle (capture and credit the win) or roll back (release) a hold, exactly once."""
        return await self._reply(
            "SELECT status, response::text FROM bet_resolve($1, $2, $3, $4, $5, $6)",
            agent_id,
            bet_id,
            kind,
            round_id,
            win,
            request_hash,
        )

    async def held_balance(self, player_id: str, currency: str) -> int:
        """The player's stakes on hold in a currency."""
        value: int | None = await self._pool.fetchval(
            """SELECT balance FROM accounts
                WHERE kind = 'player_held' AND owner_id = $1 AND scope = $2""",
            player_id,
            currency,
        )
        return value or 0

    # ------------------------------------------------------------ stored side-API responses

    async def claim_api_key(
        self, caller: str, key: str, request_hash: bytes, lease_s: float
    ) -> ApiKeyClaim:
        """Reserve `caller`'s idempotency key `key` for a request, or say who has it.

        A reservation whose lease ran out (its request died) is taken over, but only by the same
        request (same hash); a finished request's response is returned for replay.
        """
        reservation = uuid.uuid4()
        claimed = await self._pool.fetchval(
            """INSERT INTO api_idempotency AS a (caller, idempotency_key, request_hash,
                                                 reservation, lease_until)
               VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
               ON CONFLICT (caller, idempotency_key) DO UPDATE
                  SET reservation = EXCLUDED.reservation, lease_until = EXCLUDED.lease_until
                WHERE a.status_code IS NULL AND a.lease_until < now()
                  AND a.request_hash = EXCLUDED.request_hash
               RETURNING true""",
            caller,
            key,
            request_hash,
            reservation,
            lease_s,
        )
        if claimed:
            return ApiKeyClaim(request_hash, reservation=reservation)
        # A new statement, so a reservation committed by a concurrent request is visible.
        row = await self._pool.fetchrow(
            """SELECT request_hash, status_code, response_body, response::text
                 FROM api_idempotency WHERE caller = $1 AND idempotency_key = $2""",
            caller,
            key,
        )
        if row is None:  # released between the two statements: try again
            return await self.claim_api_key(caller, key, request_hash, lease_s)
        stored_hash = bytes(row["request_hash"])
        if row["status_code"] is None:
            return ApiKeyClaim(stored_hash)
        body = row["response_body"]
        # Rows kept before responses were stored as bytes replay their jsonb text.
        body = bytes(body) if body is not None else str(row["response"]).encode()
        return ApiKeyClaim(
            stored_hash, response=StoredResponse(stored_hash, row["status_code"], body)
        )

    async def complete_api_key(
        self, caller: str, key: str, reservation: uuid.UUID, status_code: int, body: bytes
    ) -> bool:
        """Store the response of the request holding `reservation`; False when the key is no
        longer its own (its lease ran out and another request took the key over)."""
        done = await self._pool.execute(
            """UPDATE api_idempotency
                  SET status_code = $4, response_body = $5, reservation = NULL,
                      lease_until = NULL
                WHERE caller = $1 AND idempotency_key = $2 AND reservation = $3""",
            caller,
            key,
            reservation,
            status_code,
            body,
        )
        return bool(done == "UPDATE 1")

    async def release_api_key(self, caller: str, key: str, reservation: uuid.UUID) -> None:
        """Give a reserved key up (its request failed), so that a retry runs afresh."""
        await self._pool.execute(
            """DELETE FROM api_idempotency
                WHERE caller = $1 AND idempotency_key = $2 AND reservation = $3""",
            caller,
            key,
            reservation,
        )

    # ------------------------------------------------------------ lifecycle

    async def lifecycle_candidates(
        self, tournament_id: str | None = None
    ) -> list[LifecycleCandidate]:
        """Tournaments not over yet (all, or the one given), with the database's clock (one
        clock for every node)."""
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

    # ------------------------------------------------------------ audit and reports

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

    # ------------------------------------------------------------ responsible gaming

    async def set_rg_settings(self, settings: RgSettings) -> bool:
        """Replace the player's RG flag and limits; False when the player is unknown."""
        updated: bool | None = await self._pool.fetchval(
            """UPDATE players SET self_excluded = $2, loss_limit = $3, session_limit_min = $4
                WHERE player_id = $1 RETURNING true""",
            settings.player_id,
            settings.self_excluded,
            settings.loss_limit,
            settings.session_limit_min,
        )
        return bool(updated)

    async def rg_settings(self, player_id: str) -> RgSettings | None:
        """The player's RG flag and limits, or None when the player is unknown."""
        row = await self._pool.fetchrow(
            """SELECT player_id, self_excluded, loss_limit, session_limit_min FROM players
                WHERE player_id = $1""",
            player_id,
        )
        return None if row is None else RgSettings(*row)

    # ------------------------------------------------------------ the outbox

    async def emit_event(
        self,
        event_type: str,
        *,
        tournament_id: str | None,
        player_id: str | None,
        payload_json: str,
    ) -> None:
        """Write an event that reports no database change of its own (presence)."""
        await self._pool.execute(
            "SELECT emit_event($1, $2, $3, NULL, $4::jsonb)",
            event_type,
            tournament_id,
            player_id,
            payload_json,
        )

    @contextlib.asynccontextmanager
    async def claim_events(self, limit: int) -> AsyncIterator[ClaimedEvents]:
        """Claim up to `limit` due outbox rows, oldest first, for one relay.

        `FOR UPDATE SKIP LOCKED` on the row state (never "seq above the last one seen", which
        would skip a transaction that commits after a later one): a row another relay holds is
        passed over, and a crash before `settle` leaves the row pending for the next claim.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                """SELECT event_id::text, event_type, occurred_at, trace_id, tournament_id,
                          player_id, idempotency_key, payload::text
                     FROM outbox
                    WHERE state = 'pending' AND next_attempt_at <= clock_timestamp()
                    ORDER BY seq LIMIT $1
                      FOR UPDATE SKIP LOCKED""",
                limit,
            )
            yield ClaimedEvents(connection, [_event_from_row(row) for row in rows])

    async def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by delivery state."""
        rows = await self._pool.fetch("SELECT state, count(*) FROM outbox GROUP BY state")
        return {state: count for state, count in rows}

    async def _reply(self, query: str, *args: object) -> LedgerReply:
        row = await self._fetchrow(query, *args)
        assert row is not None
        return LedgerReply(row[0], row[1])

    async def _fetchrow(self, query: str, *args: object) -> Any:
        """One row; the events the statement writes carry the current request's trace id."""
        trace_id = current_trace_id.get()
        if trace_id is None:
            return await self._pool.fetchrow(query, *args)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT set_config('roomserver.trace_id', $1, true)", trace_id)
            return await connection.fetchrow(query, *args)

    async def audit(self) -> list[str]:
        """Ledger invariants that do not hold (empty when the books are sound)."""
        problems = []
        for tx_id, total in await self._pool.fetch(
            "SELECT tx_id, sum(amount) FROM entries GROUP BY tx_id HAVING sum(amount) <> 0"
        ):
            problems.append(f"transaction {tx_id} sums to {total}")
        for account_id, balance, total in await self._pool.fetch(
            """SELECT a.account_id, a.balance, coalesce(sum(e.amount), 0)
                 FROM accounts a LEFT JOIN entries e USING (account_id)
                WHERE a.kind NOT IN ('house_cash', 'house_chips')
                GROUP BY a.account_id HAVING a.balance <> coalesce(sum(e.amount), 0)"""
        ):
            problems.append(f"account {account_id} balance {balance} != entries {total}")
        for account_id, balance in await self._pool.fetch(
            """SELECT account_id, balance FROM accounts
                WHERE kind IN ('player_cash', 'player_chips', 'player_held', 'prize_pool')
                  AND balance < 0"""
        ):
            problems.append(f"account {account_id} is negative: {balance}")
        for spin_id, net, expected in await self._pool.fetch(
            """SELECT s.spin_id, coalesce(sum(e.amount), 0), s.win - s.stake
                 FROM spins s
                 JOIN accounts a ON a.kind = 'player_chips' AND a.owner_id = s.player_id
                                AND a.scope = s.tournament_id
                 LEFT JOIN entries e ON e.tx_id = s.tx_id AND e.account_id = a.account_id
                GROUP BY s.spin_id, s.win, s.stake
               HAVING coalesce(sum(e.amount), 0) <> s.win - s.stake"""
        ):
            problems.append(f"spin {spin_id} moved {net} chips, expected {expected}")
        return problems


def _event_from_row(row: Any) -> Event:
    return Event(
        event_id=row[0],
        event_type=row[1],
        schema_version=SCHEMA_VERSION,
        occurred_at=format_ts(row[2].timestamp()),
        trace_id=row[3],
        tournament_id=row[4],
        player_id=row[5],
        idempotency_key=row[6],
        payload=msgspec.Raw(row[7].encode()),
    )


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


async def create_pool(dsn: str, *, min_size: int, max_size: int, timeout_s: float) -> asyncpg.Pool:
    """An asyncpg pool for the ledger."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=timeout_s,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset query.

    That query (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) costs a
    round trip per acquire, as much as a spin's own statement. Nothing here leaves session
    state behind: locks are transaction-scoped, settings are `set_config(..., true)`, no
    LISTEN, no cursors; asyncpg still rolls back a transaction left open before calling this.
    """
