"""The room actor's posting policy: joins are shed when the inbox is full, scores never are."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from protocol.codes import ErrorCode
from roomserver.cluster.broker_local import LocalBroker
from roomserver.cluster.presence_local import LocalPresence
from roomserver.cluster.ticker import LocalTickers
from roomserver.config import RoomsConfig
from roomserver.gateway.session import Session
from roomserver.gateway.wire_errors import wire_code
from roomserver.rooms.room import Room, RoomBusy
from tests.unit.test_room_state import tournament


async def test_a_full_inbox_refuses_joins_but_not_scores() -> None:
    config = RoomsConfig(inbox_size=1)
    room = Room(
        tournament(),
        [],
        LocalBroker(8),
        LocalPresence(),
        config,
        tickers=LocalTickers("node-1"),
        on_closed=lambda room: None,
    )
    session = cast(Session, object())
    # The actor is not running: the first join waits in the inbox and fills it.
    waiting = asyncio.create_task(room.join(session, None, 0, None))
    await asyncio.sleep(0)
    with pytest.raises(RoomBusy) as refused:
        await room.join(session, None, 0, None)
    assert wire_code(refused.value) is ErrorCode.RATE_LIMITED
    scores = [asyncio.create_task(room.record_score("p", "P", n, 1.0, n)) for n in range(5)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in scores)
    for task in (waiting, *scores):
        task.cancel()
    await asyncio.gather(waiting, *scores, return_exceptions=True)
