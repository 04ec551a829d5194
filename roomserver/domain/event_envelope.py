"""Events as they leave the node: the API.md envelope, and the sink interface the relay uses.

Rows of the outbox table become `Event`s; a sink publishes a batch and says which ones failed.
"""

from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

SCHEMA_VERSION: Final = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event, in the envelope of API.md ("Events (SQS)")."""

    event_id: str
    event_type: str
    schema_version: int  # always present (omit_defaults would drop a default)
    occurred_at: str  # UTC ISO-8601 with milliseconds
    trace_id: str
    tournament_id: str | None = None
    player_id: str | None = None
    idempotency_key: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"{}")

    @property
    def group_id(self) -> str:
        """The FIFO ordering group: the tournament, else the player (wallet events)."""
        if self.tournament_id is not None:
            return self.tournament_id
        return f"player:{self.player_id or 'none'}"


_encoder: Final = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    """The event as one JSON object (no trailing newline)."""
    return _encoder.encode(event)


class EventSink(Protocol):
    """Where the relay publishes events."""

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Publish a batch; returns the events that failed, as event_id -> reason.

        Raising means every event of the batch failed (the reason is the exception).
        """
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...
