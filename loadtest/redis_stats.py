"""What the nodes' Redis did over the measured window (`--redis-url`): calls and CPU.

Read with `INFO commandstats` and `INFO cpu` before and after the window; the figures are the
differences, so they cover every client of that Redis server, and the commands a Lua script runs
(`redis.call`) count as calls of their own beside the `evalsha` that ran it.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as redis

# Our own reads: not the nodes' work.
OWN_COMMANDS = frozenset({"info"})
READ_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class RedisSample:
    """One reading: calls and microseconds per command, CPU seconds of the server."""

    calls: dict[str, int]
    usec: dict[str, int]
    cpu_sys_s: float
    cpu_user_s: float


class RedisFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The Redis server's work between the start and the finish of the run."""

    calls: dict[str, int]  # per command (`cmdstat_<name>`), only those called
    usec: dict[str, int]  # time spent in each command, microseconds
    calls_total: int
    frames_published: int  # distinct room seqs the members saw
    calls_per_frame_published: float | None = None
    cpu_s: float  # used_cpu_sys + used_cpu_user
    cpu_sys_s: float
    cpu_user_s: float


def read_redis(url: str) -> RedisSample:
    """Read the server's command and CPU statistics now (from a process with no loop running)."""
    return asyncio.run(_read(url))


async def _read(url: str) -> RedisSample:
    # No CLIENT SETINFO nor HELLO on connect: only our INFO calls reach the server.
    client = redis.from_url(url, lib_name=None, lib_version=None, protocol=2)
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            commandstats: dict[str, Any] = await client.info("commandstats")
            cpu: dict[str, Any] = await client.info("cpu")
    finally:
        await client.aclose()
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for key, value in commandstats.items():
        if not key.startswith("cmdstat_") or not isinstance(value, dict):
            continue
        name = key.removeprefix("cmdstat_")
        calls[name] = int(value.get("calls", 0))
        usec[name] = int(value.get("usec", 0))
    return RedisSample(
        calls, usec, float(cpu.get("used_cpu_sys", 0.0)), float(cpu.get("used_cpu_user", 0.0))
    )


def redis_figures(before: RedisSample, after: RedisSample, frames_published: int) -> RedisFigures:
    """The differences between two readings; per published frame when any was published."""
    calls = {
        name: count - before.calls.get(name, 0)
        for name, count in sorted(after.calls.items())
        if name not in OWN_COMMANDS and count > before.calls.get(name, 0)
    }
    usec = {name: after.usec.get(name, 0) - before.usec.get(name, 0) for name in calls}
    total = sum(calls.values())
    sys_s = max(0.0, after.cpu_sys_s - before.cpu_sys_s)
    user_s = max(0.0, after.cpu_user_s - before.cpu_user_s)
    return RedisFigures(
        calls=calls,
        usec=usec,
        calls_total=total,
        frames_published=frames_published,
        calls_per_frame_published=round(total / frames_published, 2) if frames_published else None,
        cpu_s=round(sys_s + user_s, 3),
        cpu_sys_s=round(sys_s, 3),
        cpu_user_s=round(user_s, 3),
    )
