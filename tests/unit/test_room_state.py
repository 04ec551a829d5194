"""The room's rules, without an event loop: events in, frames out."""

from __future__ import annotations

import datetime as dt

from protocol.codec import encode
from protocol.messages import (
    LeaderboardEntry,
    LeaderboardUpdated,
    PlayerConnected,
    PlayerDisconnected,
    RankChange,
    RoomResumed,
    RoomSnapshot,
    TournamentStarted,
    TournamentStartedPayload,
)
from roomserver.domain.room_state import (
    COUNT_INTERVAL_S,
    JoinReply,
    RoomState,
    StandingChange,
    StandingsNote,
)
from roomserver.domain.tournament import Standing, Tournament, TournamentConfig

NOW = 1_790_000_000.0
EPOCH = "e1"


def tournament(status: str = "running", leaderboard_size: int = 3) -> Tournament:
    config = TournamentConfig(
        tournament_id="t-1",
        kind="scheduled",
        name="Friday",
        game_id="classic-3",
        currency="EUR",
        buy_in=0,
        starting_chips=1000,
        min_stake=1,
        max_stake=100,
        max_players=100,
        scoring="total_win",
        leaderboard_size=leaderboard_size,
    )
    return Tournament(config, status, b"seed", "hash")  # type: ignore[arg-type]


def standing(player_id: str, score: int, at_s: float = NOW - 100) -> Standing:
    return Standing(player_id, player_id.upper(), score, dt.datetime.fromtimestamp(at_s, dt.UTC), 1)


def room(*standings: Standing, detail_max: int = 10, size: int = 3) -> RoomState:
    return RoomState(
        tournament(leaderboard_size=size), standings, presence_detail_max_members=detail_max
    )


def test_join_gets_a_snapshot_with_the_standings_and_the_stream_position() -> None:
    state = room(standing("a", 50), standing("b", 80))
    frames = state.join("c", "Cy", now_s=NOW, came_online=True, online=1)
    assert [type(frame) for frame in frames] == [PlayerConnected]
    reply = state.join_reply(
        "c",
        balance=1000,
        rid="j1",
        now_s=NOW,
        online=1,
        seq=41,
        epoch=EPOCH,
        since_seq=None,
        missed=None,
    )
    assert isinstance(reply.message, RoomSnapshot) and not reply.recovered
    payload = reply.message.payload
    assert reply.message.rid == "j1" and reply.message.seq is None
    assert (payload.seq, payload.epoch, payload.recovered) == (41, EPOCH, None)
    assert payload.leaderboard == [
        LeaderboardEntry("b", "B", 80, 1),
        LeaderboardEntry("a", "A", 50, 2),
        LeaderboardEntry("c", "Cy", 0, 3),
    ]
    assert (payload.you.score, payload.you.rank, payload.you.balance) == (0, 3, 1000)
    assert payload.players_online == 1


def test_a_second_connection_of_a_member_announces_nothing() -> None:
    state = room(standing("a", 5))
    assert state.join("a", "A", now_s=NOW, came_online=False, online=1) == []
    assert not state.needs_flush  # already standing: the leaderboard did not change


def test_score_pushes_the_leaderboard_with_rank_changes() -> None:
    state = room(standing("a", 50), standing("b", 80), standing("c", 10))
    assert state.record_score("a", "A", 100, NOW, 2) == 1
    assert state.needs_flush
    (update,) = state.flush(now_s=NOW, online=0)
    assert isinstance(update, LeaderboardUpdated)
    assert update.payload.entries[0] == LeaderboardEntry("a", "A", 100, 1)
    assert update.payload.changed == [RankChange("a", 2, 1), RankChange("b", 1, 2)]
    assert state.needs_flush  # the other nodes are still to be told
    state.take_untold()
    assert not state.needs_flush


def test_a_player_falling_out_of_the_top_gets_their_new_rank() -> None:
    state = room(standing("a", 50), standing("b", 40), size=2)
    state.record_score("c", "C", 60, NOW, 1)
    (update,) = state.flush(now_s=NOW, online=0)
    assert isinstance(update, LeaderboardUpdated)
    assert [entry.player_id for entry in update.payload.entries] == ["c", "a"]
    assert update.payload.changed == [
        RankChange("c", None, 1),
        RankChange("a", 1, 2),
        RankChange("b", 2, 3),
    ]


def test_no_frame_when_nothing_visible_changed() -> None:
    state = room(standing("a", 50), standing("b", 40), standing("c", 30), standing("d", 1), size=3)
    # Below the top N: the standings changed, what members see did not.
    state.record_score("d", "D", 2, NOW, 2)
    assert state.needs_flush
    assert state.flush(now_s=NOW, online=0) == []
    state.take_untold()
    # A repeat of the held standing changes nothing at all.
    state.record_score("a", "A", 50, NOW - 100, 1)
    assert not state.needs_flush
    # An older version is ignored.
    assert state.record_score("a", "A", 999, NOW, 0) == 1
    assert state.flush(now_s=NOW, online=0) == []


def test_unregister_drops_the_player_from_the_leaderboard() -> None:
    state = room(standing("a", 50), standing("b", 40))
    state.unregister("a")
    (update,) = state.flush(now_s=NOW, online=0)
    assert isinstance(update, LeaderboardUpdated)
    assert update.payload.entries == [LeaderboardEntry("b", "B", 40, 1)]
    assert update.payload.changed == [RankChange("b", 2, 1)]
    assert state.rank_of("a") is None


def test_presence_detail_in_small_rooms() -> None:
    state = room(detail_max=2)
    (came,) = state.join("a", "A", now_s=NOW, came_online=True, online=1)
    assert isinstance(came, PlayerConnected)
    assert (came.payload.player_id, came.payload.players_online) == ("a", 1)
    (went,) = state.leave("a", now_s=NOW, online=0)
    assert isinstance(went, PlayerDisconnected)
    assert (went.payload.player_id, went.payload.players_online) == ("a", 0)


def test_presence_is_coalesced_to_counts_above_the_detail_threshold() -> None:
    state = room(detail_max=2)
    state.join("a", "A", now_s=NOW, came_online=True, online=1)
    state.join("b", "B", now_s=NOW, came_online=True, online=2)
    state.flush(now_s=NOW, online=2)  # the new standings
    assert state.join("c", "C", now_s=NOW, came_online=True, online=3) == []
    assert state.join("d", "D", now_s=NOW, came_online=True, online=4) == []
    assert state.needs_flush and state.counts_only
    frames = state.flush(now_s=NOW, online=4)
    counts = [frame for frame in frames if isinstance(frame, PlayerConnected)]
    assert len(counts) == 1
    assert counts[0].payload.player_id is None and counts[0].payload.players_online == 4
    # Come and gone within one tick: the count is as last pushed, nothing to say.
    later = NOW + COUNT_INTERVAL_S
    assert state.join("e", "E", now_s=later, came_online=True, online=5) == []
    assert state.leave("e", now_s=later, online=4) == []
    assert [
        f for f in state.flush(now_s=later, online=4) if not isinstance(f, LeaderboardUpdated)
    ] == []
    assert state.leave("d", now_s=later, online=3) == []
    (gone,) = state.flush(now_s=later, online=3)
    assert isinstance(gone, PlayerDisconnected) and gone.payload.players_online == 3


def test_count_only_presence_goes_out_at_most_once_a_second() -> None:
    state = room(detail_max=1)
    state.join("a", "A", now_s=NOW, came_online=True, online=1)
    state.flush(now_s=NOW, online=1)
    assert state.join("b", "B", now_s=NOW, came_online=True, online=2) == []
    (first,) = [f for f in state.flush(now_s=NOW, online=2) if isinstance(f, PlayerConnected)]
    assert first.payload.players_online == 2
    assert state.join("c", "C", now_s=NOW, came_online=True, online=3) == []
    # Within the second: held back, still pending.
    assert [
        f for f in state.flush(now_s=NOW + 0.5, online=3) if isinstance(f, PlayerConnected)
    ] == []
    assert state.needs_flush
    (second,) = state.flush(now_s=NOW + COUNT_INTERVAL_S, online=3)
    assert isinstance(second, PlayerConnected) and second.payload.players_online == 3
    # The ticker polls big rooms: a change on another node is pushed with no local join.
    assert state.counts_only and not state.needs_flush
    (third,) = state.flush(now_s=NOW + 2 * COUNT_INTERVAL_S, online=7)
    assert isinstance(third, PlayerConnected) and third.payload.players_online == 7


def test_a_node_that_is_not_the_ticker_publishes_nothing_and_tells_what_it_committed() -> None:
    state = room(standing("a", 1))
    assert state.record_score("b", "B", 5, NOW, 1) == 1
    state.unregister("a")
    assert state.needs_flush
    note = state.take_untold()
    assert note.changed == [StandingChange("b", "B", 5, NOW, 1)] and note.removed == ["a"]
    assert not state.take_untold()
    state.settle()
    assert not state.needs_flush


def test_standings_heard_from_another_node_move_the_ticker_leaderboard() -> None:
    ticker = room(standing("a", 3))
    other = room(standing("a", 3))
    other.record_score("b", "B", 9, NOW, 1)
    ticker.heard(other.take_untold())
    ticker.heard(StandingsNote([StandingChange("b", "B", 2, NOW, 0)]))  # older: ignored
    (update,) = ticker.flush(now_s=NOW, online=0)
    assert isinstance(update, LeaderboardUpdated)
    assert [(e.player_id, e.score, e.rank) for e in update.payload.entries] == [
        ("b", 9, 1),
        ("a", 3, 2),
    ]
    # What was heard is not told again.
    assert not ticker.take_untold()
    # The other node follows what the ticker published: its next diff starts from there.
    other.leaderboard_seen(update.payload.entries)
    other.record_score("a", "A", 10, NOW + 1, 1)
    (next_update,) = other.flush(now_s=NOW + 1, online=0)
    assert isinstance(next_update, LeaderboardUpdated)
    assert sorted((c.player_id, c.previous_rank, c.rank) for c in next_update.payload.changed) == [
        ("a", 2, 1),
        ("b", 1, 2),
    ]


def test_reload_replaces_the_standings_with_those_stored() -> None:
    state = room(standing("a", 3), standing("gone", 8))
    state.reload([standing("a", 4)])
    assert state.rank_of("gone") is None and state.rank_of("a") == 1
    assert state.needs_flush


def test_lifecycle_changes_the_tournament_and_announces_it() -> None:
    state = room(standing("a", 1))
    announcement = TournamentStarted(
        room="t-1",
        ts="2026-01-01T00:00:00.000Z",
        payload=TournamentStartedPayload(status="running", server_seed_hash="hash"),
    )
    frames = state.lifecycle_changed(tournament("completed"), announcement)
    assert frames == [announcement]
    assert state.tournament.status == "completed"


def resume(
    state: RoomState, since_seq: int | None, since_epoch: str | None, held: list[bytes]
) -> JoinReply:
    """Join with a resume request against a stream at seq 20 holding frames 16..20."""
    first_held = 21 - len(held)
    after = state.resume_after(since_seq, since_epoch, seq=20, epoch=EPOCH)
    missed = None
    if after is not None and after + 1 >= first_held:
        missed = held[after + 1 - first_held :]
    return state.join_reply(
        "a",
        balance=7,
        rid=None,
        now_s=NOW,
        online=1,
        seq=20,
        epoch=EPOCH,
        since_seq=since_seq,
        missed=missed,
    )


HELD = [
    encode(
        TournamentStarted(
            room="t-1",
            seq=seq,
            ts="x",
            payload=TournamentStartedPayload(status="running", server_seed_hash="h"),
        )
    )
    for seq in range(16, 21)
]


def test_resume_within_the_window_replays_the_missed_frames() -> None:
    state = room(standing("a", 3))
    reply = resume(state, 17, EPOCH, HELD)
    assert isinstance(reply.message, RoomResumed) and reply.recovered
    assert reply.message.payload.replayed == 3 and reply.missed == HELD[2:]
    assert (reply.message.payload.seq, reply.message.payload.epoch) == (20, EPOCH)
    assert reply.message.payload.you.score == 3


def test_resume_at_the_top_replays_nothing() -> None:
    reply = resume(room(), 20, EPOCH, HELD)
    assert isinstance(reply.message, RoomResumed)
    assert reply.message.payload.replayed == 0 and reply.missed == []


def test_resume_without_an_epoch_trusts_the_offset() -> None:
    reply = resume(room(), 18, None, HELD)
    assert isinstance(reply.message, RoomResumed) and reply.missed == HELD[3:]


def test_resume_outside_the_window_gets_a_snapshot_not_recovered() -> None:
    reply = resume(room(), 10, EPOCH, HELD)
    assert isinstance(reply.message, RoomSnapshot)
    assert reply.message.payload.recovered is False and reply.missed == []


def test_resume_ahead_of_the_stream_is_not_recovered() -> None:
    assert RoomState.resume_after(21, EPOCH, seq=20, epoch=EPOCH) is None
    reply = resume(room(), 21, EPOCH, HELD)
    assert isinstance(reply.message, RoomSnapshot) and reply.message.payload.recovered is False


def test_resume_from_another_epoch_is_not_recovered() -> None:
    assert RoomState.resume_after(19, "other", seq=20, epoch=EPOCH) is None
    reply = resume(room(), 19, "other", HELD)
    assert isinstance(reply.message, RoomSnapshot)
    assert reply.message.payload.recovered is False
    assert reply.message.payload.epoch == EPOCH
