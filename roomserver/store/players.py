"""Players in Postgres: who they are, their tournament registrations, their RG settings.

Registering buys a player in (buy-in debited, starting chips credited) in one ledger function;
hopping off refunds what the tournament's rules give. Both are idempotent.
"""

from dataclasses import dataclass

from roomserver.domain.refusal import Refusal
from roomserver.store.pool import LedgerReply, PoolStore


@dataclass(frozen=True, slots=True)
class PlayerRecord:
    """A known player."""

    player_id: str
    name: str
    currency: str
    self_excluded: bool


@dataclass(frozen=True, slots=True)
class RgSettings:
    """A player's responsible-gaming settings (the side API's per-player flag and limits)."""

    player_id: str
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None


class PlayerStore(PoolStore):
    """Players, registrations and responsible-gaming settings."""

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

    async def player(self, player_id: str) -> PlayerRecord | None:
        """A known player, or None."""
        row = await self._pool.fetchrow(
            "SELECT player_id, name, currency, self_excluded FROM players WHERE player_id = $1",
            player_id,
        )
        return None if row is None else PlayerRecord(row[0], row[1], row[2], row[3])

    async def register_player(
        self, tournament_id: str, player_id: str, *, rg_self_excluded: bool
    ) -> tuple[Refusal, int | None]:
        """Register (buy-in debited, starting chips credited); idempotent.

        Returns:
            (status, chip balance): status `OK`, `ALREADY`, or the refusal.
        """
        row = await self._pool.fetchrow(
            "SELECT status, chips FROM register_player($1, $2, $3)",
            tournament_id,
            player_id,
            rg_self_excluded,
        )
        assert row is not None
        return Refusal(row["status"]), row["chips"]

    async def hop_off(self, tournament_id: str, player_id: str) -> LedgerReply:
        """Unregister a player with the refund the tournament's rules give; idempotent."""
        return await self._reply(
            "SELECT status, response::text FROM hop_off_player($1, $2)", tournament_id, player_id
        )

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
