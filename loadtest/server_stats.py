"""The servers' own CPU time and memory, read from their processes (`--server-pid`)."""

from collections.abc import Sequence
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One reading of a server process."""

    cpu_s: float  # user + system, since the process started
    rss_bytes: int


# One reading of each server process; a process that is gone has none.
ServerSamples = dict[int, ServerSample]


def sample(pid: int | None) -> ServerSample | None:
    """Read the process now (None without a pid, or when it is gone)."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            times = process.cpu_times()
            return ServerSample(times.user + times.system, process.memory_info().rss)
    except psutil.Error:  # gone (killed by the failover scenario), or a zombie
        return None


def sample_all(pids: Sequence[int]) -> ServerSamples:
    """Read every process now."""
    samples: ServerSamples = {}
    for pid in pids:
        reading = sample(pid)
        if reading is not None:
            samples[pid] = reading
    return samples


def check_pid(pid: int) -> None:
    """Fail early on a pid that is not a running process."""
    if not psutil.pid_exists(pid):
        raise ValueError(f"no process with pid {pid}")


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds a listening TCP socket on `port`."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(
        connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr[1] == port
        for connection in connections
    )
