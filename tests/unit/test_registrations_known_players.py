"""A join creates the player row only when this node has not seen that the row exists."""

from typing import cast

import pytest

from roomserver.domain.refusal import Refusal
from roomserver.services.live_rooms import LiveRooms
from roomserver.services.registration import Registrations
from roomserver.store.ledger import Ledger

pytestmark = pytest.mark.timeout(10)


class CountingLedger:
    """The two calls a registration makes, counted (what they do is tested on PostgreSQL)."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.registered: list[str] = []

    async def ensure_player(self, player_id: str, name: str, currency: str) -> None:
        self.created.append(player_id)

    async def register_player(
        self, tournament_id: str, player_id: str, *, rg_self_excluded: bool
    ) -> tuple[Refusal, int | None]:
        self.registered.append(player_id)
        return Refusal.ALREADY, 500


def registrations(ledger: CountingLedger) -> Registrations:
    return Registrations(cast(Ledger, ledger), cast(LiveRooms, object()))


async def test_an_unseen_player_is_created_once_then_only_registered() -> None:
    ledger = CountingLedger()
    service = registrations(ledger)
    for _ in range(3):
        registration = await service.register("t", "p1", "P", "EUR", rg_self_excluded=False)
        assert registration.chips == 500 and not registration.created
    assert ledger.created == ["p1"]
    assert ledger.registered == ["p1"] * 3


async def test_a_player_whose_row_was_read_at_connect_is_not_created_again() -> None:
    ledger = CountingLedger()
    service = registrations(ledger)
    service.player_exists("p2")
    await service.register("t", "p2", "P", "EUR", rg_self_excluded=False)
    assert ledger.created == []
    assert ledger.registered == ["p2"]
