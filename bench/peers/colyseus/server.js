// Fan-out peer: a Colyseus server with one room type, "bench", speaking the bench wire as
// Colyseus messages (msgpack over its binary WebSocket protocol).
//
// Matchmaking: POST /matchmake/joinOrCreate/bench {"room": "r-0003"}; rooms are filtered by
// the `room` option, so each bench room is one Colyseus room. On join the client gets a
// "joined" message {room, seq}; a "publish" message {room, payload} bumps the seq and is
// broadcast as "update" {room, seq, ts, payload}, encoded once by Room#broadcast for every
// client. No schema state: the room carries plain messages only.
"use strict";

const { parseArgs } = require("node:util");
const { performance } = require("node:perf_hooks");
const benchRequire = require("../libraries.cjs");
const { Server, Room } = benchRequire("@colyseus/core");
const { WebSocketTransport } = benchRequire("@colyseus/ws-transport");

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

class BenchRoom extends Room {
  onCreate(options) {
    this.benchRoom = options.room;
    this.seq = 0;
    this.onMessage("publish", (client, message) => {
      this.seq += 1;
      this.broadcast("update", {
        room: this.benchRoom,
        seq: this.seq,
        ts: performance.timeOrigin + performance.now(),
        payload: message.payload,
      });
    });
  }

  onJoin(client) {
    client.send("joined", { room: this.benchRoom, seq: this.seq });
  }
}

const server = new Server({
  transport: new WebSocketTransport({ perMessageDeflate: false }),
  greet: false,
});
server.define("bench", BenchRoom).filterBy(["room"]);

server.listen(Number(values.port), values.host).then(() => {
  console.log(`colyseus peer listening on http://${values.host}:${values.port}`);
});
// Colyseus shuts down gracefully on SIGINT and SIGTERM by itself.
