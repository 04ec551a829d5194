"""`roomserver cluster`: several nodes of one deployment on this machine, for trying many nodes.

It finds or starts what the nodes share (a Redis: the configured one, the system's on 6379, or a
private `redis-server`; PostgreSQL: the configured one or the embedded one, started once here for
all nodes), starts the nodes one after another on consecutive ports (each as its own process,
with its own config file under `var/cluster/`), and puts a load balancer in front of their
WebSocket ports when HAProxy or nginx is installed. Ctrl-C stops everything it started.
"""

import asyncio
import contextlib
import copy
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import redis.asyncio as redis
import tomli_w

from roomserver.config import Config
from roomserver.ops.embedded_postgres import start_embedded_postgres
from roomserver.ops.startup import StartupError

log = logging.getLogger(__name__)

CLUSTER_DIR: Final = Path("var/cluster")
SYSTEM_REDIS: Final = "redis://127.0.0.1:6379/0"
_READY_TIMEOUT_S: Final = 60.0
_STOP_TIMEOUT_S: Final = 30.0
_PR_SET_PDEATHSIG: Final = 1  # prctl(2): the signal a process gets when its parent dies


@dataclass(frozen=True, slots=True)
class NodePorts:
    """Where one node of the cluster listens."""

    name: str
    ws_port: int
    api_port: int


def node_ports(count: int, lb_port: int) -> list[NodePorts]:
    """Consecutive WebSocket ports from `lb_port` + 6 and side-API ports from `lb_port` + 16."""
    return [NodePorts(f"node-{n + 1}", lb_port + 6 + n, lb_port + 16 + n) for n in range(count)]


def node_config(base: dict[str, Any], ports: NodePorts, redis_url: str, dsn: str) -> dict[str, Any]:
    """The config file of one node: the user's, with this node's ports, name and shared services."""
    raw = copy.deepcopy(base)
    raw.setdefault("server", {}).update(port=ports.ws_port, node_id=ports.name)
    raw.setdefault("api", {})["port"] = ports.api_port
    raw.setdefault("redis", {})["url"] = redis_url
    raw.setdefault("postgres", {})["dsn"] = dsn
    # The demo casino's ports are fixed: one node alone could serve it, not each of them.
    raw.setdefault("demo", {})["enabled"] = False
    return raw


def haproxy_config(lb_port: int, nodes: list[NodePorts]) -> str:
    """HAProxy in front of the nodes' WebSocket ports, checking each node's /ready."""
    servers = "\n".join(
        f"    server {node.name} 127.0.0.1:{node.ws_port} check port {node.api_port}"
        for node in nodes
    )
    return f"""\
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h

frontend players
    bind 127.0.0.1:{lb_port}
    default_backend nodes

backend nodes
    balance leastconn
    option httpchk GET /ready
{servers}
"""


def nginx_config(lb_port: int, nodes: list[NodePorts], prefix: Path) -> str:
    """Nginx in front of the nodes' WebSocket ports (WebSocket upgrade passed through)."""
    servers = "\n".join(f"        server 127.0.0.1:{node.ws_port};" for node in nodes)
    return f"""\
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "nginx-error.log"};
events {{}}
http {{
    access_log off;
    client_body_temp_path {prefix};
    proxy_temp_path {prefix};
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    upstream nodes {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{lb_port};
        location / {{
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


async def run_cluster(
    config: Config, config_path: Path | None, count: int, *, sandbox: bool, lb_port: int
) -> None:
    """Start the cluster and keep it running until SIGINT or SIGTERM.

    Raises:
        StartupError: something the nodes need cannot be started, or a node did not start.
    """
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {}
    if config_path is not None:
        text = await asyncio.to_thread(config_path.read_text, encoding="utf-8")
        base = tomllib.loads(text)
    nodes = node_ports(count, lb_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with (
        _shared_redis(config.redis.url) as redis_url,
        _shared_postgres(config) as dsn,
        contextlib.AsyncExitStack() as processes,
    ):
        for ports in nodes:
            path = CLUSTER_DIR / f"{ports.name}.toml"
            path.write_text(tomli_w.dumps(node_config(base, ports, redis_url, dsn)))
            await processes.enter_async_context(_node_process(path, ports, sandbox=sandbox))
        balancer = await processes.enter_async_context(_load_balancer(lb_port, nodes))
        _tell_user(nodes, balancer, lb_port, redis_url)
        await stop.wait()
        log.info("stopping the cluster")


def _tell_user(nodes: list[NodePorts], balancer: str | None, lb_port: int, redis_url: str) -> None:
    for node in nodes:
        log.info(
            "%s: ws://127.0.0.1:%d/ws, side API http://127.0.0.1:%d (log %s)",
            node.name,
            node.ws_port,
            node.api_port,
            CLUSTER_DIR / f"{node.name}.log",
        )
    log.info("nodes share Redis at %s", redis_url)
    if balancer is None:
        log.warning(
            "no load balancer: install HAProxy or nginx (Debian: apt-get install haproxy) to "
            "get one on port %d; meanwhile connect to the nodes' own ports",
            lb_port,
        )
    else:
        log.info("%s balances ws://127.0.0.1:%d/ws over the nodes", balancer, lb_port)
    log.info("cluster ready; Ctrl-C stops it")


@contextlib.asynccontextmanager
async def _shared_redis(configured: str) -> AsyncIterator[str]:
    """The configured Redis, else the system's on 6379, else a private `redis-server`."""
    for url in (configured, SYSTEM_REDIS) if configured else (SYSTEM_REDIS,):
        if await _answers(url):
            yield url
            return
        if url == configured:
            raise StartupError(f"Redis at {configured} does not answer (config key redis.url)")
    executable = shutil.which("redis-server")
    if executable is None:
        raise StartupError(
            "no Redis answers on 127.0.0.1:6379 and redis-server is not installed "
            "(Debian: apt-get install redis-server), or set redis.url"
        )
    port = _free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10.0
        while not await _answers(url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise StartupError(f"redis-server did not start on port {port}")
            await asyncio.sleep(0.1)
        log.info("started redis-server on port %d (no persistence)", port)
        yield url
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait)


@contextlib.asynccontextmanager
async def _shared_postgres(config: Config) -> AsyncIterator[str]:
    """The configured PostgreSQL, else the embedded one, started once for every node."""
    if config.postgres.dsn:
        yield config.postgres.dsn
        return
    embedded = await asyncio.to_thread(
        start_embedded_postgres, Path(config.postgres.embedded_data_dir)
    )
    try:
        yield embedded.dsn
    finally:
        await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def _node_process(path: Path, ports: NodePorts, *, sandbox: bool) -> AsyncIterator[None]:
    """One node as its own process, yielded once its side API is ready; stopped with SIGTERM."""
    log_path = CLUSTER_DIR / f"{ports.name}.log"
    command = [sys.executable, "-m", "roomserver", "--config", str(path), "run"]
    if sandbox:
        command.append("--sandbox")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROOMSERVER_")}
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=env,
            preexec_fn=_stop_with_parent,
        )
    pid_path = CLUSTER_DIR / f"{ports.name}.pid"
    pid_path.write_text(f"{process.pid}\n")
    try:
        await _wait_ready(process, ports, log_path)
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        pid_path.unlink(missing_ok=True)


def _stop_with_parent() -> None:
    """In a node's process before it runs: on Linux, SIGTERM it when the launcher dies.

    A launcher killed outright (SIGKILL, a crash) cannot stop its nodes itself; without this
    they would run on, orphaned, still holding their ports and beating as live nodes.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _wait_ready(process: asyncio.subprocess.Process, ports: NodePorts, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while not await _http_ok(ports.api_port, "/ready"):
        if process.returncode is not None or time.monotonic() > deadline:
            text = await asyncio.to_thread(log.read_text, errors="replace")
            tail = "\n".join(text.splitlines()[-5:])
            raise StartupError(f"{ports.name} did not start (see {log}):\n{tail}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _load_balancer(lb_port: int, nodes: list[NodePorts]) -> AsyncIterator[str | None]:
    """HAProxy or nginx on `lb_port` when one is installed; None (nothing started) otherwise."""
    haproxy, nginx = shutil.which("haproxy"), shutil.which("nginx")
    if haproxy is not None:
        path = CLUSTER_DIR / "haproxy.cfg"
        path.write_text(haproxy_config(lb_port, nodes))
        command, name = [haproxy, "-db", "-f", str(path)], "HAProxy"
    elif nginx is not None:
        prefix = (CLUSTER_DIR / "nginx").resolve()
        prefix.mkdir(exist_ok=True)
        path = prefix / "nginx.conf"
        path.write_text(nginx_config(lb_port, nodes, prefix))
        command, name = [nginx, "-c", str(path), "-p", str(prefix)], "nginx"
    else:
        yield None
        return
    with (CLUSTER_DIR / "balancer.log").open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 10.0
        while not _port_open(lb_port):
            if process.returncode is not None or time.monotonic() > deadline:
                raise StartupError(f"{name} did not start (see {CLUSTER_DIR / 'balancer.log'})")
            await asyncio.sleep(0.1)
        yield name
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _answers(url: str) -> bool:
    client = redis.from_url(url, socket_connect_timeout=1.0)
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def _http_ok(port: int, path: str) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        async with asyncio.timeout(2.0):
            status = await reader.readline()
        return status.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port: int = listener.getsockname()[1]
        return port
