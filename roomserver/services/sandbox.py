"""Sandbox mode: a running demo tournament and test players, for trying the server locally."""

import hashlib
from dataclasses import dataclass
from typing import Final

from roomserver.config import API_SCOPES, ApiKeyConfig, WalletAgentConfig
from roomserver.domain import slot_game
from roomserver.domain.tournament import TournamentConfig
from roomserver.store.ledger import Ledger

# Side-API credentials that exist only in sandbox mode.
SANDBOX_API_KEY: Final = "sandbox-internal-key"
SANDBOX_API_KEY_CONFIG: Final = ApiKeyConfig(
    name="sandbox",
    key_sha256=hashlib.sha256(SANDBOX_API_KEY.encode()).hexdigest(),
    scopes=API_SCOPES,
)
SANDBOX_WALLET_AGENT: Final = WalletAgentConfig(
    agent_id="sandbox-agent", secrets=("sandbox-wallet-secret",)
)


@dataclass(frozen=True, slots=True)
class SandboxPlayer:
    """A seeded player."""

    player_id: str
    name: str
    currency: str
    cash: int
    self_excluded: bool = False


SANDBOX_PLAYERS: Final = (
    SandboxPlayer("p_demo_1", "Demo Player 1", "EUR", 100_000),
    SandboxPlayer("p_demo_2", "Demo Player 2", "USD", 100_000),
    *(SandboxPlayer(f"p_demo_{n}", f"Demo Player {n}", "EUR", 100_000) for n in range(3, 11)),
    SandboxPlayer("p_blocked_rg", "Blocked Player", "EUR", 100_000, self_excluded=True),
    SandboxPlayer("p_low_balance", "Low Balance", "EUR", 50),
)

DEMO_TOURNAMENT: Final = TournamentConfig(
    tournament_id="demo",
    kind="hop_on_off",
    name="Demo tournament",
    game_id=slot_game.GAME_ID,
    currency="EUR",
    buy_in=0,
    starting_chips=100_000,
    min_stake=10,
    max_stake=10_000,
    max_players=1_000_000,
    scoring="total_win",
    leaderboard_size=10,
)


def sandbox_player(player_id: str) -> SandboxPlayer:
    """The seeded player, or an EUR player with no cash for any other id (load tests)."""
    for player in SANDBOX_PLAYERS:
        if player.player_id == player_id:
            return player
    return SandboxPlayer(player_id, player_id, "EUR", 0)


async def seed_sandbox(ledger: Ledger) -> None:
    """Create the sandbox players, their cash and the running demo tournament; idempotent."""
    for player in SANDBOX_PLAYERS:
        await ledger.ensure_player(
            player.player_id, player.name, player.currency, self_excluded=player.self_excluded
        )
        await ledger.deposit(
            player.player_id, player.currency, player.cash, f"sandbox:{player.player_id}"
        )
    await ledger.create_tournament(DEMO_TOURNAMENT, status="running")
