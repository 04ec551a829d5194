"""Accounts and money outside spins: balances, deposits, and the integrators' wallet callbacks.

Agent-style bets (makeBet/rollback) and two-phase holds (authorize, then settle or roll back)
each run as one ledger function, idempotent by the integrator's own ids.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from roomserver.store.pool import Connection, LedgerReply, PoolStore


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


class WalletStore(PoolStore):
    """Balances, deposits, agent bets and holds."""

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

    async def held_balance(self, player_id: str, currency: str) -> int:
        """The player's stakes on hold in a currency."""
        value: int | None = await self._pool.fetchval(
            """SELECT balance FROM accounts
                WHERE kind = 'player_held' AND owner_id = $1 AND scope = $2""",
            player_id,
            currency,
        )
        return value or 0

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
