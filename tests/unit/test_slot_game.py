"""Tests for the fruit-3 slot math."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from fractions import Fraction

import pytest

from roomserver.domain import slot_game
from roomserver.domain.fairness import FairRandom
from roomserver.domain.slot_game import (
    PAYTABLE,
    REELS,
    SYMBOLS,
    SpinOutcome,
    evaluate,
    exact_rtp,
    play,
    win_for,
)

SEED = bytes.fromhex("9f" * 32)
CLIENT = "rtp-check"


def reference_pay(symbols: Sequence[str]) -> tuple[int, str | None]:
    """First matching paytable rule, re-implemented from the rule data."""
    for rule in PAYTABLE:
        matching = [symbol for symbol in symbols if symbol in rule.symbols]
        if len(matching) >= rule.min_count:
            return rule.multiplier, rule.name
    return 0, None


def reference_multipliers() -> list[int]:
    """The multiplier of every stop combination, enumerated from the public reels."""
    return [reference_pay(line)[0] for line in itertools.product(*REELS)]


def test_exact_rtp_is_96_percent() -> None:
    assert exact_rtp() == Fraction(96, 100)


def test_exact_rtp_matches_an_independent_enumeration() -> None:
    multipliers = reference_multipliers()
    assert len(multipliers) == math.prod(len(reel) for reel in REELS)
    assert Fraction(sum(multipliers), len(multipliers)) == exact_rtp()


def test_volatility_and_hit_frequency_stay_moderate() -> None:
    multipliers = reference_multipliers()
    count = len(multipliers)
    mean = Fraction(sum(multipliers), count)
    variance = Fraction(sum(m * m for m in multipliers), count) - mean**2
    hit_frequency = Fraction(sum(m > 0 for m in multipliers), count)
    assert variance <= Fraction(25, 4)  # standard deviation <= 2.5
    assert Fraction(1, 5) <= hit_frequency <= Fraction(2, 5)


def test_game_data_is_well_formed() -> None:
    assert slot_game.GAME_ID == "fruit-3"
    assert slot_game.MATH_VERSION.startswith(slot_game.GAME_ID + "/")
    assert len(REELS) == 3
    for reel in REELS:
        assert 20 <= len(reel) <= 32
        assert set(reel) <= set(SYMBOLS)
    assert len({rule.name for rule in PAYTABLE}) == len(PAYTABLE)
    for rule in PAYTABLE:
        assert type(rule.multiplier) is int
        assert rule.multiplier > 0
        assert rule.symbols <= set(SYMBOLS)
        assert 1 <= rule.min_count <= 3


def test_evaluate_follows_the_paytable_order() -> None:
    assert evaluate(("SEVEN", "SEVEN", "SEVEN")) == (100, "three_sevens")
    assert evaluate(("SEVEN", "BAR", "SEVEN")) == (5, "any_bars")
    assert evaluate(("CHERRY", "CHERRY", "CHERRY")) == (10, "three_cherries")
    assert evaluate(("BLANK", "CHERRY", "CHERRY")) == (5, "two_cherries")
    assert evaluate(("LEMON", "BELL", "CHERRY")) == (2, "one_cherry")
    assert evaluate(("BLANK", "BAR", "BAR")) == (0, None)
    for line in itertools.product(SYMBOLS, repeat=3):
        assert evaluate(line) == reference_pay(line)


def test_play_replays_identically() -> None:
    for nonce in range(200):
        assert play(SEED, CLIENT, nonce) == play(SEED, CLIENT, nonce)


def test_play_draws_one_stop_per_reel_in_order() -> None:
    for nonce in range(200):
        rng = FairRandom(SEED, CLIENT, nonce)
        expected = tuple(rng.below(len(reel)) for reel in REELS)
        assert play(SEED, CLIENT, nonce).stops == expected


def check_outcome(outcome: SpinOutcome) -> None:
    """Assert that an outcome is consistent with the reels and the paytable."""
    assert len(outcome.stops) == 3
    assert all(0 <= stop < len(reel) for stop, reel in zip(outcome.stops, REELS, strict=True))
    assert outcome.symbols == tuple(
        reel[stop] for stop, reel in zip(outcome.stops, REELS, strict=True)
    )
    assert type(outcome.multiplier) is int
    assert outcome.multiplier >= 0
    assert (outcome.multiplier, outcome.rule) == reference_pay(outcome.symbols)


def test_outcomes_match_their_stops_and_the_paytable() -> None:
    outcomes = [play(SEED, CLIENT, nonce) for nonce in range(5000)]
    for outcome in outcomes:
        check_outcome(outcome)
    assert {outcome.rule for outcome in outcomes} >= {None, "one_cherry", "two_cherries"}


def test_any_inputs_give_a_consistent_outcome() -> None:
    picker = random.Random(2)
    for _ in range(1000):
        server_seed = picker.randbytes(32)
        client_seed = "".join(chr(picker.randint(32, 0x2FFF)) for _ in range(picker.randint(0, 64)))
        nonce = picker.randint(0, 2**63)
        outcome = play(server_seed, client_seed, nonce)
        check_outcome(outcome)
        assert play(server_seed, client_seed, nonce) == outcome


@pytest.mark.parametrize(
    ("stake", "multiplier", "win"),
    [(100, 0, 0), (100, 2, 200), (1, 100, 100), (12_345, 5, 61_725), (0, 25, 0)],
)
def test_win_for_is_stake_times_multiplier(stake: int, multiplier: int, win: int) -> None:
    outcome = SpinOutcome((0, 0, 0), ("BLANK", "BLANK", "BLANK"), multiplier, None)
    assert win_for(stake, outcome) == win
    assert type(win_for(stake, outcome)) is int


@pytest.mark.slow
def test_simulated_rtp_is_close_to_96_percent() -> None:
    spins = 1_000_000
    total = sum(play(SEED, CLIENT, nonce).multiplier for nonce in range(spins))
    assert abs(total / spins - 0.96) <= 0.0096
