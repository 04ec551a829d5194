"""The tournament state machine, pure: which events move a tournament, and which one is due.

    scheduled --start--> running --end--> completing --complete--> completed
    scheduled|running --cancel--> cancelled

`completing` is the window in which prizes are paid (once); completed and cancelled are final.
The scheduler asks `due_event` and applies what it returns under the tournament's row lock.
"""

import datetime as dt
from typing import Final, Literal

from protocol.ids import TournamentStatus

Kind = Literal["scheduled", "hop_on_off"]
Event = Literal["start", "end", "complete", "cancel"]

_TRANSITIONS: Final[dict[tuple[TournamentStatus, Event], TournamentStatus]] = {
    ("scheduled", "start"): "running",
    ("running", "end"): "completing",
    ("completing", "complete"): "completed",
    ("scheduled", "cancel"): "cancelled",
    ("running", "cancel"): "cancelled",
}

FINAL_STATUSES: Final[frozenset[TournamentStatus]] = frozenset({"completed", "cancelled"})


class IllegalTransition(Exception):
    """The event does not apply to the tournament's status."""

    def __init__(self, status: TournamentStatus, event: Event) -> None:
        """`event` cannot happen to a tournament in `status`."""
        super().__init__(f"a {status} tournament cannot {event}")
        self.status = status
        self.event = event


def next_status(status: TournamentStatus, event: Event) -> TournamentStatus:
    """The status after `event`.

    Raises:
        IllegalTransition: the event does not apply in `status`.
    """
    try:
        return _TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None


def due_event(
    kind: Kind,
    status: TournamentStatus,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    now: dt.datetime,
) -> Event | None:
    """What the scheduler should do now, if anything.

    A scheduled tournament starts at `starts_at` and ends at `ends_at` (a late scheduler does
    both in turn); a hop-on/hop-off tournament ends only at its `ends_at`, if it has one; a
    completing tournament is completed (its prizes paid) as soon as possible.
    """
    if status == "scheduled":
        return "start" if starts_at is None or starts_at <= now else None
    if status == "running":
        if ends_at is not None and ends_at <= now:
            return "end"
        return None
    if status == "completing":
        return "complete"
    return None
