"""The one vocabulary of outcomes and refusals, and the exception that carries a refusal.

The ledger's SQL functions answer with a status (`OK`, `REPLAY`, `ALREADY`, or why they refused),
the store turns the races the database settles (a nonce or a key taken by a concurrent request)
into statuses as well, and the services refuse with the same names. Each edge maps a refusal
once: the WebSocket gateway to an error code (`roomserver.gateway.wire_errors`), the side API to
an HTTP status (`api.errors`).
"""

from enum import StrEnum, unique
from typing import Final


@unique
class Refusal(StrEnum):
    """What a ledger function or a use case answered: accepted, or why it refused.

    Accepted is `OK`, `REPLAY` or `ALREADY`. The values are the statuses the SQL functions return.
    """

    # Accepted.
    OK = "OK"
    """Done now."""
    REPLAY = "REPLAY"
    """Done earlier under the same idempotency key; the stored response is returned."""
    ALREADY = "ALREADY"
    """Nothing to do: already the case (a repeated registration)."""

    # Refused by the rules.
    NOT_FOUND = "NOT_FOUND"
    PLAYER_NOT_FOUND = "PLAYER_NOT_FOUND"
    NOT_REGISTERED = "NOT_REGISTERED"
    NOT_IN_ROOM = "NOT_IN_ROOM"
    BET_NOT_FOUND = "BET_NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    UNKNOWN_GAME = "UNKNOWN_GAME"
    ROOM_FULL = "ROOM_FULL"
    TOURNAMENT_NOT_RUNNING = "TOURNAMENT_NOT_RUNNING"
    TOURNAMENT_RUNNING = "TOURNAMENT_RUNNING"
    TOURNAMENT_FINISHED = "TOURNAMENT_FINISHED"
    TOURNAMENT_NOT_ENDED = "TOURNAMENT_NOT_ENDED"
    STAKE_OUT_OF_RANGE = "STAKE_OUT_OF_RANGE"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    RG_BLOCKED = "RG_BLOCKED"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
    TRANSACTION_ROLLED_BACK = "TRANSACTION_ROLLED_BACK"
    ROUND_SETTLED = "ROUND_SETTLED"
    ROUND_MISMATCH = "ROUND_MISMATCH"
    ALREADY_SETTLED = "ALREADY_SETTLED"
    ALREADY_ROLLED_BACK = "ALREADY_ROLLED_BACK"

    # Refused for now: the same request may succeed when retried.
    RATE_LIMITED = "RATE_LIMITED"
    """Too much at once (a room's inbox is full)."""
    NONCE_TAKEN = "NONCE_TAKEN"
    """A concurrent spin of the player used the nonce: try again with a fresh one."""
    KEY_TAKEN = "KEY_TAKEN"
    """A concurrent request took the idempotency key: try again to find its stored response."""

    @property
    def accepted(self) -> bool:
        """Whether the call was accepted (done now, done before, or nothing to do)."""
        return self in ACCEPTED


ACCEPTED: Final = frozenset({Refusal.OK, Refusal.REPLAY, Refusal.ALREADY})


class Refused(Exception):
    """A request was refused; `refusal` says why, `message` (if any) explains it to a person.

    Without a message each edge uses its own wording for the refusal.
    """

    def __init__(self, refusal: Refusal, message: str | None = None) -> None:
        """A refusal, with a message for a person or the edge's own wording."""
        super().__init__(message or refusal.value)
        self.refusal = refusal
        self.message = message
