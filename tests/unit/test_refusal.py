"""The one refusal vocabulary: the SQL's statuses, and each edge's mapping of them."""

import re
from pathlib import Path

import msgspec
import pytest

from api.errors import HTTP_OF_REFUSAL, ApiError
from protocol.codes import ErrorCode
from protocol.messages import Error
from roomserver.domain.refusal import ACCEPTED, Refusal, Refused
from roomserver.gateway.wire_errors import WIRE_CODE_OF_REFUSAL, error_frame, wire_code

FUNCTIONS = Path(__file__).parents[2] / "roomserver" / "store" / "sql" / "functions"


def _frame(failure: BaseException) -> Error:
    return msgspec.json.decode(error_frame(failure, rid="r", room=None, now_s=0.0), type=Error)


def test_every_status_the_sql_returns_is_a_refusal() -> None:
    statuses = {
        status
        for path in FUNCTIONS.glob("*.sql")
        for status in re.findall(r"'([A-Z][A-Z_]+)'", path.read_text())
    }
    assert statuses, "no statuses found"
    assert statuses <= set(Refusal)


def test_every_refusal_has_an_http_status() -> None:
    assert set(HTTP_OF_REFUSAL) == set(Refusal) - ACCEPTED


@pytest.mark.parametrize(
    ("refusal", "status", "message"),
    [
        (Refusal.NOT_REGISTERED, 404, "the player is not registered in this tournament"),
        (Refusal.TOURNAMENT_FINISHED, 409, "the tournament is completing or over"),
        (Refusal.INSUFFICIENT_FUNDS, 422, "balance too low"),
        (Refusal.UNKNOWN_GAME, 422, "unknown game"),
    ],
)
def test_a_refusal_over_http(refusal: Refusal, status: int, message: str) -> None:
    error = ApiError.from_refused(Refused(refusal))
    assert (error.code, error.status, error.message) == (refusal.value, status, message)
    assert type(error.code) is str


def test_a_refusal_keeps_its_own_message_over_http() -> None:
    error = ApiError.from_refused(Refused(Refusal.NOT_FOUND, "no tournament 't'"))
    assert (error.status, error.message) == (404, "no tournament 't'")


def test_refusals_on_the_wire() -> None:
    for refusal, code in WIRE_CODE_OF_REFUSAL.items():
        assert wire_code(Refused(refusal)) is code
    frame = _frame(Refused(Refusal.RG_BLOCKED))
    assert frame.payload.code is ErrorCode.RG_BLOCKED
    assert frame.payload.message == "blocked by responsible-gaming limits"
    assert not frame.payload.retryable


def test_a_busy_room_is_rate_limited_and_retryable() -> None:
    frame = _frame(Refused(Refusal.RATE_LIMITED, "the room is busy; retry shortly"))
    assert frame.payload.code is ErrorCode.RATE_LIMITED
    assert frame.payload.message == "the room is busy; retry shortly"
    assert frame.payload.retryable


def test_a_lost_race_is_an_internal_error_to_retry() -> None:
    frame = _frame(Refused(Refusal.NONCE_TAKEN))
    assert frame.payload.code is ErrorCode.INTERNAL
    assert frame.payload.message == "internal error"
    assert frame.payload.retryable


def test_a_refusal_no_player_can_meet_is_internal_on_the_wire() -> None:
    assert Refusal.ROUND_SETTLED not in WIRE_CODE_OF_REFUSAL
    frame = _frame(Refused(Refusal.ROUND_SETTLED))
    assert (frame.payload.code, frame.payload.message) == (ErrorCode.INTERNAL, "internal error")
