"""Wallet callbacks from integrators: agent style (makeBet/rollback) and two-phase holds.

Each call is one ledger SQL function (the same post_transaction the spins use); this module only
fingerprints requests for idempotency and raises the ledger's refusals as `Refused`.
"""

from typing import Literal

from roomserver.domain.fingerprint import fingerprint
from roomserver.domain.refusal import Refusal, Refused
from roomserver.store.ledger import Ledger
from roomserver.store.wallet import BetHold, WalletBet


class WalletService:
    """Moves players' cash for wallet integrators."""

    def __init__(self, ledger: Ledger) -> None:
        """Wallet callbacks against `ledger`."""
        self._ledger = ledger

    async def balance(self, player_id: str, currency: str) -> int:
        """A player's cash in a currency.

        Raises:
            Refused: PLAYER_NOT_FOUND, CURRENCY_MISMATCH.
        """
        player = await self._ledger.player(player_id)
        if player is None:
            raise Refused(Refusal.PLAYER_NOT_FOUND, f"no player {player_id!r}")
        if player.currency != currency:
            raise Refused(Refusal.CURRENCY_MISMATCH, f"the player's currency is {player.currency}")
        return await self._ledger.cash_balance(player_id, currency)

    async def make_bet(
        self,
        agent_id: str,
        *,
        transaction_id: str,
        round_id: str,
        player_id: str,
        currency: str,
        bet: int,
        win: int,
        game_id: str | None,
        session_id: str | None,
    ) -> str:
        """Debit the bet and credit the win; the (stored) response JSON.

        Raises:
            Refused: the ledger's refusal code.
        """
        digest = fingerprint((round_id, player_id, currency, bet, win, game_id, session_id))
        reply = await self._ledger.wallet_make_bet(
            WalletBet(
                agent_id,
                transaction_id,
                round_id,
                player_id,
                currency,
                bet,
                win,
                game_id,
                session_id,
                digest,
            )
        )
        return reply.accepted()

    async def rollback(
        self, agent_id: str, transaction_id: str, rollback_transaction_id: str
    ) -> str:
        """Reverse a bet once (a tombstone for one not seen); the (stored) response JSON.

        Raises:
            Refused: ROUND_SETTLED.
        """
        reply = await self._ledger.wallet_rollback(
            agent_id, transaction_id, rollback_transaction_id
        )
        return reply.accepted()

    async def authorize(
        self,
        agent_id: str,
        *,
        bet_id: str,
        round_id: str,
        player_id: str,
        session_id: str | None,
        amount: int,
    ) -> str:
        """Hold a stake; the (stored) response JSON.

        Raises:
            Refused: the ledger's refusal code.
        """
        digest = fingerprint((round_id, player_id, session_id, amount))
        reply = await self._ledger.bet_authorize(
            BetHold(agent_id, bet_id, round_id, player_id, session_id, amount, digest)
        )
        return reply.accepted()

    async def resolve(
        self,
        agent_id: str,
        bet_id: str,
        kind: Literal["settle", "rollback"],
        *,
        round_id: str | None,
        win: int,
    ) -> str:
        """Settle or roll back a hold, exactly once; the (stored) response JSON.

        Raises:
            Refused: the ledger's refusal code.
        """
        reply = await self._ledger.bet_resolve(
            agent_id,
            bet_id,
            kind,
            round_id=round_id,
            win=win,
            request_hash=fingerprint((kind, round_id, win)),
        )
        return reply.accepted()
