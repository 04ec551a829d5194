"""A tournament room as an actor: one task, a bounded inbox, a coalescing leaderboard tick.

All mutation of the room's state (members, leaderboard, `seq`, history) happens in the room's
task. Other tasks post commands and, where they need an answer, await a future the room resolves.
Every broadcast frame gets the room's next `seq` and is kept in a bounded history for resume.
"""

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from protocol.codec import encode, format_ts
from protocol.codes import CloseCode
from protocol.messages import (
    Balance,
    BalancePayload,
    LeaderboardEntry,
    LeaderboardUpdated,
    LeaderboardUpdatedPayload,
    PlayerConnected,
    PlayerDisconnected,
    PresencePayload,
    RankChange,
    RoomConfig,
    RoomLeft,
    RoomResumed,
    RoomResumedPayload,
    RoomSnapshot,
    RoomSnapshotPayload,
    ServerMessage,
    You,
)
from roomserver.cluster.bus import RoomBus
from roomserver.config import RoomsConfig
from roomserver.domain.leaderboard import Leaderboard
from roomserver.gateway.session import Session, text_frame
from roomserver.store.ledger import Standing, Tournament

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Join:
    session: Session
    since_seq: int | None
    balance: int
    rid: str | None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Leave:
    session: Session
    rid: str | None
    reply: bool
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Score:
    player_id: str
    name: str
    score: int
    reached_at_s: float
    version: int
    done: asyncio.Future[int | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Unregister:
    player_id: str
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Lifecycle:
    tournament: Tournament
    announcement: ServerMessage
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Balances:
    balances: Mapping[str, int]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Flush:
    """The leaderboard tick is due."""


_FLUSH: Final = _Flush()
_Command = _Join | _Leave | _Score | _Unregister | _Lifecycle | _Balances | _Flush


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else format_ts(moment.timestamp())


class Room:
    """The live state of one tournament room on this node."""

    def __init__(
        self,
        tournament: Tournament,
        standings: list[Standing],
        bus: RoomBus,
        config: RoomsConfig,
    ) -> None:
        self.tournament = tournament
        self.room_id = tournament.config.tournament_id
        self._bus = bus
        self._config = config
        self._inbox: asyncio.Queue[_Command] = asyncio.Queue(config.inbox_size)
        self._members: dict[str, Session] = {}
        self._leaderboard = Leaderboard()
        for standing in standings:
            self._leaderboard.update(
                standing.player_id,
                standing.name,
                standing.score,
                standing.reached_at.timestamp(),
                standing.spins,
            )
        # A reopened room (after a restart) continues above every seq it used before, so an old
        # `since_seq` can never match a frame of the new stream: start at the clock in
        # microseconds (below 2**53 until the year 2255, so safe in JavaScript).
        self._seq = time.time_ns() // 1000
        self._history: deque[tuple[int, bytes]] = deque(maxlen=config.history_size)
        top = self._leaderboard.top(self._size)
        self._previous_top: dict[str, int] = {entry[0]: entry[3] for entry in top}
        # The entries of the last `leaderboard.updated`: a tick whose entries and ranks equal
        # them has nothing to say and pushes nothing.
        self._previous_entries = top
        self._leaderboard_dirty = False
        self._presence_dirty = False
        self._online_at_last_push = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush_s = 0.0
        self._config_payload = _room_config(tournament)

    @property
    def _size(self) -> int:
        return self.tournament.config.leaderboard_size

    @property
    def players_online(self) -> int:
        """Members connected to this node."""
        return len(self._members)

    @property
    def seq(self) -> int:
        """The `seq` of the last broadcast frame."""
        return self._seq

    def is_member(self, player_id: str) -> bool:
        """Whether the player is connected to this room on this node."""
        return player_id in self._members

    def rank_of(self, player_id: str) -> int | None:
        """The player's current rank (a read; safe from any task on the loop)."""
        return self._leaderboard.rank(player_id)

    # ------------------------------------------------------------ API for other tasks

    async def join(
        self, session: Session, since_seq: int | None, balance: int, rid: str | None
    ) -> None:
        """Add the session (replacing the player's older connection) and send the snapshot."""
        command = _Join(session, since_seq, balance, rid)
        await self._inbox.put(command)
        await command.done

    async def leave(self, session: Session, rid: str | None, *, reply: bool) -> None:
        """Remove the session; with `reply`, send `room.left`."""
        command = _Leave(session, rid, reply)
        await self._inbox.put(command)
        await command.done

    async def record_score(
        self, player_id: str, name: str, score: int, reached_at_s: float, version: int
    ) -> int | None:
        """Apply a committed score change; returns the player's rank after it."""
        command = _Score(player_id, name, score, reached_at_s, version)
        await self._inbox.put(command)
        return await command.done

    async def unregister(self, player_id: str) -> None:
        """Take a player who hopped off out of the standings."""
        command = _Unregister(player_id)
        await self._inbox.put(command)
        await command.done

    async def lifecycle_changed(self, tournament: Tournament, announcement: ServerMessage) -> None:
        """The tournament moved on (started, completed, cancelled): tell every member."""
        command = _Lifecycle(tournament, announcement)
        await self._inbox.put(command)
        await command.done

    async def send_balances(self, balances: Mapping[str, int]) -> None:
        """Send each listed player connected here a `balance` frame in the room's currency.

        A direct frame (no `seq`, no `rid`), queued behind the room's earlier frames, so a prize
        or refund balance follows the `room.tournament.completed` that announced it. Players
        not connected to the room on this node are skipped. Which balance it is (chips or cash)
        is the caller's choice; see `RoomDirectory.push_chips` and `RoomDirectory.push_cash`.
        """
        command = _Balances(balances)
        await self._inbox.put(command)
        await command.done

    # ------------------------------------------------------------ the actor

    async def run(self) -> None:
        """Process commands until cancelled."""
        unsubscribe = self._bus.subscribe(self.room_id, self._deliver)
        try:
            while True:
                command = await self._inbox.get()
                try:
                    self._handle(command)
                except Exception as exc:
                    log.exception("room %s failed a command", self.room_id)
                    done = getattr(command, "done", None)
                    if done is not None and not done.done():
                        done.set_exception(exc)
        finally:
            unsubscribe()
            if self._flush_handle is not None:
                self._flush_handle.cancel()

    def _handle(self, command: _Command) -> None:
        match command:
            case _Score():
                self._on_score(command)
            case _Join():
                self._on_join(command)
                command.done.set_result(None)
            case _Leave():
                self._on_leave(command)
                command.done.set_result(None)
            case _Unregister():
                if self._leaderboard.remove(command.player_id):
                    self._leaderboard_dirty = True
                    self._schedule_flush()
                command.done.set_result(None)
            case _Lifecycle():
                # The last standings go out before the announcement that closes them.
                if self._leaderboard_dirty:
                    self._flush()
                self.tournament = command.tournament
                self._config_payload = _room_config(command.tournament)
                self._broadcast(command.announcement)
                command.done.set_result(None)
            case _Balances():
                self._on_balances(command)
                command.done.set_result(None)
            case _Flush():
                self._flush()

    def _on_score(self, command: _Score) -> None:
        if self._leaderboard.update(
            command.player_id, command.name, command.score, command.reached_at_s, command.version
        ):
            self._leaderboard_dirty = True
            self._schedule_flush()
        command.done.set_result(self._leaderboard.rank(command.player_id))

    def _on_balances(self, command: _Balances) -> None:
        ts = format_ts(time.time())
        currency = self.tournament.config.currency
        for player_id, balance in command.balances.items():
            session = self._members.get(player_id)
            if session is not None:
                payload = BalancePayload(balance=balance, currency=currency)
                session.send(encode(Balance(room=self.room_id, ts=ts, payload=payload)))

    def _on_join(self, command: _Join) -> None:
        session = command.session
        player_id = session.player_id
        if self._leaderboard.rank(player_id) is None:
            self._leaderboard.update(player_id, session.claims.name, 0, time.time(), 0)
            self._leaderboard_dirty = True
            self._schedule_flush()
        previous = self._members.get(player_id)
        self._members[player_id] = session
        if previous is not None and previous is not session:
            previous.memberships.pop(self.room_id, None)
            previous.close(CloseCode.REPLACED, "replaced by a newer connection")
        you = You(
            player_id=player_id,
            balance=command.balance,
            score=self._leaderboard.score(player_id) or 0,
            rank=self._leaderboard.rank(player_id),
        )
        now = time.time()
        missed = self._frames_after(command.since_seq)
        if missed is not None:
            session.send(
                encode(
                    RoomResumed(
                        rid=command.rid,
                        room=self.room_id,
                        ts=format_ts(now),
                        payload=RoomResumedPayload(
                            status=self.tournament.status,
                            config=self._config_payload,
                            server_seed_hash=self.tournament.server_seed_hash,
                            you=you,
                            leaderboard=self._entries(self._leaderboard.top(self._size)),
                            players_online=len(self._members),
                            seq=self._seq,
                            replayed=len(missed),
                        ),
                    )
                )
            )
            for frame in missed:
                session.send(frame)
        else:
            session.send(
                encode(
                    RoomSnapshot(
                        rid=command.rid,
                        room=self.room_id,
                        ts=format_ts(now),
                        payload=RoomSnapshotPayload(
                            status=self.tournament.status,
                            config=self._config_payload,
                            server_seed_hash=self.tournament.server_seed_hash,
                            you=you,
                            leaderboard=self._entries(self._leaderboard.top(self._size)),
                            players_online=len(self._members),
                            seq=self._seq,
                            recovered=False if command.since_seq is not None else None,
                        ),
                    )
                )
            )
        if previous is None:
            self._presence_changed(player_id, joined=True)

    def _frames_after(self, since_seq: int | None) -> list[bytes] | None:
        """The held frames after `since_seq`, or None when some of them are gone."""
        if since_seq is None or since_seq > self._seq:
            return None
        if since_seq == self._seq:
            return []
        if not self._history or self._history[0][0] > since_seq + 1:
            return None
        return [frame for seq, frame in self._history if seq > since_seq]

    def _on_leave(self, command: _Leave) -> None:
        session = command.session
        if self._members.get(session.player_id) is session:
            del self._members[session.player_id]
            session.memberships.pop(self.room_id, None)
            self._presence_changed(session.player_id, joined=False)
        if command.reply:
            session.send(
                encode(RoomLeft(rid=command.rid, room=self.room_id, ts=format_ts(time.time())))
            )

    def _presence_changed(self, player_id: str, *, joined: bool) -> None:
        if len(self._members) > self._config.presence_detail_max_members:
            # Big rooms: one count-only frame per tick instead of one frame per member change.
            self._presence_dirty = True
            self._schedule_flush()
            return
        payload = PresencePayload(players_online=len(self._members), player_id=player_id)
        message_type = PlayerConnected if joined else PlayerDisconnected
        self._broadcast(message_type(room=self.room_id, ts=format_ts(time.time()), payload=payload))
        self._online_at_last_push = len(self._members)

    # ------------------------------------------------------------ the tick

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_flush_s + 1.0 / self._config.leaderboard_hz - loop.time())
        self._flush_handle = loop.call_later(delay, self._post_flush)

    def _post_flush(self) -> None:
        self._flush_handle = None
        try:
            self._inbox.put_nowait(_FLUSH)
        except asyncio.QueueFull:
            self._schedule_flush()

    def _flush(self) -> None:
        self._last_flush_s = asyncio.get_running_loop().time()
        now = time.time()
        if self._leaderboard_dirty:
            self._leaderboard_dirty = False
            top = self._leaderboard.top(self._size)
            current = {entry[0]: entry[3] for entry in top}
            changed = [
                RankChange(player_id, self._previous_top.get(player_id), rank)
                for player_id, rank in current.items()
                if self._previous_top.get(player_id) != rank
            ]
            for player_id, previous_rank in self._previous_top.items():
                if player_id not in current:
                    rank = self._leaderboard.rank(player_id)
                    if rank is not None:
                        changed.append(RankChange(player_id, previous_rank, rank))
            self._previous_top = current
            # A change below the top N, or one that moved nobody (a losing spin, a tie's time),
            # leaves what members see as it was: no frame.
            if changed or top != self._previous_entries:
                self._previous_entries = top
                self._broadcast(
                    LeaderboardUpdated(
                        room=self.room_id,
                        ts=format_ts(now),
                        payload=LeaderboardUpdatedPayload(
                            entries=self._entries(top), changed=changed
                        ),
                    )
                )
        if self._presence_dirty:
            self._presence_dirty = False
            online = len(self._members)
            if online != self._online_at_last_push:
                message_type = (
                    PlayerConnected if online > self._online_at_last_push else PlayerDisconnected
                )
                self._online_at_last_push = online
                self._broadcast(
                    message_type(
                        room=self.room_id,
                        ts=format_ts(now),
                        payload=PresencePayload(players_online=online),
                    )
                )

    # ------------------------------------------------------------ broadcast

    def _broadcast(self, message: ServerMessage) -> None:
        """Give the frame the room's next `seq` and publish it (encoded once for every member)."""
        self._seq += 1
        message.seq = self._seq
        frame = encode(message)
        self._history.append((self._seq, frame))
        self._bus.publish(self.room_id, frame)

    def _deliver(self, frame: bytes) -> None:
        wire = text_frame(frame)
        for session in self._members.values():
            session.send(frame, wire)

    @staticmethod
    def _entries(top: list[tuple[str, str, int, int]]) -> list[LeaderboardEntry]:
        return [LeaderboardEntry(*entry) for entry in top]


def _room_config(tournament: Tournament) -> RoomConfig:
    config = tournament.config
    return RoomConfig(
        name=config.name,
        kind=config.kind,
        game_id=config.game_id,
        currency=config.currency,
        buy_in=config.buy_in,
        starting_chips=config.starting_chips,
        min_stake=config.min_stake,
        max_stake=config.max_stake,
        scoring=config.scoring,
        leaderboard_size=config.leaderboard_size,
        starts_at=_iso(config.starts_at),
        ends_at=_iso(config.ends_at),
    )
