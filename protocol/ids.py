"""Ids and enumerations shared by the wire, the side API, the domain and the ledger, defined once.

A player, room or tournament id is 1-64 characters of letters, digits and `_ . : -`; an
idempotency key is 1-128 printable characters (no control characters, so never a NUL byte that
PostgreSQL would refuse).
"""

from typing import Annotated, Final, Literal

from msgspec import Meta

ID_MAX_LENGTH: Final = 64
# `(?!\n)`: Python's `$` also matches before a final newline, which must not slip through; the
# lookahead keeps the pattern valid (and the same) for JSON Schema's ECMA-262 regexes.
ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]+$(?!\n)"
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 128
# Printable: no C0 control characters, no DEL, no C1 control characters.
IDEMPOTENCY_KEY_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]+$(?!\n)"

Id = Annotated[str, Meta(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
RoomId = Id
PlayerId = Id
TournamentId = Id
IdempotencyKey = Annotated[
    str,
    Meta(min_length=1, max_length=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=IDEMPOTENCY_KEY_PATTERN),
]

# Where a tournament is in its lifecycle (see roomserver.domain.lifecycle for the moves).
TournamentStatus = Literal["scheduled", "running", "completing", "completed", "cancelled"]
# How a tournament ranks its players.
Scoring = Literal["total_win", "biggest_multiplier", "win_to_bet_ratio"]
