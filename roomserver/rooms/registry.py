"""The rooms open on this node: opened on first use, one actor task each, evicted when closed."""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from roomserver.cluster.broker import Broker
from roomserver.cluster.presence import Presence
from roomserver.cluster.ticker import Tickers
from roomserver.config import RoomsConfig
from roomserver.rooms.room import Room
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)


class RoomDirectory:
    """Finds or opens a room; concurrent first joins open it once.

    A room closes itself when it has had no member and no work for `rooms.dispose_after_s`;
    the directory then forgets it, and the next `open` loads it afresh.
    """

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        presence: Presence,
        tickers: Tickers,
        config: RoomsConfig,
        start_task: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        """Create an empty directory.

        Args:
            ledger: Loads tournaments and standings.
            broker: The rooms' streams.
            presence: The rooms' players online.
            tickers: This node's ticker leases.
            config: Room settings.
            start_task: Runs a room's actor (in the node's task group).
        """
        self._ledger = ledger
        self._broker = broker
        self._presence = presence
        self._tickers = tickers
        self._config = config
        self._start_task = start_task
        self._rooms: dict[str, Room] = {}
        self._opening: dict[str, asyncio.Future[Room | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """The number of rooms open."""
        return len(self._rooms)

    def get(self, room_id: str) -> Room | None:
        """An open room, or None."""
        return self._rooms.get(room_id)

    async def open(self, room_id: str) -> Room | None:
        """The room of a tournament, opened if needed; None when there is no such tournament."""
        room = self._rooms.get(room_id)
        if room is not None:
            return room
        pending = self._opening.get(room_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Room | None] = asyncio.get_running_loop().create_future()
        self._opening[room_id] = future
        try:
            tournament = await self._ledger.load_tournament(room_id)
            if tournament is None:
                room = None
            else:
                room = Room(
                    tournament,
                    await self._ledger.standings(room_id),
                    self._broker,
                    self._presence,
                    self._config,
                    tickers=self._tickers,
                    on_closed=self._evict,
                    reload=lambda: self._ledger.load_tournament(room_id),
                    load_standings=lambda: self._ledger.standings(room_id),
                )
                self._rooms[room_id] = room
                task = self._start_task(room.run())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            future.set_result(room)
            return room
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters get it; nobody else must be told it was never read
            raise
        finally:
            del self._opening[room_id]

    def _evict(self, room: Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]

    def ticker_granted(self, room_id: str) -> None:
        """This node took a room's ticker lease: the room, if open, publishes as the ticker."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.ticker_granted()

    async def ticker_node(self, room_id: str) -> str | None:
        """The node publishing the room's leaderboard, or None when no node has members."""
        return await self._tickers.owner(room_id)

    async def players_online(self, room_id: str) -> int:
        """Players connected to the room on any node (presence is shared when nodes are)."""
        return await self._presence.count(room_id)

    async def went_offline(self, room_id: str, player_id: str) -> None:
        """A dead node's player went offline: the room (opened here if needed) announces it."""
        room = await self.open(room_id)
        if room is not None:
            await room.went_offline(player_id)

    async def push_chips(self, room_id: str, player_id: str, chips: int) -> None:
        """Push the player's chips in the room after a registration credited them.

        `balance` frames pushed outside a player's own requests carry the balance that just
        changed: after a registration (buy-in debited, starting chips credited) the chips in the
        room, as `balance.get` answers; after a refund or a prize, the cash (see `push_cash`).
        Only the player's connection to the room on this node gets it, if there is one.
        """
        room = self._rooms.get(room_id)
        if room is not None and room.is_member(player_id):
            await room.send_balances({player_id: chips})

    async def push_cash(self, room_id: str, player_ids: Iterable[str]) -> None:
        """Push each player's cash balance after a refund (hop-off, cancellation) or a prize.

        The balance is in the tournament's currency, sent in the tournament's room.

        The chips of a closed tournament or of a player who hopped off are gone; what changed is
        the cash the buy-in came from, so that is the balance the frame carries. Only players
        connected to the room on this node get it (read from the ledger after the payment
        committed). A notice: failing to send it never fails the payment that committed.
        """
        room = self._rooms.get(room_id)
        if room is None:
            return
        connected = [player_id for player_id in player_ids if room.is_member(player_id)]
        if not connected:
            return
        try:
            balances = await self._ledger.cash_balances(connected, room.tournament.config.currency)
        except Exception:
            log.exception("room %s: could not read balances to push", room_id)
            return
        await room.send_balances(balances)

    def stop(self) -> None:
        """Cancel every room task (at shutdown, once no connection is left)."""
        for task in self._tasks:
            task.cancel()
