"""The peers of the fan-out benchmark: how to start each one, and the wire that speaks to it.

Standard library only. From the repository root:

    from bench.peers import PEERS, start_peer, stop_peer

    proc = start_peer("node_ws", 9002)          # returns once the port accepts connections
    url = PEERS["node_ws"].url(9002)            # ws://127.0.0.1:9002/ws, with --wire ws-json
    ...
    stop_peer(proc)

or by hand: `python bench/peers.py list`, `python bench/peers.py run colyseus --port 9004`.
The libraries come from .bench/ (`make bench-peers`); see bench/README.md.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
PEERS_DIR = REPO / "bench" / "peers"
BENCH_DIR = REPO / ".bench"
PROJECT_PYTHON = REPO / ".venv" / "bin" / "python"
SOCKETIO_PYTHON = BENCH_DIR / "venv" / "bin" / "python"
NODE_MODULES = BENCH_DIR / "node" / "node_modules"

READY_TIMEOUT_S = 30.0
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Peer:
    """One peer server of the benchmark."""

    name: str
    description: str
    wire: str  # the loadtest `--wire` that speaks to it
    program: tuple[str, ...]  # the command before `--host HOST --port PORT`
    path: str = ""  # the WebSocket path of `--url` ("" when the wire derives its own)
    env: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[Path, ...] = ()  # what must be installed

    def command(self, port: int, host: str = HOST) -> list[str]:
        """The command line that starts the peer on `host:port`."""
        return [*self.program, "--host", host, "--port", str(port)]

    def url(self, port: int, host: str = HOST) -> str:
        """The `--url` of the load generator for a peer on `host:port`."""
        return f"ws://{host}:{port}{self.path}"

    def missing(self) -> list[Path]:
        """What is not installed yet (run `make bench-peers`)."""
        return [path for path in self.needs if not path.exists()]

    def ready(self, port: int, host: str = HOST) -> bool:
        """Whether the peer accepts TCP connections."""
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False


_NODE_ENV = {"NODE_ENV": "production"}

PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            name="websockets",
            description="bare websockets (asyncio, uvloop) with websockets.broadcast",
            wire="ws-json",
            program=(str(PROJECT_PYTHON), str(PEERS_DIR / "websockets_server.py")),
            path="/ws",
            needs=(PROJECT_PYTHON,),
        ),
        Peer(
            name="node_ws",
            description="Node.js ws, a frame encoded once and sent to every member",
            wire="ws-json",
            program=("node", str(PEERS_DIR / "node_ws" / "server.js")),
            path="/ws",
            env=_NODE_ENV,
            needs=(NODE_MODULES / "ws",),
        ),
        Peer(
            name="socketio",
            description="python-socketio AsyncServer on aiohttp (uvloop), WebSocket transport",
            wire="socketio",
            program=(str(SOCKETIO_PYTHON), str(PEERS_DIR / "socketio_server.py")),
            needs=(SOCKETIO_PYTHON,),
        ),
        Peer(
            name="colyseus",
            description="Colyseus 0.18 room broadcast (ws transport), rooms filtered by name",
            wire="colyseus",
            program=("node", str(PEERS_DIR / "colyseus" / "server.js")),
            env=_NODE_ENV,
            needs=(
                NODE_MODULES / "@colyseus" / "core",
                NODE_MODULES / "@colyseus" / "ws-transport",
            ),
        ),
    )
}


def start_peer(
    name: str,
    port: int,
    host: str = HOST,
    *,
    timeout_s: float = READY_TIMEOUT_S,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
) -> "subprocess.Popen[bytes]":
    """Start a peer and return once it accepts connections on `host:port`.

    Raises `RuntimeError` when it is not installed, exits early, or is not ready in time.
    """
    peer = PEERS[name]
    missing = peer.missing()
    if missing:
        raise RuntimeError(
            f"peer {name}: not installed ({', '.join(map(str, missing))}); run `make bench-peers`"
        )
    proc = subprocess.Popen(
        peer.command(port, host),
        cwd=REPO,
        env={**os.environ, **peer.env},
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )
    deadline = time.monotonic() + timeout_s
    while not peer.ready(port, host):
        if proc.poll() is not None:
            raise RuntimeError(f"peer {name}: exited with code {proc.returncode} while starting")
        if time.monotonic() > deadline:
            stop_peer(proc)
            raise RuntimeError(f"peer {name}: not listening on {host}:{port} after {timeout_s} s")
        time.sleep(0.1)
    return proc


def stop_peer(proc: "subprocess.Popen[bytes]", timeout_s: float = 10.0) -> int:
    """Stop a peer (SIGTERM, then SIGKILL after `timeout_s`); returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def main() -> None:
    """List the peers, or run one in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description="The peers of the fan-out benchmark.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the peers, their wire and whether they are installed")
    run = commands.add_parser("run", help="run one peer in the foreground")
    run.add_argument("name", choices=sorted(PEERS))
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--host", default=HOST)
    args = parser.parse_args()
    if args.command == "list":
        for peer in PEERS.values():
            state = "installed" if not peer.missing() else "not installed"
            print(f"{peer.name:11} --wire {peer.wire:9} {state:13} {peer.description}")
        return
    # SIGTERM stops the peer too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    proc = start_peer(args.name, args.port, args.host)
    print(
        f"{args.name}: --url {PEERS[args.name].url(args.port, args.host)} --wire "
        f"{PEERS[args.name].wire} (pid {proc.pid}); Ctrl-C stops it",
        flush=True,
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sys.exit(stop_peer(proc))


if __name__ == "__main__":
    main()
