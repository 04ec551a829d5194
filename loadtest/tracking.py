"""Per-connection accounting of the room stream: seq gaps, duplicates and push latency."""

from hdrh.histogram import HdrHistogram

# Microseconds, 1 us to 10 minutes, 3 significant digits.
LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3
# How many skipped seqs a tracker remembers to tell a late frame from a duplicate.
MISSING_KEPT = 10_000


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_s(histogram: HdrHistogram, seconds: float) -> None:
    """Record a latency given in seconds (clamped into the histogram's range)."""
    histogram.record_value(min(max(int(seconds * 1_000_000), LOWEST_US), HIGHEST_US))


class SeqTracker:
    """Follows one connection's view of one room's `seq` stream.

    While a join is in flight, pushes are held until the join's answer says where the stream
    starts (a snapshot's `seq`, or the `since_seq` a resume continues from), because a link
    reads frames ahead of the coroutine that awaits the join.
    """

    __slots__ = ("_missing", "_pending", "duplicates", "gaps", "last", "reordered")

    def __init__(self) -> None:
        """A room not joined yet: pushes are held until `joined`."""
        self.last: int | None = None
        self.gaps = 0
        self.reordered = 0
        # Of the frames at or below `last`, those whose seq was already received (or was
        # covered by the join's snapshot).
        self.duplicates = 0
        # Seqs skipped over (a gap), so a late one is told from a duplicate; bounded.
        self._missing: set[int] = set()
        self._pending: list[int] | None = []

    def joining(self) -> None:
        """A (re)join was sent: hold pushes until `joined`."""
        self._pending = []

    def joined(self, seq: int, resumed: bool) -> int:
        """Apply the join's answer; returns how many frames are lost for good."""
        lost = 0
        if not resumed or self.last is None:
            if self.last is not None and seq > self.last:
                lost = seq - self.last
            self.last = seq
        pending, self._pending = self._pending or [], None
        for held in pending:
            self._advance(held)
        return lost

    def push(self, seq: int) -> None:
        """A pushed frame with this `seq` arrived."""
        if self._pending is not None:
            self._pending.append(seq)
        else:
            self._advance(seq)

    def _advance(self, seq: int) -> None:
        last = self.last
        if last is None or seq == last + 1:
            self.last = seq
        elif seq > last:
            self.gaps += seq - last - 1
            if len(self._missing) < MISSING_KEPT:
                self._missing.update(range(last + 1, min(seq, last + 1 + MISSING_KEPT)))
            self.last = seq
        else:
            self.reordered += 1
            if seq in self._missing:
                self._missing.discard(seq)
            else:
                self.duplicates += 1
