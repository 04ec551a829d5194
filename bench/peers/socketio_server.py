"""Fan-out peer: a python-socketio `AsyncServer` on aiohttp (uvloop) speaking the bench wire.

Socket.IO events on the default namespace, WebSocket transport only (no long-polling):

- `join` {room} -> the socket enters the Socket.IO room, then gets `joined` {room, seq};
- `publish` {room, payload} -> the room's seq is bumped and `update` {room, seq, ts, payload}
  is emitted to the room: one emit, which the library encodes once for every member.

Run it with the interpreter of .bench/venv (bench/install.sh): `.bench/venv/bin/python
bench/peers/socketio_server.py --port 9003`. Socket.IO serves ws://127.0.0.1:PORT/socket.io/.
"""

import argparse
import asyncio
import signal
import time
from typing import Any

import socketio
import uvloop
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])
_seqs: dict[str, int] = {}


@sio.on("join")
async def _join(sid: str, data: dict[str, Any]) -> None:
    room = data["room"]
    await sio.enter_room(sid, room)
    await sio.emit("joined", {"room": room, "seq": _seqs.get(room, 0)}, to=sid)


@sio.on("publish")
async def _publish(sid: str, data: dict[str, Any]) -> None:
    room = data["room"]
    seq = _seqs[room] = _seqs.get(room, 0) + 1
    update = {"room": room, "seq": seq, "ts": time.time() * 1000.0, "payload": data["payload"]}
    await sio.emit("update", update, room=room)


async def _main(host: str, port: int) -> None:
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"socketio peer listening on http://{host}:{port}/socket.io/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if sio.eio.sockets:  # engineio's disconnect() fails when there is nobody to drop
            await sio.eio.disconnect()  # every client, so the web server stops at once
        await sio.shutdown()
        await runner.cleanup()


def main() -> None:
    """Serve on `--host`:`--port` until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="Fan-out peer: a python-socketio server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
