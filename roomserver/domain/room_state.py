"""The rules of a tournament room, pure: events in, frames out.

`RoomState` holds the room's standings and what its members last saw, and decides which frames
a change produces: the leaderboard diff and rank changes, presence (per member in small rooms,
counts only in big ones), lifecycle announcements, and the reply to a join (a snapshot, or a
resume given what the stream's history still holds). It does no I/O and reads no clock: the
caller passes the time, the number of players online and the stream position, publishes the
frames it returns (the broker gives each its `seq`) and sends the direct replies.

Many nodes may hold the same room. Each applies the standings it commits and those the others
tell it (`StandingsNote`); only the room's ticker (one node, see `roomserver.cluster.ticker`)
publishes the leaderboard and the count-only presence frames, and the others follow what it
published (`leaderboard_seen`), so whichever node ticks next diffs against what members saw.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from msgspec import Raw

from protocol.codec import format_ts
from protocol.messages import (
    Balance,
    BalancePayload,
    BenchUpdate,
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
from roomserver.domain.leaderboard import Leaderboard, RankedEntry
from roomserver.domain.tournament import Standing, Tournament

# Count-only presence frames (big rooms) go out at most this often.
COUNT_INTERVAL_S: Final = 1.0


class StandingChange(NamedTuple):
    """A committed score, as one node tells the others (see `Leaderboard.update`)."""

    player_id: str
    name: str
    score: int
    reached_at_s: float
    version: int


@dataclass(slots=True)
class StandingsNote:
    """The standings changes a node committed since it last told the other nodes."""

    changed: list[StandingChange] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether there is anything to tell."""
        return bool(self.changed or self.removed)


@dataclass(frozen=True, slots=True)
class JoinReply:
    """The reply to a join: `message`, then the `missed` frames (a resume only), in order."""

    message: RoomSnapshot | RoomResumed
    missed: list[bytes]

    @property
    def recovered(self) -> bool:
        """Whether the join resumed (the member missed nothing)."""
        return isinstance(self.message, RoomResumed)


class RoomState:
    """One room's standings and the frames their changes produce."""

    def __init__(
        self,
        tournament: Tournament,
        standings: Iterable[Standing],
        *,
        presence_detail_max_members: int,
    ) -> None:
        """Load the room.

        Args:
            tournament: The tournament the room plays.
            standings: The registered players' scores, as stored.
            presence_detail_max_members: Above this many players online, presence frames carry
                only the count and go out at most once per flush.
        """
        self.room_id = tournament.config.tournament_id
        self._tournament = tournament
        self._config_payload = _room_config(tournament)
        self._presence_detail_max = presence_detail_max_members
        self._leaderboard = _leaderboard_of(standings)
        top = self._leaderboard.top(self._size)
        self._previous_ranks: dict[str, int] = {entry.player_id: entry.rank for entry in top}
        # The entries of the last `leaderboard.updated`: a flush whose entries and ranks equal
        # them has nothing to say and pushes nothing.
        self._previous_entries = top
        self._leaderboard_dirty = False
        self._presence_dirty = False
        self._online_at_last_push = 0
        self._online_seen = 0
        self._count_pushed_at_s = float("-inf")
        # What this node committed and has not yet told the other nodes: each player's latest
        # standing only (the others would be ignored as older anyway).
        self._untold_changes: dict[str, StandingChange] = {}
        self._untold_removed: list[str] = []

    @property
    def tournament(self) -> Tournament:
        """The tournament as last announced to the room."""
        return self._tournament

    @property
    def _size(self) -> int:
        return self._tournament.config.leaderboard_size

    @property
    def needs_flush(self) -> bool:
        """Whether a change waits for the next flush (the coalescing tick)."""
        return (
            self._leaderboard_dirty
            or self._presence_dirty
            or bool(self._untold_changes or self._untold_removed)
        )

    @property
    def counts_only(self) -> bool:
        """Whether presence goes out as counts (the room is, or just was, above the threshold).

        The ticker then reads the count every `COUNT_INTERVAL_S`: the other nodes' joins and
        leaves do not reach it otherwise.
        """
        return self._online_seen > self._presence_detail_max or self._presence_dirty

    def rank_of(self, player_id: str) -> int | None:
        """The player's current rank, or None when not in the standings."""
        return self._leaderboard.rank(player_id)

    # ------------------------------------------------------------ standings

    def record_score(
        self, player_id: str, name: str, score: int, reached_at_s: float, version: int
    ) -> int | None:
        """Apply a score this node committed (an older `version` than the one held is ignored).

        Returns:
            The player's rank after it.
        """
        if self._leaderboard.update(player_id, name, score, reached_at_s, version):
            self._leaderboard_dirty = True
            self._untold_changes[player_id] = StandingChange(
                player_id, name, score, reached_at_s, version
            )
        return self._leaderboard.rank(player_id)

    def unregister(self, player_id: str) -> None:
        """Take a player who hopped off out of the standings."""
        if self._leaderboard.remove(player_id):
            self._leaderboard_dirty = True
            self._untold_changes.pop(player_id, None)
            self._untold_removed.append(player_id)

    def take_untold(self) -> StandingsNote:
        """What this node committed since it last told the other nodes; now told."""
        note = StandingsNote(list(self._untold_changes.values()), self._untold_removed)
        self._untold_changes, self._untold_removed = {}, []
        return note

    def heard(self, note: StandingsNote) -> None:
        """Apply the standings another node committed (what this node told is a no-op)."""
        for change in note.changed:
            if self._leaderboard.update(*change):
                self._leaderboard_dirty = True
        for player_id in note.removed:
            if self._leaderboard.remove(player_id):
                self._leaderboard_dirty = True

    def reload(self, standings: Iterable[Standing]) -> None:
        """Replace the standings with those stored (the ticker re-reads them from the ledger)."""
        self._leaderboard = _leaderboard_of(standings)
        self._leaderboard_dirty = True

    def leaderboard_seen(self, entries: Iterable[LeaderboardEntry]) -> None:
        """Members saw these entries (the ticker's last push): later diffs start from them."""
        top = [RankedEntry(e.player_id, e.name, e.score, e.rank) for e in entries]
        self._previous_entries = top
        self._previous_ranks = {entry.player_id: entry.rank for entry in top}

    def lifecycle_changed(
        self, tournament: Tournament, announcement: ServerMessage
    ) -> list[ServerMessage]:
        """The tournament moved on: the frames to publish.

        The room's ticker flushes the last standings before it (`flush`).
        """
        self._tournament = tournament
        self._config_payload = _room_config(tournament)
        return [announcement]

    def tournament_moved(self, tournament: Tournament) -> None:
        """Another node announced the tournament's move: take its new state, publish nothing."""
        self._tournament = tournament
        self._config_payload = _room_config(tournament)

    # ------------------------------------------------------------ members

    def join(
        self,
        player_id: str,
        name: str,
        *,
        now_s: float,
        came_online: bool,
        online: int,
    ) -> list[ServerMessage]:
        """A member joined: the frames to publish.

        A player not yet in the standings enters them with no score.

        Args:
            player_id: The member.
            name: The member's display name.
            now_s: The time, in seconds since 1970.
            came_online: Whether this connection brought the player online (not a second
                connection or a replacement).
            online: Players online in the room, this one included.
        """
        if self._leaderboard.rank(player_id) is None:
            self._leaderboard.update(player_id, name, 0, now_s, 0)
            self._leaderboard_dirty = True
        if not came_online:
            return []
        return self._presence_changed(player_id, joined=True, now_s=now_s, online=online)

    def leave(self, player_id: str, *, now_s: float, online: int) -> list[ServerMessage]:
        """A member went offline (their last connection left): the frames to publish."""
        return self._presence_changed(player_id, joined=False, now_s=now_s, online=online)

    def _presence_changed(
        self, player_id: str, *, joined: bool, now_s: float, online: int
    ) -> list[ServerMessage]:
        self._online_seen = online
        if online > self._presence_detail_max:
            # Big rooms: one count-only frame per flush instead of one frame per member change.
            self._presence_dirty = True
            return []
        self._online_at_last_push = online
        payload = PresencePayload(players_online=online, player_id=player_id)
        message_type = PlayerConnected if joined else PlayerDisconnected
        return [message_type(room=self.room_id, ts=format_ts(now_s), payload=payload)]

    def bench_update(self, payload: Raw, *, now_s: float) -> BenchUpdate:
        """A member published `payload` (benchmarks only): the frame to publish, payload as is."""
        return BenchUpdate(room=self.room_id, ts=format_ts(now_s), payload=payload)

    # ------------------------------------------------------------ the tick

    def settle(self) -> None:
        """The tick on a node that is not the room's ticker: the ticker publishes the changes."""
        self._leaderboard_dirty = False
        self._presence_dirty = False

    def flush(self, *, now_s: float, online: int) -> list[ServerMessage]:
        """The ticker's coalesced frames: a leaderboard when what members see changed, a count.

        A count-only presence frame goes out at most once every `COUNT_INTERVAL_S`; one not
        yet due stays pending (`needs_flush`).
        """
        self._online_seen = online
        frames: list[ServerMessage] = []
        if self._leaderboard_dirty:
            self._leaderboard_dirty = False
            update = self._leaderboard_update(now_s)
            if update is not None:
                frames.append(update)
        if now_s - self._count_pushed_at_s >= COUNT_INTERVAL_S and (
            self._presence_dirty or online > self._presence_detail_max
        ):
            self._presence_dirty = False
            if online != self._online_at_last_push:
                self._count_pushed_at_s = now_s
                message_type = (
                    PlayerConnected if online > self._online_at_last_push else PlayerDisconnected
                )
                self._online_at_last_push = online
                frames.append(
                    message_type(
                        room=self.room_id,
                        ts=format_ts(now_s),
                        payload=PresencePayload(players_online=online),
                    )
                )
        return frames

    def _leaderboard_update(self, now_s: float) -> LeaderboardUpdated | None:
        top = self._leaderboard.top(self._size)
        current = {entry.player_id: entry.rank for entry in top}
        changed = [
            RankChange(player_id, self._previous_ranks.get(player_id), rank)
            for player_id, rank in current.items()
            if self._previous_ranks.get(player_id) != rank
        ]
        # Players who fell out of the top N: their new rank, if they are still standing.
        for player_id, previous_rank in self._previous_ranks.items():
            if player_id not in current:
                rank = self._leaderboard.rank(player_id)
                if rank is not None:
                    changed.append(RankChange(player_id, previous_rank, rank))
        self._previous_ranks = current
        # A change below the top N, or one that moved nobody (a losing spin, a tie's time),
        # leaves what members see as it was: no frame.
        if not changed and top == self._previous_entries:
            return None
        self._previous_entries = top
        return LeaderboardUpdated(
            room=self.room_id,
            ts=format_ts(now_s),
            payload=LeaderboardUpdatedPayload(entries=_entries(top), changed=changed),
        )

    # ------------------------------------------------------------ joining and resuming

    @staticmethod
    def resume_after(
        since_seq: int | None, since_epoch: str | None, *, seq: int, epoch: str
    ) -> int | None:
        """The offset whose later frames a join asks the history for, or None for a snapshot.

        A `since_seq` of another epoch, or ahead of the stream, cannot be resumed. A join
        without `since_epoch` trusts the offset: offsets of a new stream start above those of
        the streams before it, so an old offset falls outside the window.

        Args:
            since_seq: The last `seq` the member saw, if resuming.
            since_epoch: The epoch that `seq` belongs to, if the member sent it.
            seq: The stream's current top offset.
            epoch: The stream's epoch.
        """
        if since_seq is None or since_seq > seq:
            return None
        if since_epoch is not None and since_epoch != epoch:
            return None
        return since_seq

    def join_reply(
        self,
        player_id: str,
        *,
        balance: int,
        rid: str | None,
        now_s: float,
        online: int,
        seq: int,
        epoch: str,
        since_seq: int | None,
        missed: list[bytes] | None,
    ) -> JoinReply:
        """The reply to a join: a resume when `missed` holds the frames after `since_seq`.

        Args:
            player_id: The joining member.
            balance: The member's chips.
            rid: The join's correlation id.
            now_s: The time, in seconds since 1970.
            online: Players online in the room.
            seq: The stream's top offset, as of `missed` (what the reply says is current).
            epoch: The stream's epoch.
            since_seq: The join's `since_seq`.
            missed: The history after `since_seq` (see `resume_after`), or None when it was
                not asked or no longer covers it.
        """
        you = You(
            player_id=player_id,
            balance=balance,
            score=self._leaderboard.score(player_id) or 0,
            rank=self._leaderboard.rank(player_id),
        )
        leaderboard = _entries(self._leaderboard.top(self._size))
        ts = format_ts(now_s)
        tournament = self._tournament
        if since_seq is not None and missed is not None:
            resumed = RoomResumedPayload(
                status=tournament.status,
                config=self._config_payload,
                server_seed_hash=tournament.server_seed_hash,
                you=you,
                leaderboard=leaderboard,
                players_online=online,
                seq=seq,
                replayed=len(missed),
                epoch=epoch,
            )
            return JoinReply(
                RoomResumed(rid=rid, room=self.room_id, ts=ts, payload=resumed), missed
            )
        snapshot = RoomSnapshotPayload(
            status=tournament.status,
            config=self._config_payload,
            server_seed_hash=tournament.server_seed_hash,
            you=you,
            leaderboard=leaderboard,
            players_online=online,
            seq=seq,
            recovered=False if since_seq is not None else None,
            epoch=epoch,
        )
        return JoinReply(RoomSnapshot(rid=rid, room=self.room_id, ts=ts, payload=snapshot), [])

    # ------------------------------------------------------------ direct replies

    def left_reply(self, rid: str | None, *, now_s: float) -> RoomLeft:
        """The reply to `room.leave`."""
        return RoomLeft(rid=rid, room=self.room_id, ts=format_ts(now_s))

    def balance_frame(self, balance: int, *, rid: str | None, now_s: float) -> Balance:
        """A `balance` frame (no `seq`) in the room's currency: a reply when `rid` is given."""
        currency = self._tournament.config.currency
        return Balance(
            rid=rid,
            room=self.room_id,
            ts=format_ts(now_s),
            payload=BalancePayload(balance=balance, currency=currency),
        )

    def balance_frames(self, balances: Mapping[str, int], *, now_s: float) -> dict[str, Balance]:
        """A pushed `balance` frame (no `seq`, no `rid`) per player, in the room's currency."""
        return {
            player_id: self.balance_frame(balance, rid=None, now_s=now_s)
            for player_id, balance in balances.items()
        }


def _leaderboard_of(standings: Iterable[Standing]) -> Leaderboard:
    leaderboard = Leaderboard()
    for standing in standings:
        leaderboard.update(
            standing.player_id,
            standing.name,
            standing.score,
            standing.reached_at.timestamp(),
            standing.spins,
        )
    return leaderboard


def _entries(top: list[RankedEntry]) -> list[LeaderboardEntry]:
    return [LeaderboardEntry(*entry) for entry in top]


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else format_ts(moment.timestamp())


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
