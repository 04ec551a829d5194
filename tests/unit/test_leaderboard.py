"""Tests for the in-memory standings of a room."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from roomserver.domain.leaderboard import Leaderboard, RankedEntry


def board(*rows: tuple[str, int, float]) -> Leaderboard:
    """A leaderboard with (player_id, score, reached_at_s) rows, each at version 1."""
    standings = Leaderboard()
    for player_id, score, reached_at in rows:
        assert standings.update(player_id, player_id.upper(), score, reached_at, 1)
    return standings


def test_empty() -> None:
    standings = Leaderboard()
    assert len(standings) == 0
    assert standings.top(10) == []
    assert standings.rank("p1") is None
    assert standings.score("p1") is None


def test_higher_score_ranks_first() -> None:
    standings = board(("low", 10, 1.0), ("high", 300, 2.0), ("mid", 50, 3.0))
    assert [row.player_id for row in standings.top(10)] == ["high", "mid", "low"]
    assert standings.rank("high") == 1
    assert standings.rank("mid") == 2
    assert standings.rank("low") == 3
    assert standings.rank("nobody") is None


def test_tie_goes_to_who_reached_the_score_first() -> None:
    standings = board(("late", 100, 20.0), ("early", 100, 10.0), ("middle", 100, 15.0))
    assert [row.player_id for row in standings.top(3)] == ["early", "middle", "late"]
    assert standings.rank("early") == 1
    assert standings.rank("late") == 3


def test_full_tie_is_broken_by_player_id() -> None:
    """Same score at the same instant: still a total, deterministic order on every node."""
    standings = board(("b", 5, 1.0), ("a", 5, 1.0))
    assert [row.player_id for row in standings.top(2)] == ["a", "b"]


def test_negative_scores_order_correctly() -> None:
    standings = board(("minus", -5, 1.0), ("zero", 0, 2.0), ("plus", 5, 3.0))
    assert [row.player_id for row in standings.top(3)] == ["plus", "zero", "minus"]
    assert standings.score("minus") == -5


def test_top_rows_are_id_name_score_rank() -> None:
    standings = Leaderboard()
    standings.update("p1", "Ann", 100, 1.0, 1)
    standings.update("p2", "Bob", 250, 2.0, 1)
    standings.update("p3", "Cy", 50, 3.0, 1)
    assert standings.top(2) == [RankedEntry("p2", "Bob", 250, 1), RankedEntry("p1", "Ann", 100, 2)]
    assert standings.top(0) == []
    assert len(standings.top(100)) == 3


def test_top_rows_are_named() -> None:
    standings = board(("p1", 100, 1.0))
    (entry,) = standings.top(1)
    assert (entry.player_id, entry.name, entry.score, entry.rank) == ("p1", "P1", 100, 1)


def test_update_moves_a_player_and_does_not_duplicate() -> None:
    standings = board(("p1", 10, 1.0), ("p2", 20, 2.0))
    assert standings.update("p1", "P1", 30, 3.0, 2)
    assert len(standings) == 2
    assert standings.rank("p1") == 1
    assert standings.rank("p2") == 2
    assert standings.score("p1") == 30


def test_update_reports_whether_standings_changed() -> None:
    standings = board(("p1", 10, 1.0))
    assert not standings.update("p1", "P1", 10, 1.0, 2)
    assert standings.update("p1", "P1", 10, 1.5, 3)


def test_update_with_an_older_version_is_ignored() -> None:
    standings = Leaderboard()
    assert standings.update("p1", "Ann", 500, 5.0, 5)
    assert not standings.update("p1", "Ann", 100, 3.0, 3)
    assert standings.score("p1") == 500
    assert standings.top(1) == [("p1", "Ann", 500, 1)]


def test_update_with_a_newer_version_applies_even_if_lower() -> None:
    """The held version, not the score, decides: a score may go down (e.g. a correction)."""
    standings = board(("p1", 500, 5.0), ("p2", 200, 1.0))
    assert standings.update("p1", "P1", 100, 6.0, 2)
    assert standings.score("p1") == 100
    assert standings.rank("p1") == 2


def test_name_follows_the_latest_update() -> None:
    standings = Leaderboard()
    standings.update("p1", "Old", 1, 1.0, 1)
    standings.update("p1", "New", 2, 2.0, 2)
    assert standings.top(1) == [("p1", "New", 2, 1)]


def test_unchanged_update_still_records_its_version() -> None:
    standings = Leaderboard()
    standings.update("p1", "Ann", 10, 1.0, 5)
    standings.update("p1", "Ann", 10, 1.0, 7)  # no change in standing, but version 7 is held
    standings.update("p1", "Ann", 99, 2.0, 6)  # older than 7: must be ignored
    assert standings.score("p1") == 10


@dataclass
class _Held:
    name: str
    score: int
    reached_at: float
    version: int


def expected_top(model: dict[str, _Held]) -> list[RankedEntry]:
    """The standings by brute force: sort everybody by (score desc, reached_at, id)."""
    ordered = sorted(model.items(), key=lambda item: (-item[1].score, item[1].reached_at, item[0]))
    return [
        RankedEntry(pid, held.name, held.score, rank) for rank, (pid, held) in enumerate(ordered, 1)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_brute_force_sort_under_random_updates(seed: int) -> None:
    rng = random.Random(seed)
    players = [f"p{index}" for index in range(rng.randrange(1, 40))]
    standings = Leaderboard()
    model: dict[str, _Held] = {}
    clock = 0.0
    for _ in range(400):
        player_id = rng.choice(players)
        # Few distinct scores and repeated instants, so ties are common.
        score = rng.randrange(-3, 12)
        if rng.random() < 0.7:
            clock += rng.choice([0.0, 0.5, 1.0])
        held = model.get(player_id)
        version = rng.randrange(0, 6) if held is None else held.version + rng.randrange(-2, 3)
        if held is not None and version < held.version:
            # Older than held: must be ignored.
            assert not standings.update(player_id, "stale", score, clock, version)
        elif held is not None and (held.score, held.reached_at) == (score, clock):
            # A repeat of the held standing (sent at the held version).
            assert not standings.update(player_id, held.name, score, clock, held.version)
        else:
            assert standings.update(player_id, f"n{version}", score, clock, version)
            model[player_id] = _Held(f"n{version}", score, clock, version)
        expected = expected_top(model)
        assert len(standings) == len(model)
        assert standings.top(len(players)) == expected
        cut = rng.randrange(0, len(players) + 2)
        assert standings.top(cut) == expected[:cut]
        for pid, _, score_held, rank in expected:
            assert standings.rank(pid) == rank
            assert standings.score(pid) == score_held
