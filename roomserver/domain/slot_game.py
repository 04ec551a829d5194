"""Fruit-3: a 3-reel, 1-payline slot with an exact 96% return to player.

A spin draws one stop per reel, reels left to right, each with
``FairRandom(server_seed, client_seed, nonce).below(len(reel))`` on the same stream (see
:mod:`roomserver.domain.fairness`). The payline shows the symbol at each stop, and the first
rule of :data:`PAYTABLE` that matches pays ``stake * multiplier``.

Reel strips (25 stops each, listed from stop 0)::

             BLANK CHERRY LEMON BELL BAR SEVEN
    reel 1     8     5      5    4    2    1
    reel 2     9     3      6    4    2    1
    reel 3    10     1      6    3    4    1

Paytable, first match wins; a rule needs ``min_count`` payline positions showing any of
its ``symbols``::

    three_sevens     SEVEN x3            100
    three_bars       BAR x3               25
    three_bells      BELL x3              15
    three_lemons     LEMON x3             10
    three_cherries   CHERRY x3            10
    any_bars         BAR/SEVEN x3          5
    two_cherries     CHERRY x2 anywhere    5
    one_cherry       CHERRY x1 anywhere    2

Over all 25**3 = 15625 stop combinations the multipliers sum to 15000, so the RTP is
exactly 96/100. Hit frequency is 5338/15625 (34.2%) and the standard deviation of the
multiplier of one spin is about 2.09.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Final, NamedTuple

from roomserver.domain.fairness import FairRandom

__all__ = [
    "GAME_ID",
    "MATH_VERSION",
    "PAYTABLE",
    "REELS",
    "SYMBOLS",
    "PaytableRule",
    "SpinOutcome",
    "evaluate",
    "exact_rtp",
    "play",
    "win_for",
]

GAME_ID: Final = "fruit-3"
MATH_VERSION: Final = "fruit-3/1"

SYMBOLS: Final = ("BLANK", "CHERRY", "LEMON", "BELL", "BAR", "SEVEN")


def _strip(stops: str) -> tuple[str, ...]:
    """Parse a reel strip written as space-separated symbol names."""
    return tuple(stops.split())


# Symbols are spread so that no reel shows long runs of one kind.
REELS: Final[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = (
    _strip(
        "SEVEN BLANK CHERRY LEMON BLANK BELL CHERRY BLANK LEMON BAR BLANK CHERRY BELL"
        " LEMON BLANK CHERRY BELL BLANK LEMON BAR BLANK CHERRY BELL LEMON BLANK"
    ),
    _strip(
        "SEVEN BLANK LEMON CHERRY BLANK BELL LEMON BLANK BAR LEMON BLANK CHERRY BELL"
        " BLANK LEMON BELL BLANK BAR LEMON BLANK CHERRY BELL BLANK LEMON BLANK"
    ),
    _strip(
        "SEVEN BLANK BAR LEMON BLANK BELL LEMON BLANK BAR BLANK LEMON CHERRY BLANK BELL"
        " LEMON BLANK BAR BLANK LEMON BELL BLANK BAR LEMON BLANK BLANK"
    ),
)


class PaytableRule(NamedTuple):
    """A rule that pays when at least ``min_count`` payline positions show one of ``symbols``."""

    name: str
    multiplier: int
    symbols: frozenset[str]
    min_count: int


PAYTABLE: Final[tuple[PaytableRule, ...]] = (
    PaytableRule("three_sevens", 100, frozenset({"SEVEN"}), 3),
    PaytableRule("three_bars", 25, frozenset({"BAR"}), 3),
    PaytableRule("three_bells", 15, frozenset({"BELL"}), 3),
    PaytableRule("three_lemons", 10, frozenset({"LEMON"}), 3),
    PaytableRule("three_cherries", 10, frozenset({"CHERRY"}), 3),
    PaytableRule("any_bars", 5, frozenset({"BAR", "SEVEN"}), 3),
    PaytableRule("two_cherries", 5, frozenset({"CHERRY"}), 2),
    PaytableRule("one_cherry", 2, frozenset({"CHERRY"}), 1),
)


class SpinOutcome(NamedTuple):
    """Result of one spin; the win is ``stake * multiplier``."""

    stops: tuple[int, int, int]
    symbols: tuple[str, str, str]
    multiplier: int
    rule: str | None


def evaluate(symbols: Sequence[str]) -> tuple[int, str | None]:
    """Return ``(multiplier, rule name)`` for a payline, ``(0, None)`` when nothing pays."""
    for rule in PAYTABLE:
        if sum(symbol in rule.symbols for symbol in symbols) >= rule.min_count:
            return rule.multiplier, rule.name
    return 0, None


def _build_outcomes() -> tuple[SpinOutcome, ...]:
    """Precompute every stop combination's outcome at index ``(s0 * len1 + s1) * len2 + s2``."""
    # Evaluating each distinct payline once and sharing it keeps import fast and small.
    paylines: dict[tuple[str, str, str], tuple[tuple[str, str, str], int, str | None]] = {}
    outcomes = []
    all_stops = itertools.product(*(range(len(reel)) for reel in REELS))
    for stops, symbols in zip(all_stops, itertools.product(*REELS), strict=True):
        payline = paylines.get(symbols)
        if payline is None:
            payline = paylines[symbols] = (symbols, *evaluate(symbols))
        outcomes.append(SpinOutcome._make((stops, *payline)))
    return tuple(outcomes)


_LEN0: Final = len(REELS[0])
_LEN1: Final = len(REELS[1])
_LEN2: Final = len(REELS[2])
# Every spin returns one of these shared immutable outcomes, so play() allocates nothing
# beyond its random stream.
_OUTCOMES: Final = _build_outcomes()


def play(server_seed: bytes, client_seed: str, nonce: int) -> SpinOutcome:
    """Spin the reels for one round; the result depends only on the three inputs."""
    rng = FairRandom(server_seed, client_seed, nonce)
    s0 = rng.below(_LEN0)
    s1 = rng.below(_LEN1)
    s2 = rng.below(_LEN2)
    return _OUTCOMES[(s0 * _LEN1 + s1) * _LEN2 + s2]


def exact_rtp() -> Fraction:
    """Return the exact return to player: mean multiplier over every stop combination."""
    return Fraction(sum(outcome.multiplier for outcome in _OUTCOMES), len(_OUTCOMES))


def win_for(stake: int, outcome: SpinOutcome) -> int:
    """Return the win in minor units for a stake in minor units."""
    return stake * outcome.multiplier
