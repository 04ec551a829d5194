"""A private Redis Cluster of three shards (no replicas, no persistence) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import redis

from tests.support.cluster import port_is_free
from tests.support.services import ServiceUnavailableError, free_tcp_port, redis_server_command

SLOTS: Final = 16384
START_TIMEOUT_S: Final = 20.0


def _shard_ports(count: int) -> list[int]:
    """Free ports whose cluster-bus ports (port + 10000) are valid and free as well."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_tcp_port()
        if port + 10000 <= 65535 and port not in ports and port_is_free(port + 10000):
            ports.append(port)
    return ports


def _start_shard(executable: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    shard_dir = workdir / str(port)
    shard_dir.mkdir()
    command = redis_server_command(
        executable,
        port,
        shard_dir,
        shard_dir / "redis.log",
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
    )
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


def _answering(port: int) -> redis.Redis:
    deadline = time.monotonic() + START_TIMEOUT_S
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0)
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(f"redis-server on {port} did not answer") from None
            time.sleep(0.05)


def _ready(client: redis.Redis, shards: int) -> bool:
    """Whether the node sees every shard and every slot served."""
    info = client.cluster("INFO")
    return bool(info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == shards)


@contextlib.contextmanager
def redis_cluster(shards: int = 3) -> Iterator[str]:
    """Start a cluster; yields the URL of its first node, stops every shard afterwards.

    Raises:
        ServiceUnavailableError: `redis-server` is missing, lacks cluster mode, or the cluster
            never became ready.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServiceUnavailableError("redis-server is not on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="roomserver-test-redis-cluster-"))
    ports = _shard_ports(shards)
    processes = [_start_shard(executable, port, workdir) for port in ports]
    try:
        clients = [_answering(port) for port in ports]
        step = SLOTS // shards
        for n, client in enumerate(clients):
            last = SLOTS - 1 if n == shards - 1 else (n + 1) * step - 1
            client.cluster("ADDSLOTSRANGE", n * step, last)
        for port in ports[1:]:
            clients[0].cluster("MEET", "127.0.0.1", port)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(_ready(client, shards) for client in clients):
            if time.monotonic() > deadline:
                raise ServiceUnavailableError("the Redis Cluster did not become ready")
            time.sleep(0.1)
        for client in clients:
            client.close()
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
