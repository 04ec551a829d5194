"""`roomserver cluster` as a test runs it: node processes on one Redis, with a side-API key.

The cluster writes `var/cluster/node-N.pid` under its working directory; `node_pid` reads them.
"""

import asyncio
import contextlib
import hashlib
import json
import socket
from pathlib import Path
from typing import Final

from roomserver.config import API_SCOPES
from tests.support.api import ADMIN_KEY
from tests.support.node import TEST_AUTH, roomserver_process
from tests.support.services import free_tcp_port

CONFIG: Final = """\
[server]
host = "127.0.0.1"
[postgres]
dsn = "{dsn}"
pool_min_size = 1
pool_max_size = 4
[redis]
url = "{redis_url}"
[auth]
jwt_secret = "{jwt_secret}"
[events]
file = "{events_file}"
[[api.keys]]
name = "admin"
key_sha256 = "{key_sha256}"
scopes = {scopes}
"""


def write_cluster_config(workdir: Path, dsn: str, redis_url: str) -> Path:
    """The cluster's config file, in `workdir`: the test secret, `ADMIN_KEY` on the side API."""
    config = workdir / "config.toml"
    config.write_text(
        CONFIG.format(
            dsn=dsn,
            redis_url=redis_url,
            jwt_secret=TEST_AUTH.jwt_secret,
            events_file=workdir / "events.jsonl",
            key_sha256=hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            # A TOML array of strings is written as JSON writes a list.
            scopes=json.dumps(list(API_SCOPES)),
        )
    )
    return config


def free_cluster_port(nodes: int) -> int:
    """A port P with P, P+6.. and P+16.. (the balancer and the nodes' ports) all free now.

    Chosen below the kernel's ephemeral range: a port from that range, free when probed, can
    be taken by any outgoing connection (a starting node's own PostgreSQL or Redis client)
    before the node that was given it binds it.
    """
    for _ in range(200):
        port = free_tcp_port()  # below the ephemeral range, where the system has one
        if port + 16 + nodes >= 65535:
            continue
        wanted = [
            port,
            *(port + 6 + n for n in range(nodes)),
            *(port + 16 + n for n in range(nodes)),
        ]
        if all(port_is_free(candidate) for candidate in wanted):
            return port
    raise AssertionError("no free range of ports")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on (or holds) `port` of 127.0.0.1 right now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def node_urls(port: int, nodes: int) -> tuple[list[str], list[str]]:
    """The nodes' WebSocket URLs and side-API URLs for a cluster on `port`."""
    return (
        [f"ws://127.0.0.1:{port + 6 + n}/ws" for n in range(nodes)],
        [f"http://127.0.0.1:{port + 16 + n}" for n in range(nodes)],
    )


def node_pid(workdir: Path, number: int) -> int:
    """The process id of node `number` (from 1) of the cluster running in `workdir`."""
    return int((workdir / "var" / "cluster" / f"node-{number}.pid").read_text())


def cluster_process(
    workdir: Path, config: Path, nodes: int, port: int
) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """`roomserver cluster`, yielded once every node answers /ready; stopped with SIGTERM."""
    _, api_urls = node_urls(port, nodes)
    return roomserver_process(
        ("--config", str(config), "cluster", "--nodes", str(nodes), "--port", str(port)),
        workdir,
        [f"{url}/ready" for url in api_urls],
        workdir / "cluster.log",
        start_timeout_s=90.0,
        stop_timeout_s=60.0,
    )
