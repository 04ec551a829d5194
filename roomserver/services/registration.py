"""Registering a player in a tournament, for a WebSocket join and the side API alike.

The buy-in is debited and the starting chips credited in one ledger transaction
(`register_player`); a repeat moves nothing. A player connected to the room on this node then
gets a `balance` frame with the chips.
"""

from dataclasses import dataclass

from roomserver.domain.refusal import Refusal, Refused
from roomserver.services.live_rooms import LiveRooms
from roomserver.store.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Registration:
    """A registered player's chips; `created` is False for a repeat."""

    chips: int
    created: bool


class Registrations:
    """Registers players; remembers which players this node already created."""

    def __init__(self, ledger: Ledger, rooms: LiveRooms) -> None:
        """Registrations in `ledger`, announced to this node's `rooms`."""
        self._ledger = ledger
        self._rooms = rooms
        # Players known to exist: a join skips the insert (a player row is never deleted).
        self._known_players: set[str] = set()

    def player_exists(self, player_id: str) -> None:
        """The player's row was just read (at connect): a join need not create it."""
        self._known_players.add(player_id)

    async def register(
        self,
        tournament_id: str,
        player_id: str,
        name: str,
        currency: str,
        *,
        rg_self_excluded: bool,
    ) -> Registration:
        """Create the player if unknown (with `name` and `currency`), then register them.

        `rg_self_excluded` is the token's self-exclusion claim (the side API has none); the
        player's stored flag is checked by the ledger either way.

        Raises:
            Refused: the ledger's refusal code (nothing moved).
        """
        if player_id not in self._known_players:
            await self._ledger.ensure_player(player_id, name, currency)
            self._known_players.add(player_id)
        status, chips = await self._ledger.register_player(
            tournament_id, player_id, rg_self_excluded=rg_self_excluded
        )
        if not status.accepted:
            raise Refused(status)
        return Registration(chips or 0, created=status is Refusal.OK)

    async def announce(
        self, tournament_id: str, player_id: str, registration: Registration
    ) -> None:
        """Push the new chips to the player's connection to the room here, after a buy-in."""
        if registration.created:
            await self._rooms.push_chips(tournament_id, player_id, registration.chips)

    async def chips(self, tournament_id: str, player_id: str) -> int:
        """The player's chips in the tournament (0 when not registered)."""
        return await self._ledger.chips_balance(tournament_id, player_id) or 0
