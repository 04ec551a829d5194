"""Spin replay for audit: play a recorded spin again from its seed, client seed and nonce.

Pure: the caller loads the recorded spin; this says whether the game math, given the same inputs,
gives the same reels and win, and whether the seed is the one whose hash players were shown.
"""

from dataclasses import dataclass
from typing import Final

import msgspec

from roomserver.domain import fairness, slot_game


class ReelsOutcome(msgspec.Struct, frozen=True):
    """What the reels showed and paid, as recorded or recomputed."""

    symbols: list[str]
    stops: list[int]
    multiplier: int
    rule: str | None
    win: int = 0


_recorded_decoder: Final = msgspec.json.Decoder(ReelsOutcome)


@dataclass(frozen=True, slots=True)
class Replay:
    """The verdict: `match` when the recomputed outcome and win equal the recorded ones."""

    match: bool
    seed_matches_hash: bool
    recorded: ReelsOutcome
    recomputed: ReelsOutcome | None  # None when the game math version is not this server's
    reason: str | None


def replay_spin(
    *,
    server_seed: bytes,
    server_seed_hash: str,
    client_seed: str,
    nonce: int,
    math_version: str,
    stake: int,
    recorded_win: int,
    recorded_outcome_json: str,
) -> Replay:
    """Recompute the spin and compare it with what was recorded."""
    recorded = msgspec.structs.replace(
        _recorded_decoder.decode(recorded_outcome_json), win=recorded_win
    )
    seed_ok = fairness.server_seed_hash(server_seed) == server_seed_hash
    if math_version != slot_game.MATH_VERSION:
        return Replay(
            False, seed_ok, recorded, None, f"game math {math_version!r} is not on this server"
        )
    outcome = slot_game.play(server_seed, client_seed, nonce)
    recomputed = ReelsOutcome(
        symbols=list(outcome.symbols),
        stops=list(outcome.stops),
        multiplier=outcome.multiplier,
        rule=outcome.rule,
        win=slot_game.win_for(stake, outcome),
    )
    match = seed_ok and recomputed == recorded
    reason = None
    if not seed_ok:
        reason = "the server seed does not hash to the published server_seed_hash"
    elif not match:
        reason = "the recomputed outcome differs from the recorded one"
    return Replay(match, seed_ok, recorded, recomputed, reason)
