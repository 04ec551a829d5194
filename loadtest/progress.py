"""A one-line progress bar on the terminal, fed from the workers' shared counters."""

import sys
import threading
import time
from collections.abc import Sequence

from loadtest.worker import COUNTERS


class Progress:
    """Redraws `connected / events / frames` every half second while a run is on."""

    def __init__(
        self, label: str, connections: int, counters: Sequence[float], *, enabled: bool
    ) -> None:
        """A bar for `connections` over the workers' `counters`; drawn only to a terminal."""
        self._label = label
        self._connections = connections
        self._counters = counters
        self._enabled = enabled and sys.stderr.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw_until_stopped, daemon=True)
        self.phase = "connecting"
        self._started = time.monotonic()

    def __enter__(self) -> "Progress":
        """Start redrawing (when enabled)."""
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop redrawing and end the bar's line."""
        self._stop.set()
        if self._enabled:
            self._thread.join()
            sys.stderr.write("\n")

    def _totals(self) -> tuple[float, float, float]:
        counters = self._counters
        connected = sum(counters[i] for i in range(0, len(counters), COUNTERS))
        events = sum(counters[i] for i in range(1, len(counters), COUNTERS))
        pushes = sum(counters[i] for i in range(2, len(counters), COUNTERS))
        return connected, events, pushes

    def _draw_until_stopped(self) -> None:
        while not self._stop.wait(0.5):
            connected, events, pushes = self._totals()
            width = 24
            filled = int(width * connected / max(1, self._connections))
            bar = "#" * filled + "-" * (width - filled)
            elapsed = time.monotonic() - self._started
            sys.stderr.write(
                f"\r{self._label} [{bar}] {int(connected)}/{self._connections} connected"
                f"  {int(events)} events  {int(pushes)} frames  {self.phase} {elapsed:5.1f}s "
            )
            sys.stderr.flush()
