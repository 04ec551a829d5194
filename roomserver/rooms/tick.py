"""A room's coalescing tick: what the room tells the other nodes and, on the ticker, publishes.

Runs in the room's task. Each tick a node forwards the standings it committed since the last
one (a note on the room's channel, `Broker.forward`), so every node holding the room keeps the
same standings. The node holding the room's ticker lease then publishes the leaderboard (when
what members see changed) and, in big rooms, the count of players online at most once a second,
each with its fence: a node that lost the lease while paused is refused and publishes nothing.
A new ticker, and a ticker every `rooms.standings_reread_s`, re-reads the standings from the
ledger first, so a note lost on the way (notes are not kept) is corrected.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec

from protocol.codec import decode_server
from protocol.messages import LeaderboardUpdated
from roomserver.cluster.broker import Broker
from roomserver.cluster.presence import Presence
from roomserver.cluster.ticker import StaleFence, Tickers
from roomserver.config import RoomsConfig
from roomserver.domain.room_state import COUNT_INTERVAL_S, RoomState, StandingsNote
from roomserver.domain.tournament import Standing

log = logging.getLogger(__name__)

_note_decoder = msgspec.json.Decoder(StandingsNote)


def decode_note(note: bytes) -> StandingsNote | None:
    """The standings another node told, or None (logged) when the note is not one."""
    try:
        return _note_decoder.decode(note)
    except msgspec.DecodeError:
        log.warning("dropped a note that is not a standings note: %r", note[:80])
        return None


def leaderboard_pushed(frame: bytes) -> LeaderboardUpdated | None:
    """The `leaderboard.updated` a delivered frame is, or None."""
    try:
        message = decode_server(frame)
    except msgspec.DecodeError:
        return None
    return message if isinstance(message, LeaderboardUpdated) else None


class RoomTick:
    """The tick of one room on this node (see the module's docstring)."""

    def __init__(
        self,
        state: RoomState,
        broker: Broker,
        presence: Presence,
        tickers: Tickers,
        config: RoomsConfig,
        *,
        load_standings: Callable[[], Awaitable[list[Standing]]] | None,
        post: Callable[[], None],
    ) -> None:
        """The tick of `state`'s room.

        Args:
            state: The room's rules.
            broker: Where frames are published and notes forwarded.
            presence: The count of players online.
            tickers: This node's ticker leases.
            config: Room settings (`leaderboard_hz`, `standings_reread_s`).
            load_standings: Reads the stored standings (None: never re-read).
            post: Asks the room's task to run `flush` (from a timer).
        """
        self._state = state
        self._room_id = state.room_id
        self._broker = broker
        self._presence = presence
        self._tickers = tickers
        self._config = config
        self._load_standings = load_standings
        self._post = post
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush_s = 0.0
        # The fence of the last flush as ticker, and when the standings are next re-read.
        self._fence: str | None = None
        self._reread_at_s = 0.0

    @property
    def pending(self) -> bool:
        """Whether a flush is scheduled."""
        return self._handle is not None

    @property
    def is_ticker(self) -> bool:
        """Whether this node holds the room's ticker lease, as far as it knows."""
        return self._tickers.fence(self._room_id) is not None

    def schedule(self, *, members: bool) -> None:
        """Arm the timer when a change waits, or to count a big room's players (ticker)."""
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        if self._state.needs_flush:
            delay = max(0.0, self._last_flush_s + 1.0 / self._config.leaderboard_hz - loop.time())
        elif members and self._state.counts_only and self.is_ticker:
            delay = max(0.0, self._last_flush_s + COUNT_INTERVAL_S - loop.time())
        else:
            return
        self._handle = loop.call_later(delay, self._due)

    def cancel(self) -> None:
        """Disarm the timer (the room closed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _due(self) -> None:
        self._handle = None
        self._post()

    async def flush(self) -> None:
        """Tell the other nodes what this one committed; publish what is due, as the ticker."""
        self._last_flush_s = asyncio.get_running_loop().time()
        note = self._state.take_untold()
        if note:
            try:
                await self._broker.forward(self._room_id, msgspec.json.encode(note))
            except Exception:
                # Lost for the ticker until its next re-read of the standings.
                log.warning("room %s: standings not forwarded", self._room_id, exc_info=True)
        fence = self._tickers.fence(self._room_id)
        if fence is None:
            self._fence = None
            self._state.settle()
            return
        now = time.monotonic()
        if self._load_standings is not None and (fence != self._fence or now >= self._reread_at_s):
            self._state.reload(await self._load_standings())
            self._reread_at_s = now + self._config.standings_reread_s
        self._fence = fence
        online = await self._presence.count(self._room_id)
        try:
            for frame in self._state.flush(now_s=time.time(), online=online):
                await self._broker.publish(self._room_id, frame, fence=fence)
        except StaleFence:
            log.info("room %s: ticker lease lost; another node publishes", self._room_id)
            self._tickers.lost(self._room_id, fence)
            self._fence = None
