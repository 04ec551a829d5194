"""Fan-out peer: a bare `websockets` server (asyncio API on uvloop) speaking the bench wire.

The library's ceiling: a frame is encoded once per event and handed to `websockets.broadcast`,
which writes it to every member without a task per recipient. The publisher's payload is kept
as raw JSON and written back byte for byte (msgspec), so the codec costs next to nothing.

Run it with the project's interpreter: `.venv/bin/python bench/peers/websockets_server.py
--port 9001`. It serves ws://127.0.0.1:PORT/ws and prints one line when it listens.
"""

import argparse
import asyncio
import signal
import time

import msgspec
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


class _Incoming(msgspec.Struct):
    type: str
    room: str
    payload: msgspec.Raw = msgspec.Raw(b"null")


class _Joined(msgspec.Struct, tag="joined", tag_field="type"):
    room: str
    seq: int


class _Update(msgspec.Struct, tag="update", tag_field="type"):
    room: str
    seq: int
    ts: float
    payload: msgspec.Raw


class _Room:
    __slots__ = ("members", "seq")

    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()
        self.seq = 0


_decode = msgspec.json.Decoder(_Incoming).decode
_encode = msgspec.json.Encoder().encode
_rooms: dict[str, _Room] = {}


def _only_ws_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] == "/ws":
        return None
    return Response(404, "Not Found", Headers(), b"")


async def _serve_client(ws: ServerConnection) -> None:
    joined: list[_Room] = []
    try:
        async for message in ws:
            frame = _decode(message)
            if frame.type == "publish":
                room = _rooms.get(frame.room)
                if room is None:
                    continue
                room.seq += 1
                data = _encode(_Update(frame.room, room.seq, time.time() * 1000.0, frame.payload))
                broadcast(room.members, data, text=True)
            elif frame.type == "join":
                room = _rooms.get(frame.room)
                if room is None:
                    room = _rooms[frame.room] = _Room()
                if ws not in room.members:
                    room.members.add(ws)
                    joined.append(room)
                await ws.send(_encode(_Joined(frame.room, room.seq)), text=True)
    except ConnectionClosed:
        pass  # a member that vanishes is no news in a fan-out
    finally:
        for room in joined:
            room.members.discard(ws)


async def _main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        _serve_client,
        host,
        port,
        process_request=_only_ws_path,
        compression=None,
        max_size=64 * 1024,
    ):
        print(f"websockets peer listening on ws://{host}:{port}/ws", flush=True)
        await stop.wait()


def main() -> None:
    """Serve on `--host`:`--port` until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="Fan-out peer: a bare websockets server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
