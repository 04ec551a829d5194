// Fan-out peer: a Node.js `ws` server speaking the bench wire on ws://HOST:PORT/ws.
//
// The update frame is serialized once per event into a Buffer and that same Buffer is sent to
// every member as a text frame (the broadcast pattern of the ws README). bufferutil is
// installed beside ws, which picks it up for masking; permessage-deflate is off.
"use strict";

const { parseArgs } = require("node:util");
const { performance } = require("node:perf_hooks");
const benchRequire = require("../libraries.cjs");
const { WebSocketServer, WebSocket } = benchRequire("ws");

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
  },
});
if (!values.port) {
  console.error("usage: node server.js --port PORT [--host HOST]");
  process.exit(2);
}

const rooms = new Map(); // room name -> { seq, members: Set<WebSocket> }
const TEXT = { binary: false };

function nowMs() {
  return performance.timeOrigin + performance.now();
}

const wss = new WebSocketServer({
  host: values.host,
  port: Number(values.port),
  path: "/ws",
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024,
});

wss.on("connection", (ws) => {
  const joined = [];

  ws.on("message", (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === "publish") {
      const room = rooms.get(msg.room);
      if (room === undefined) return;
      room.seq += 1;
      const frame = Buffer.from(
        JSON.stringify({ type: "update", room: msg.room, seq: room.seq, ts: nowMs(), payload: msg.payload }),
      );
      for (const member of room.members) {
        if (member.readyState === WebSocket.OPEN) member.send(frame, TEXT);
      }
    } else if (msg.type === "join") {
      let room = rooms.get(msg.room);
      if (room === undefined) {
        room = { seq: 0, members: new Set() };
        rooms.set(msg.room, room);
      }
      if (!room.members.has(ws)) {
        room.members.add(ws);
        joined.push(room);
      }
      ws.send(JSON.stringify({ type: "joined", room: msg.room, seq: room.seq }));
    }
  });

  ws.on("close", () => {
    for (const room of joined) room.members.delete(ws);
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  console.log(`node ws peer listening on ws://${values.host}:${values.port}/ws`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    wss.close();
    process.exit(0);
  });
}
