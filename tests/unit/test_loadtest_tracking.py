"""The load generator's pure parts: seq tracking, open-loop pacing, the plan, the report merge."""

import asyncio
import base64
import time
from pathlib import Path

import pytest

from loadtest.cli import _source_hosts
from loadtest.links import Target
from loadtest.pacer import paced
from loadtest.plan import Plan, WorkerResult
from loadtest.report import build_report, histogram_of, read_report, write_report
from loadtest.tracking import HIGHEST_US, LOWEST_US, SeqTracker, new_histogram, record_s

# ------------------------------------------------------------------ SeqTracker


def joined_at(seq: int) -> SeqTracker:
    """A tracker whose first join was answered with a snapshot at `seq`."""
    tracker = SeqTracker()
    assert tracker.joined(seq, resumed=False) == 0
    return tracker


def test_an_unbroken_stream_has_no_gaps() -> None:
    tracker = joined_at(10)
    for seq in range(11, 21):
        tracker.push(seq)
    assert (tracker.last, tracker.gaps, tracker.reordered) == (20, 0, 0)


def test_skipped_seqs_are_counted_as_gaps() -> None:
    tracker = joined_at(10)
    for seq in (11, 14, 15, 20):
        tracker.push(seq)
    # 12, 13 and 16..19 never came.
    assert tracker.gaps == 6
    assert tracker.last == 20
    assert tracker.reordered == 0


def test_a_frame_at_or_below_the_last_is_reordered_not_a_gap() -> None:
    tracker = joined_at(10)
    for seq in (11, 13, 12, 13, 11):
        tracker.push(seq)
    assert tracker.gaps == 1  # 12 was skipped when 13 came
    assert tracker.reordered == 3  # the late 12, the repeated 13, the repeated 11
    assert tracker.last == 13


def test_a_push_on_the_snapshot_seq_itself_is_reordered() -> None:
    tracker = joined_at(10)
    tracker.push(10)
    assert (tracker.last, tracker.gaps, tracker.reordered) == (10, 0, 1)


def test_pushes_before_the_first_join_answer_are_held_then_applied() -> None:
    tracker = SeqTracker()
    # The link read these before the coroutine awaiting the join saw its answer.
    tracker.push(6)
    tracker.push(7)
    assert (tracker.last, tracker.gaps) == (None, 0)
    assert tracker.joined(5, resumed=False) == 0
    assert (tracker.last, tracker.gaps, tracker.reordered) == (7, 0, 0)


def test_pushes_held_during_a_join_count_gaps_after_it() -> None:
    tracker = SeqTracker()
    tracker.push(8)  # 6 and 7 are missing after the snapshot at 5
    tracker.joined(5, resumed=False)
    assert (tracker.last, tracker.gaps) == (8, 2)


def test_pushes_after_the_join_are_not_held() -> None:
    tracker = joined_at(5)
    tracker.push(6)
    assert tracker.last == 6


def test_a_resume_replays_the_missed_frames_and_loses_nothing() -> None:
    tracker = joined_at(5)
    tracker.push(6)
    tracker.push(7)
    # Dropped; away while the room moved on to 12; back with since_seq=7.
    tracker.joining()
    for seq in range(8, 13):  # the replayed frames, read before the join's answer is handled
        tracker.push(seq)
    assert (tracker.last, tracker.gaps) == (7, 0)
    assert tracker.joined(12, resumed=True) == 0
    assert (tracker.last, tracker.gaps, tracker.reordered) == (12, 0, 0)
    tracker.push(13)
    assert (tracker.last, tracker.gaps) == (13, 0)


def test_a_resume_that_skips_a_frame_shows_it_as_a_gap() -> None:
    tracker = joined_at(5)
    tracker.joining()
    tracker.push(7)  # 6 was never replayed
    tracker.push(8)
    assert tracker.joined(8, resumed=True) == 0
    assert (tracker.last, tracker.gaps) == (8, 1)


def test_a_fresh_snapshot_on_rejoin_counts_the_frames_lost_for_good() -> None:
    tracker = joined_at(5)
    tracker.push(6)
    tracker.joining()
    # Not recovered: a fresh snapshot at 20, so 7..20 are never seen.
    assert tracker.joined(20, resumed=False) == 14
    assert (tracker.last, tracker.gaps) == (20, 0)
    tracker.push(21)
    assert (tracker.last, tracker.gaps, tracker.reordered) == (21, 0, 0)


def test_a_fresh_snapshot_with_nothing_missed_loses_nothing() -> None:
    tracker = joined_at(5)
    tracker.push(6)
    tracker.joining()
    assert tracker.joined(6, resumed=False) == 0
    assert tracker.last == 6


def test_frames_held_during_a_fresh_rejoin_continue_from_the_snapshot() -> None:
    tracker = joined_at(5)
    tracker.joining()
    tracker.push(21)
    tracker.push(22)
    assert tracker.joined(20, resumed=False) == 15
    assert (tracker.last, tracker.gaps, tracker.reordered) == (22, 0, 0)


def test_a_first_join_answered_as_resumed_starts_the_stream_there() -> None:
    tracker = SeqTracker()
    assert tracker.joined(9, resumed=True) == 0
    tracker.push(10)
    assert (tracker.last, tracker.gaps) == (10, 0)


def test_record_s_clamps_into_the_histogram_range() -> None:
    histogram = new_histogram()
    record_s(histogram, 0.0)
    record_s(histogram, -1.0)
    record_s(histogram, 0.0125)
    record_s(histogram, 10_000.0)
    assert histogram.get_total_count() == 4
    assert histogram.get_min_value() == LOWEST_US
    assert histogram.get_max_value() == pytest.approx(HIGHEST_US, rel=1e-3)
    assert histogram.get_value_at_percentile(75) == pytest.approx(12_500, rel=1e-3)


# ------------------------------------------------------------------ pacer


class Recorder:
    """What `paced` fired: index, due time, and the loop and wall clocks when it fired."""

    def __init__(self) -> None:
        self.indexes: list[int] = []
        self.dues: list[float] = []
        self.fired_at: list[float] = []
        self.wall: list[float] = []

    def __call__(self, index: int, due: float) -> None:
        self.indexes.append(index)
        self.dues.append(due)
        self.fired_at.append(asyncio.get_running_loop().time())
        self.wall.append(time.perf_counter())


@pytest.mark.parametrize(("rate", "duration_s"), [(200.0, 0.25), (40.0, 0.5), (7.0, 1.0)])
async def test_paced_fires_rate_times_duration_at_evenly_spaced_due_times(
    rate: float, duration_s: float
) -> None:
    recorder = Recorder()
    called = asyncio.get_running_loop().time()
    fired = await paced(rate, duration_s, recorder)
    expected = round(rate * duration_s)
    assert fired == expected
    assert recorder.indexes == list(range(expected))
    start = recorder.dues[0]
    assert start >= called
    for index, due in enumerate(recorder.dues):
        assert due - start == pytest.approx(index / rate, abs=1e-9)
    # Never early, and (on an idle loop) all within the duration plus a little.
    assert all(
        fired_at >= due for fired_at, due in zip(recorder.fired_at, recorder.dues, strict=True)
    )
    assert recorder.dues[-1] < start + duration_s
    assert recorder.fired_at[-1] - start < duration_s + 0.5


async def test_paced_starts_after_the_offset() -> None:
    recorder = Recorder()
    called = asyncio.get_running_loop().time()
    assert await paced(100.0, 0.1, recorder, offset_s=0.2) == 10
    assert recorder.dues[0] >= called + 0.2
    assert recorder.fired_at[0] >= called + 0.2


async def test_paced_fires_overdue_events_in_one_burst_with_their_own_due_times() -> None:
    rate, duration_s, stall_s = 200.0, 0.5, 0.1
    recorder = Recorder()

    def stalling(index: int, due: float) -> None:
        recorder(index, due)
        if index == 0:
            time.sleep(stall_s)  # the loop is blocked: 20 more events fall due meanwhile

    assert await paced(rate, duration_s, stalling) == round(rate * duration_s)
    assert recorder.indexes == list(range(100))
    # The ones due during the stall all went out together, right after it...
    overdue = [i for i in range(1, 100) if recorder.dues[i] < recorder.dues[0] + stall_s]
    assert len(overdue) >= 15
    burst = [recorder.wall[i] for i in overdue]
    assert max(burst) - min(burst) < 0.02
    assert min(burst) - recorder.wall[0] >= stall_s
    # ... each keeping its scheduled due time (latency counts from there, not from the send).
    for index in overdue:
        assert recorder.dues[index] - recorder.dues[0] == pytest.approx(index / rate, abs=1e-9)


@pytest.mark.parametrize(("rate", "duration_s"), [(0.0, 1.0), (-5.0, 1.0), (100.0, 0.0)])
async def test_paced_with_nothing_to_do_fires_nothing(rate: float, duration_s: float) -> None:
    recorder = Recorder()
    assert await paced(rate, duration_s, recorder) == 0
    assert recorder.indexes == []


# ------------------------------------------------------------------ plan


def plan(**overrides: object) -> Plan:
    fields: dict[str, object] = {
        "scenario": "spins",
        "target": Target(url="ws://127.0.0.1:8765/ws"),
        "rooms": ("r1", "r2", "r3"),
        "connections": 10,
        "processes": 3,
        "rate": 100.0,
        "duration_s": 1.0,
        "run_id": "abcd1234",
    }
    fields.update(overrides)
    return Plan(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("connections", "processes"), [(10, 3), (7, 7), (1000, 4), (5, 1)])
def test_players_are_spread_over_the_workers_without_overlap(
    connections: int, processes: int
) -> None:
    subject = plan(connections=connections, processes=processes)
    shares = [subject.players(worker) for worker in range(processes)]
    everyone = [entry for share in shares for entry in share]
    assert sorted(everyone) == [(i, f"lt-{i + 1:06d}") for i in range(connections)]
    assert len({player for _, player in everyone}) == connections
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    assert all(sizes)


def test_player_ids_are_numbered_from_one() -> None:
    assert plan(connections=2, processes=1).players(0) == [(0, "lt-000001"), (1, "lt-000002")]


def test_rooms_are_taken_round_robin() -> None:
    subject = plan(connections=9)
    assert [subject.room_of(i) for i in range(7)] == ["r1", "r2", "r3", "r1", "r2", "r3", "r1"]
    # Even spread: each room gets a third of the connections.
    counts = {room: 0 for room in subject.rooms}
    for index in range(subject.connections):
        counts[subject.room_of(index)] += 1
    assert counts == {"r1": 3, "r2": 3, "r3": 3}
    assert {plan(rooms=("only",)).room_of(i) for i in range(5)} == {"only"}


def test_source_addresses_are_taken_round_robin() -> None:
    subject = plan(source_hosts=("127.0.0.2", "127.0.0.3"))
    assert [subject.source_of(i) for i in range(4)] == [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.2",
        "127.0.0.3",
    ]
    assert plan().source_of(0) is None


def test_source_hosts_only_for_a_loopback_server() -> None:
    assert _source_hosts("ws://127.0.0.1:8765/ws", 3) == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert _source_hosts("ws://localhost:8765/ws", 1) == ("127.0.0.2",)
    assert _source_hosts("ws://127.0.0.1:8765/ws", 0) == ()
    assert _source_hosts("ws://10.0.0.5:8765/ws", 8) == ()
    assert _source_hosts("ws://example.com/ws", 8) == ()
    hosts = _source_hosts("ws://127.0.0.1/ws", 1000)
    assert len(hosts) == 250
    assert hosts[-1] == "127.0.0.251"
    assert len(set(hosts)) == 250


# ------------------------------------------------------------------ the report


def worker_result(worker: int, latencies_s: list[float], **counts: object) -> WorkerResult:
    result = WorkerResult(worker)
    for name, value in counts.items():
        setattr(result, name, value)
    histogram = new_histogram()
    for seconds in latencies_s:
        record_s(histogram, seconds)
    result.latency_hdr = histogram.encode()
    return result


def test_the_report_adds_up_the_workers() -> None:
    subject = plan(scenario="reconnect", processes=2, connections=5, duration_s=2.0)
    results = [
        worker_result(
            0,
            [0.001, 0.002, 0.003],
            connected=3,
            triggered=40,
            succeeded=40,
            pushes=100,
            gaps=1,
            reordered=2,
            errors={"RATE_LIMITED": 2},
            resumed=3,
            lost=4,
            dropped_s=1000.0,
            all_resumed_s=1000.5,
        ),
        worker_result(
            1,
            [0.004, 0.1],
            connected=2,
            connect_failures=1,
            pushes=50,
            errors={"RATE_LIMITED": 1, "CONNECTION_CLOSED": 5},
            not_recovered=2,
            unexpected_closes=1,
            dropped_s=1000.1,
            all_resumed_s=1000.7,
        ),
    ]
    report = build_report(subject, results, 2.5, None, None, None, None)
    assert report.connections == 5
    assert report.connect_failures == 1
    assert report.rooms == 3
    assert report.processes == 2
    assert report.events == 40
    assert report.achieved_rate == 20.0  # 40 confirmed over the 2 s
    assert report.frames_delivered == 150
    assert report.frames_per_s == 60.0
    assert report.errors == {"RATE_LIMITED": 3, "CONNECTION_CLOSED": 5}
    assert report.gaps == 1
    assert report.reordered == 2
    assert report.unexpected_closes == 1
    assert report.samples == 5
    assert report.max_ms == pytest.approx(100.0, rel=1e-3)
    assert report.p50_ms == pytest.approx(3.0, rel=1e-2)
    assert report.resumed == 3
    assert report.not_recovered == 2
    assert report.frames_lost == 4 + 1  # lost for good, and the gaps
    assert report.time_to_resume_s == pytest.approx(0.7)
    assert report.server is None
    assert report.fatal == []
    assert histogram_of(report).get_total_count() == 5


def test_a_failed_worker_is_fatal_in_the_report() -> None:
    failed = WorkerResult(1)
    failed.fatal = "worker 1 exited with -9 and no result"
    report = build_report(
        plan(processes=2),
        [worker_result(0, [0.01], connected=5), failed],
        1.0,
        None,
        None,
        None,
        None,
    )
    assert report.fatal == ["worker 1 exited with -9 and no result"]
    assert report.connections == 5


def test_the_report_survives_a_round_trip_through_its_file(tmp_path: Path) -> None:
    results = [worker_result(0, [0.005, 0.006], connected=2, triggered=2, succeeded=2)]
    report = build_report(plan(processes=1, connections=2), results, 1.0, None, None, None, None)
    path = tmp_path / "report.json"
    write_report(report, path)
    again = read_report(path)
    assert again == report
    assert base64.b64decode(again.histogram)
    assert histogram_of(again).get_total_count() == 2
