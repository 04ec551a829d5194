"""A room's standings in memory: ordered by score, ties to whoever reached the score first."""

import bisect
from dataclasses import dataclass
from typing import NamedTuple

# Sort key: higher score first, then earlier time, then player id for a total order.
_Key = tuple[int, float, str]


class RankedEntry(NamedTuple):
    """One row of the standings."""

    player_id: str
    name: str
    score: int
    rank: int


@dataclass(slots=True)
class _Player:
    name: str
    key: _Key
    version: int


class Leaderboard:
    """Standings with O(log n) rank lookups and O(n) memmove updates (fast for rooms of 10^5)."""

    def __init__(self) -> None:
        """An empty leaderboard."""
        self._order: list[_Key] = []
        self._players: dict[str, _Player] = {}

    def __len__(self) -> int:
        """The number of players ranked."""
        return len(self._order)

    def update(
        self, player_id: str, name: str, score: int, reached_at_s: float, version: int
    ) -> bool:
        """Set a player's score; an update older than the one held (`version`) is ignored.

        Returns:
            Whether the standings changed.
        """
        key = (-score, reached_at_s, player_id)
        player = self._players.get(player_id)
        if player is not None:
            if version < player.version:
                return False
            player.name, player.version = name, version
            if player.key == key:
                return False
            del self._order[bisect.bisect_left(self._order, player.key)]
            player.key = key
        else:
            self._players[player_id] = _Player(name, key, version)
        bisect.insort(self._order, key)
        return True

    def remove(self, player_id: str) -> bool:
        """Drop a player (hop-off); False when the player was not in the standings."""
        player = self._players.pop(player_id, None)
        if player is None:
            return False
        del self._order[bisect.bisect_left(self._order, player.key)]
        return True

    def rank(self, player_id: str) -> int | None:
        """1-based rank, or None for a player not in the standings."""
        player = self._players.get(player_id)
        if player is None:
            return None
        return bisect.bisect_left(self._order, player.key) + 1

    def score(self, player_id: str) -> int | None:
        """The player's score, or None."""
        player = self._players.get(player_id)
        return None if player is None else -player.key[0]

    def top(self, n: int) -> list[RankedEntry]:
        """The first `n` rows, best first."""
        return [
            RankedEntry(key[2], self._players[key[2]].name, -key[0], index + 1)
            for index, key in enumerate(self._order[:n])
        ]
