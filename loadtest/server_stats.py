"""The server's own CPU time and memory, read from its process (`--server-pid`)."""

from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One reading of the server process."""

    cpu_s: float  # user + system, since the process started
    rss_bytes: int


def sample(pid: int | None) -> ServerSample | None:
    """Read the process now (None without a pid)."""
    if pid is None:
        return None
    process = psutil.Process(pid)
    with process.oneshot():
        times = process.cpu_times()
        return ServerSample(times.user + times.system, process.memory_info().rss)


def check_pid(pid: int) -> None:
    """Fail early on a pid that is not a running process."""
    if not psutil.pid_exists(pid):
        raise ValueError(f"no process with pid {pid}")
