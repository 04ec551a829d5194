"""The tournament state machine: legal moves, refusals, and what the scheduler does when."""

import datetime as dt
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.ids import TournamentStatus as Status
from roomserver.domain.lifecycle import (
    FINAL_STATUSES,
    Event,
    IllegalTransition,
    due_event,
    next_status,
)

T0 = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "event", "after"),
    [
        ("scheduled", "start", "running"),
        ("running", "end", "completing"),
        ("completing", "complete", "completed"),
        ("scheduled", "cancel", "cancelled"),
        ("running", "cancel", "cancelled"),
    ],
)
def test_legal_transitions(status: Status, event: Event, after: Status) -> None:
    assert next_status(status, event) == after


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("scheduled", "end"),
        ("scheduled", "complete"),
        ("running", "start"),
        ("running", "complete"),
        ("completing", "start"),
        ("completing", "cancel"),
        ("completed", "cancel"),
        ("completed", "complete"),
        ("cancelled", "start"),
    ],
)
def test_illegal_transitions_are_refused(status: Status, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"a {status} tournament cannot {event}"):
        next_status(status, event)


@settings(database=None)
@given(st.lists(st.sampled_from(get_args(Event)), max_size=20))
def test_final_states_are_final_and_completion_passes_through_completing(
    events: list[Event],
) -> None:
    status: Status = "scheduled"
    seen: list[Status] = [status]
    for event in events:
        try:
            status = next_status(status, event)
        except IllegalTransition:
            continue
        assert seen[-1] not in FINAL_STATUSES
        seen.append(status)
    if "completed" in seen:
        assert seen.index("completing") == seen.index("completed") - 1


def test_a_scheduled_tournament_starts_at_its_start_and_ends_at_its_end() -> None:
    starts, ends = T0, T0 + 10 * SECOND
    assert due_event("scheduled", "scheduled", starts, ends, T0 - SECOND) is None
    assert due_event("scheduled", "scheduled", starts, ends, T0) == "start"
    assert due_event("scheduled", "running", starts, ends, ends - SECOND) is None
    assert due_event("scheduled", "running", starts, ends, ends) == "end"
    assert due_event("scheduled", "completing", starts, ends, ends) == "complete"
    assert due_event("scheduled", "completed", starts, ends, ends + SECOND) is None
    assert due_event("scheduled", "cancelled", starts, ends, ends + SECOND) is None


def test_a_late_scheduler_still_starts_then_ends() -> None:
    starts, ends = T0, T0 + 10 * SECOND
    later = ends + 60 * SECOND
    assert due_event("scheduled", "scheduled", starts, ends, later) == "start"
    assert due_event("scheduled", "running", starts, ends, later) == "end"


def test_hop_on_off_runs_until_its_end_if_it_has_one() -> None:
    assert due_event("hop_on_off", "running", None, None, T0 + 10**6 * SECOND) is None
    assert due_event("hop_on_off", "running", None, T0, T0 - SECOND) is None
    assert due_event("hop_on_off", "running", None, T0, T0) == "end"
