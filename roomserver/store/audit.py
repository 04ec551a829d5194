"""The ledger's own audit: the invariants of the books, checked against the entries."""

from roomserver.store.pool import PoolStore


class AuditStore(PoolStore):
    """Checks the books."""

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
