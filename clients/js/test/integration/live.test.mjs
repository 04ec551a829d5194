// Against a real running server, with the `ws` package and the built dist/roomserver.mjs.
//
//   ROOMSERVER_WS_URL      ws://127.0.0.1:8765/ws (skipped when unset)
//   ROOMSERVER_TOKEN       a player token, or
//   ROOMSERVER_TOKENS_JSON a JSON array of player tokens (case i uses token i, cycling)
//   ROOMSERVER_ROOM        the room to play in (default "demo")
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const URL_ENV = process.env.ROOMSERVER_WS_URL;
const ROOM = process.env.ROOMSERVER_ROOM || "demo";
const skip = URL_ENV ? false : "ROOMSERVER_WS_URL is not set";
const dist = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "dist", "roomserver.mjs");

function tokens() {
  if (process.env.ROOMSERVER_TOKENS_JSON) {
    const list = JSON.parse(process.env.ROOMSERVER_TOKENS_JSON);
    assert.ok(Array.isArray(list) && list.length > 0 && list.every((t) => typeof t === "string"), "ROOMSERVER_TOKENS_JSON: a JSON array of tokens");
    return list;
  }
  assert.ok(process.env.ROOMSERVER_TOKEN, "set ROOMSERVER_TOKEN or ROOMSERVER_TOKENS_JSON");
  return [process.env.ROOMSERVER_TOKEN];
}

/**
 * A `ws` WebSocket class that remembers its sockets and the messages sent on them; `intercept`
 * (socket, frame) => true swallows a received frame before the client sees it.
 */
function trackingSocket() {
  const sockets = [];
  const sent = [];
  const hooks = { intercept: null };
  class TrackingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      sockets.push(this);
    }

    send(data, ...rest) {
      sent.push(JSON.parse(String(data)));
      return super.send(data, ...rest);
    }

    get onmessage() {
      return super.onmessage;
    }

    set onmessage(handler) {
      super.onmessage =
        typeof handler === "function"
          ? (event) => {
              if (hooks.intercept?.(this, JSON.parse(String(event.data)))) return;
              handler(event);
            }
          : handler;
    }
  }
  return { TrackingWebSocket, sockets, sent, hooks };
}

async function newClient(caseIndex) {
  const { RoomClient } = await import(dist);
  const list = tokens();
  const token = list[caseIndex % list.length];
  const tracking = trackingSocket();
  const client = new RoomClient({
    url: URL_ENV,
    getToken: async () => token,
    WebSocket: tracking.TrackingWebSocket,
    requestTimeoutMs: 10_000,
    backoff: { minMs: 100, maxMs: 1_000 },
  });
  const errors = [];
  client.on("error", (error) => errors.push(error));
  return { client, errors, ...tracking };
}

test("connect, join, spin: the balance moves by -stake + win; leave", { skip, timeout: 30_000 }, async () => {
  const { client, errors, sockets } = await newClient(0);
  try {
    await client.connect();
    assert.equal(client.state, "open");
    assert.equal(sockets[0].protocol, "roomserver.v1");
    const snapshot = await client.join(ROOM);
    assert.equal(snapshot.status, "running", `room ${ROOM} must be running`);
    assert.equal(typeof snapshot.seq, "number");
    assert.equal(client.room(ROOM).lastSeq !== null, true);
    const stake = snapshot.config.min_stake;
    const before = (await client.balance(ROOM)).balance;
    const result = await client.spin(ROOM, { stake });
    assert.equal(typeof result.spin_id, "string");
    assert.equal(result.stake, stake);
    assert.equal(result.balance, before - stake + result.win);
    const after = await client.balance(ROOM);
    assert.equal(after.balance, before - stake + result.win);
    await client.leave(ROOM);
    assert.deepEqual(client.rooms(), []);
    assert.deepEqual(errors, []);
  } finally {
    client.close();
  }
});

test("a drop while a spin is in flight: resent with the same key after reconnect, placed once", { skip, timeout: 30_000 }, async () => {
  const { client, errors, sockets, sent } = await newClient(1);
  const states = [];
  client.on("state", (change) => states.push(`${change.state}:${change.reason}`));
  const snapshots = [];
  client.on("snapshot", (event) => snapshots.push(event));
  try {
    await client.connect();
    const snapshot = await client.join(ROOM);
    const stake = snapshot.config.min_stake;
    const before = (await client.balance(ROOM)).balance;

    const spin = client.spin(ROOM, { stake });
    sockets[0].terminate(); // the spin is in flight: sent, not answered
    const result = await spin;

    const spins = sent.filter((message) => message.type === "spin");
    assert.ok(spins.length >= 2, `the spin was resent (sent ${spins.length} times)`);
    assert.equal(new Set(spins.map((message) => message.idempotency_key)).size, 1, "one idempotency key");
    assert.ok(sockets.length >= 2, "reconnected");
    assert.ok(states.includes("reconnecting:connection-lost"), states.join(", "));
    const rejoin = sent.filter((message) => message.type === "room.join").at(-1);
    assert.equal(typeof rejoin.since_seq, "number", "the rejoin resumes from the last seq");
    assert.ok(snapshots.some((event) => event.rejoin), "the room was rejoined");

    assert.equal(typeof result.spin_id, "string");
    const after = (await client.balance(ROOM)).balance;
    assert.equal(after, before - stake + result.win, "the balance moved once");

    // The same key again replays the stored result: same spin, no second debit.
    const replay = await client.spin(ROOM, { stake, idempotencyKey: spins[0].idempotency_key });
    assert.equal(replay.spin_id, result.spin_id);
    assert.equal((await client.balance(ROOM)).balance, after);
    await client.leave(ROOM);
    assert.deepEqual(errors, []);
  } finally {
    client.close();
  }
});

test("the reply is lost after the server placed the spin: the resend replays it, no second debit", { skip, timeout: 30_000 }, async () => {
  const { client, errors, sockets, sent, hooks } = await newClient(2);
  try {
    await client.connect();
    const snapshot = await client.join(ROOM);
    const stake = snapshot.config.min_stake;
    const before = (await client.balance(ROOM)).balance;

    let lost = null;
    hooks.intercept = (socket, frame) => {
      if (frame.type !== "spin.result" || lost) return false;
      lost = frame.payload;
      socket.terminate(); // the spin committed; its reply never reaches the client
      return true;
    };
    const result = await client.spin(ROOM, { stake });
    assert.ok(lost, "the first reply was intercepted");
    assert.equal(result.spin_id, lost.spin_id, "the resend got the stored result");
    assert.equal(result.balance, lost.balance);
    const spins = sent.filter((message) => message.type === "spin");
    assert.equal(spins.length, 2);
    assert.equal(spins[0].idempotency_key, spins[1].idempotency_key);
    assert.ok(sockets.length >= 2);
    assert.equal((await client.balance(ROOM)).balance, before - stake + result.win);
    await client.leave(ROOM);
    assert.deepEqual(errors, []);
  } finally {
    client.close();
  }
});
