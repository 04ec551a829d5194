"""A tournament room on this node as an actor: one task, a bounded inbox, a coalescing tick.

The room's rules live in `RoomState` (pure); this module is the runtime around them. All
mutation of the room's state happens in the room's task: other tasks post commands and await a
future the room resolves. The room's stream (`seq`, history) lives in the broker and its online
count in presence; the room publishes the frames `RoomState` returns, and its members receive
room frames only from the broker subscription, so they see what every other node's members see.

Posting never blocks. Commands that follow committed work or release a member (scores, hop-offs,
lifecycle, balances, leaves, the tick) take a separate unbounded queue served first: each comes
from a caller awaiting its own answer, so they are bounded by the callers, and refusing one would
lose news of money that already moved. New work (a join) takes the bounded inbox and is refused
with `RoomBusy` (retryable) when it is full.

A room with no member and nothing to do closes itself after `dispose_after_s`; posting a join to
a closed room raises `RoomClosed` (open it again), other commands are applied or dropped as
there is nobody left to tell.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from msgspec import Raw

from protocol.codec import encode
from protocol.codes import CloseReason
from protocol.messages import ServerMessage
from roomserver.cluster.broker import Broker, StreamPosition
from roomserver.cluster.presence import Presence
from roomserver.cluster.ticker import Tickers
from roomserver.config import RoomsConfig
from roomserver.domain.refusal import Refusal, Refused
from roomserver.domain.room_state import RoomState
from roomserver.domain.tournament import Standing, Tournament
from roomserver.rooms.commands import (
    FLUSH,
    LEADERBOARD_PREFIX,
    LIFECYCLE_PREFIX,
    REFRESH,
    Balances,
    Command,
    Flush,
    Heard,
    Join,
    Leave,
    Lifecycle,
    Refresh,
    Score,
    Seen,
    Unregister,
    WentOffline,
)
from roomserver.rooms.fanout import Fanout
from roomserver.rooms.member import Member
from roomserver.rooms.tick import RoomTick, decode_note, leaderboard_pushed

log = logging.getLogger(__name__)


class RoomBusy(Refused):
    """The room's inbox is full: the join is refused; the client may retry it."""

    def __init__(self) -> None:
        """A retryable refusal."""
        super().__init__(Refusal.RATE_LIMITED, "the room is busy; retry shortly")


class RoomClosed(Exception):
    """The room closed (no members, quiet) before the join reached it: open it again."""


def _connection_id(member: Member) -> str:
    # Unique among this node's live members; a shared presence qualifies it with the node.
    return f"{id(member):x}"


class Room:
    """The live state of one tournament room on this node."""

    def __init__(
        self,
        tournament: Tournament,
        standings: list[Standing],
        broker: Broker,
        presence: Presence,
        config: RoomsConfig,
        *,
        tickers: Tickers,
        on_closed: Callable[["Room"], None],
        reload: Callable[[], Awaitable[Tournament | None]] | None = None,
        load_standings: Callable[[], Awaitable[list[Standing]]] | None = None,
    ) -> None:
        """Load the room; `run` starts it.

        Args:
            tournament: The tournament the room plays.
            standings: The stored scores.
            broker: Sequences, keeps and fans out the room's frames.
            presence: Counts the players online.
            config: Room settings.
            tickers: This node's ticker leases (which node publishes the leaderboard).
            on_closed: Called, once and synchronously, when the room closes itself.
            reload: Reads the tournament afresh, when a lifecycle frame another node published
                goes by.
            load_standings: Reads the stored standings, when this node becomes the room's
                ticker and periodically while it is.
        """
        self.room_id = tournament.config.tournament_id
        self._state = RoomState(
            tournament, standings, presence_detail_max_members=config.presence_detail_max_members
        )
        self._broker = broker
        self._presence = presence
        self._tickers = tickers
        self._config = config
        self._on_closed = on_closed
        self._reload = reload
        self._urgent: deque[Command] = deque()
        self._inbox: deque[Join] = deque()
        self._wakeup = asyncio.Event()
        self._fanout = Fanout(self.room_id)
        self._members = self._fanout.members
        self._joining = self._fanout.joining
        self._tick = RoomTick(
            self._state,
            broker,
            presence,
            tickers,
            config,
            load_standings=load_standings,
            post=self._post_flush,
        )
        self._closed = False

    @property
    def tournament(self) -> Tournament:
        """The tournament as last announced to the room."""
        return self._state.tournament

    @property
    def closed(self) -> bool:
        """Whether the room closed itself (see `RoomClosed`)."""
        return self._closed

    def is_member(self, player_id: str) -> bool:
        """Whether the player is connected to this room on this node."""
        return player_id in self._members

    def rank_of(self, player_id: str) -> int | None:
        """The player's current rank (a read; safe from any task on the loop)."""
        return self._state.rank_of(player_id)

    def balance_reply(self, balance: int, rid: str | None) -> bytes:
        """The encoded reply to `balance.get`: the player's chips in the room's currency."""
        return encode(self._state.balance_frame(balance, rid=rid, now_s=time.time()))

    # ------------------------------------------------------------ API for other tasks

    async def join(
        self,
        member: Member,
        since_seq: int | None,
        balance: int,
        rid: str | None,
        since_epoch: str | None = None,
    ) -> None:
        """Add the member (replacing the player's older connection) and send the snapshot.

        Raises:
            RoomBusy: the inbox is full.
            RoomClosed: the room closed; open it again.
        """
        if self._closed:
            raise RoomClosed(self.room_id)
        if len(self._inbox) >= self._config.inbox_size:
            raise RoomBusy
        command = Join(member, since_seq, since_epoch, balance, rid)
        self._inbox.append(command)
        self._wakeup.set()
        await command.done

    async def leave(self, member: Member, rid: str | None, *, reply: bool) -> None:
        """Remove the member; with `reply`, send `room.left`."""
        if self._closed:
            if reply:
                member.send(encode(self._state.left_reply(rid, now_s=time.time())))
            return
        await self._post_urgent(Leave(member, rid, reply))

    async def record_score(
        self, player_id: str, name: str, score: int, reached_at_s: float, version: int
    ) -> int | None:
        """Apply a committed score change; returns the player's rank after it."""
        if self._closed:
            # Nobody is left to tell; the stored standings are what a reopened room loads.
            return self._state.record_score(player_id, name, score, reached_at_s, version)
        command = Score(player_id, name, score, reached_at_s, version)
        self._urgent.append(command)
        self._wakeup.set()
        return await command.done

    async def unregister(self, player_id: str) -> None:
        """Take a player who hopped off out of the standings."""
        if not self._closed:
            await self._post_urgent(Unregister(player_id))

    async def went_offline(self, player_id: str) -> None:
        """A player whose node died went offline: publish it as a leave (counts included)."""
        if not self._closed:
            await self._post_urgent(WentOffline(player_id))

    async def lifecycle_changed(
        self, tournament: Tournament, announcement: ServerMessage, *, once: str | None = None
    ) -> None:
        """The tournament moved on (started, completed, cancelled): tell every member.

        `once` is the announcement's idempotency key: published once however often it is told.
        """
        if not self._closed:
            await self._post_urgent(Lifecycle(tournament, announcement, once))

    def ticker_granted(self) -> None:
        """This node took the room's ticker lease: re-read the standings and publish."""
        self._post_flush()

    async def send_balances(self, balances: Mapping[str, int]) -> None:
        """Send each listed player connected here a `balance` frame in the room's currency.

        A direct frame (no `seq`, no `rid`), queued behind the room's earlier frames, so a prize
        or refund balance follows the `room.tournament.completed` that announced it. Players
        not connected to the room on this node are skipped. Which balance it is (chips or cash)
        is the caller's choice; see `RoomDirectory.push_chips` and `RoomDirectory.push_cash`.
        """
        if not self._closed:
            await self._post_urgent(Balances(balances))

    async def bench_publish(self, payload: Raw) -> None:
        """Broadcast `payload` to the room as `bench.update` (`server.bench_publish` only).

        Published through the broker like the room's other frames: the stream's next `seq`,
        kept in history, delivered to every member on every node. It changes no room state, so
        it does not queue behind the room's commands.
        """
        frame = self._state.bench_update(payload, now_s=time.time())
        await self._broker.publish(self.room_id, frame)

    async def _post_urgent(
        self, command: Leave | Unregister | Lifecycle | Balances | WentOffline
    ) -> None:
        self._urgent.append(command)
        self._wakeup.set()
        await command.done

    # ------------------------------------------------------------ the actor

    async def run(self) -> None:
        """Process commands until the room closes itself or the task is cancelled."""
        try:
            # Inside the try: a room that cannot subscribe (Redis away) closes, so its waiting
            # joins fail (and a later join opens it afresh) instead of waiting forever.
            await self._broker.subscribe(self.room_id, self._deliver, self._hear)
            while True:
                command = await self._next()
                if command is None:
                    self._close()
                    return
                try:
                    await self._handle(command)
                except Exception as exc:
                    log.exception("room %s failed a command", self.room_id)
                    done = getattr(command, "done", None)
                    if done is not None and not done.done():
                        done.set_exception(exc)
        finally:
            self._close()
            self._tick.cancel()
            self._tickers.drop(self.room_id)
            await self._broker.unsubscribe(self.room_id, self._deliver)

    async def _next(self) -> Command | None:
        """The next command, urgent ones first; None when the room should close."""
        while not (self._urgent or self._inbox):
            self._wakeup.clear()
            if self._members or self._joining or self._tick.pending:
                await self._wakeup.wait()
                continue
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation racing the event, and the room's task would outlive shutdown.
                async with asyncio.timeout(self._config.dispose_after_s):
                    await self._wakeup.wait()
            except TimeoutError:
                if not (self._urgent or self._inbox or self._members):
                    return None
        return self._urgent.popleft() if self._urgent else self._inbox.popleft()

    def _close(self) -> None:
        if self._closed:
            return
        # Synchronous with the last check for work: nothing can be posted in between.
        self._fanout.write_out()
        self._closed = True
        self._on_closed(self)
        for command in (*self._urgent, *self._inbox):
            if isinstance(command, Flush | Refresh | Heard | Seen) or command.done.done():
                continue
            if isinstance(command, Join):
                command.done.set_exception(RoomClosed(self.room_id))
            elif isinstance(command, Score):
                command.done.set_result(
                    self._state.record_score(
                        command.player_id,
                        command.name,
                        command.score,
                        command.reached_at_s,
                        command.version,
                    )
                )
            else:
                command.done.set_result(None)
        self._urgent.clear()
        self._inbox.clear()

    async def _handle(self, command: Command) -> None:
        match command:
            case Score():
                rank = self._state.record_score(
                    command.player_id,
                    command.name,
                    command.score,
                    command.reached_at_s,
                    command.version,
                )
                command.done.set_result(rank)
            case Join():
                await self._on_join(command)
                command.done.set_result(None)
            case Leave():
                await self._on_leave(command)
                command.done.set_result(None)
            case Unregister():
                self._state.unregister(command.player_id)
                command.done.set_result(None)
            case WentOffline():
                if not await self._presence.is_online(self.room_id, command.player_id):
                    online = await self._presence.count(self.room_id)
                    await self._publish(
                        self._state.leave(command.player_id, now_s=time.time(), online=online)
                    )
                command.done.set_result(None)
            case Lifecycle():
                if self._tick.is_ticker:
                    await self._tick.flush()  # the last standings before the announcement
                for frame in self._state.lifecycle_changed(
                    command.tournament, command.announcement
                ):
                    await self._broker.publish(self.room_id, frame, once=command.once)
                command.done.set_result(None)
            case Refresh():
                if self._reload is not None:
                    tournament = await self._reload()
                    if tournament is not None and tournament != self._state.tournament:
                        self._state.tournament_moved(tournament)
            case Balances():
                frames = self._state.balance_frames(command.balances, now_s=time.time())
                for player_id, frame in frames.items():
                    member = self._members.get(player_id)
                    if member is not None:
                        member.send(encode(frame))
                command.done.set_result(None)
            case Heard():
                note = decode_note(command.note)
                if note is not None:
                    self._state.heard(note)
            case Seen():
                if not self._tick.is_ticker:
                    pushed = leaderboard_pushed(command.frame)
                    if pushed is not None:
                        self._state.leaderboard_seen(pushed.payload.entries)
            case Flush():
                await self._tick.flush()
        self._tick.schedule(members=bool(self._members))

    async def _on_join(self, command: Join) -> None:
        member = command.member
        player_id = member.player_id
        came_online = await self._presence.add(self.room_id, player_id, _connection_id(member))
        previous = self._members.pop(player_id, None)
        if previous is not None and previous is not member:
            previous.left_room(self.room_id)
            previous.close(CloseReason.REPLACED)
            await self._presence.remove(self.room_id, player_id, _connection_id(previous))
        self._joining[member] = []
        try:
            top = await self._broker.position(self.room_id)
            since = self._state.resume_after(
                command.since_seq, command.since_epoch, seq=top.offset, epoch=top.epoch
            )
            missed = None
            seq = top.offset
            if since is not None:
                missed = await self._broker.history(self.room_id, StreamPosition(since, top.epoch))
                if missed is not None:
                    # Offsets are consecutive: the history may reach past the top read above.
                    seq = since + len(missed)
            now = time.time()
            online = await self._presence.count(self.room_id)
            announce = self._state.join(
                player_id, member.display_name, now_s=now, came_online=came_online, online=online
            )
            reply = self._state.join_reply(
                player_id,
                balance=command.balance,
                rid=command.rid,
                now_s=now,
                online=online,
                seq=seq,
                epoch=top.epoch,
                since_seq=command.since_seq,
                missed=missed,
            )
            self._fanout.admit(player_id, member, seq, [encode(reply.message), *reply.missed])
            self._tickers.want(self.room_id)
        except BaseException:
            await self._presence.remove(self.room_id, player_id, _connection_id(member))
            raise
        finally:
            del self._joining[member]
        await self._publish(announce)

    async def _on_leave(self, command: Leave) -> None:
        member = command.member
        if self._fanout.remove(member):
            member.left_room(self.room_id)
            if not self._members:
                self._tickers.drop(self.room_id)
            went_offline = await self._presence.remove(
                self.room_id, member.player_id, _connection_id(member)
            )
            if went_offline:
                online = await self._presence.count(self.room_id)
                await self._publish(
                    self._state.leave(member.player_id, now_s=time.time(), online=online)
                )
        if command.reply:
            member.send(encode(self._state.left_reply(command.rid, now_s=time.time())))

    # ------------------------------------------------------------ the tick

    def _post_flush(self) -> None:
        if not self._closed:
            self._urgent.append(FLUSH)
            self._wakeup.set()

    # ------------------------------------------------------------ frames

    async def _publish(self, frames: list[ServerMessage]) -> None:
        """Publish in order; members receive them through the subscription."""
        for message in frames:
            await self._broker.publish(self.room_id, message)

    def _deliver(self, position: StreamPosition, frame: bytes) -> None:
        if frame.startswith(LIFECYCLE_PREFIX) and self._reload is not None:
            # Published by whichever node moved the tournament; this room's state follows.
            self._urgent.append(REFRESH)
            self._wakeup.set()
        elif frame.startswith(LEADERBOARD_PREFIX) and not self._tick.is_ticker:
            # What members now see: whichever node ticks next diffs against it.
            self._urgent.append(Seen(frame))
            self._wakeup.set()
        self._fanout.deliver(position, frame)

    def _hear(self, note: bytes) -> None:
        if not self._closed:
            self._urgent.append(Heard(note))
            self._wakeup.set()
