// Requests: matching replies by rid, timeouts, error frames, spins and their idempotency keys.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  balanceFrame,
  errorFrame,
  flush,
  join,
  lastSent,
  lib,
  open,
  setup,
  snapshot,
  spinResult,
} from "./helpers/harness.mjs";

test("join resolves with the snapshot payload; replies are matched by rid, in any order", async () => {
  const h = setup();
  const ws = await open(h);
  const snap = await join(h, "demo", { seq: 42, epoch: "ep" });
  assert.equal(snap.seq, 42);
  assert.equal(snap.you.player_id, "p1");
  const b1 = h.client.balance("demo");
  const b2 = h.client.balance("demo");
  const [r1, r2] = ws.sentOf("balance.get").map((m) => m.rid);
  assert.notEqual(r1, r2);
  ws.receive(balanceFrame(r2, "demo", 2));
  ws.receive(balanceFrame(r1, "demo", 1));
  assert.equal((await b1).balance, 1);
  assert.equal((await b2).balance, 2);
  assert.deepEqual(h.client.room("demo"), { room: "demo", lastSeq: 42, epoch: "ep", snapshot: snap });
});

test("a request with no reply rejects with RequestTimeoutError after requestTimeoutMs", async () => {
  const h = setup({ requestTimeoutMs: 5000 });
  await open(h);
  let settled = null;
  h.client.balance("demo").then(
    () => (settled = "resolved"),
    (error) => (settled = error),
  );
  h.clock.advance(4999);
  await flush();
  assert.equal(settled, null);
  h.clock.advance(1);
  await flush();
  assert.ok(settled instanceof lib.RequestTimeoutError, String(settled));
  assert.equal(settled.sent, true);
  assert.equal(settled.requestType, "balance.get");
});

test("a late reply after the timeout is ignored", async () => {
  const h = setup({ requestTimeoutMs: 100 });
  const ws = await open(h);
  const pending = h.client.balance("demo");
  const { rid } = lastSent(ws, "balance.get");
  h.clock.advance(100);
  await assert.rejects(pending, lib.RequestTimeoutError);
  ws.receive(balanceFrame(rid, "demo"));
  assert.equal(h.log.error.length, 0);
});

test("a spin with no reply rejects with SpinOutcomeUnknownError carrying its key", async () => {
  const h = setup({ requestTimeoutMs: 1000 });
  const ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  const sent = lastSent(ws, "spin");
  h.clock.advance(1000);
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.SpinOutcomeUnknownError);
  assert.equal(error.idempotencyKey, sent.idempotency_key);
  assert.equal(error.room, "demo");
  assert.equal(error.stake, 100);
  assert.ok(error.cause instanceof lib.RequestTimeoutError);
  assert.deepEqual(
    h.log.spinSettled.map((s) => [s.idempotencyKey, s.error?.name]),
    [[sent.idempotency_key, "SpinOutcomeUnknownError"]],
  );
});

test("an error frame replying to a request rejects it with ServerError(code, message, retryable)", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 5 });
  const sent = lastSent(ws, "spin");
  ws.receive(errorFrame(sent.rid, "STAKE_OUT_OF_RANGE", { message: "stake below 10", room: "demo" }));
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.ServerError);
  assert.deepEqual(
    [error.code, error.message, error.retryable, error.rid, error.room, error.idempotencyKey],
    ["STAKE_OUT_OF_RANGE", "STAKE_OUT_OF_RANGE: stake below 10", false, sent.rid, "demo", sent.idempotency_key],
  );
  const limited = h.client.balance("demo");
  ws.receive(errorFrame(lastSent(ws, "balance.get").rid, "RATE_LIMITED", { retryable: true }));
  const second = await limited.catch((e) => e);
  assert.equal(second.code, "RATE_LIMITED");
  assert.equal(second.retryable, true);
  assert.equal(h.log.error.length, 0, "a reply error is not an error event");
});

test("an error frame matching no request is an error event", async () => {
  const h = setup();
  const ws = await open(h);
  ws.receive(errorFrame(null, "BAD_MESSAGE"));
  ws.receive("not json at all");
  ws.receive(JSON.stringify([1, 2]));
  assert.equal(h.log.error.length, 3);
  assert.ok(h.log.error[0] instanceof lib.ServerError);
  assert.equal(h.log.error[0].code, "BAD_MESSAGE");
  assert.ok(h.log.error[1] instanceof lib.ProtocolError);
  assert.ok(h.log.error[2] instanceof lib.ProtocolError);
  assert.equal(h.client.state, "open");
});

test("spin sends stake and a fresh UUID key; an explicit key and client seed are used as given", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo");
  const first = h.client.spin("demo", { stake: 100 });
  const second = h.client.spin("demo", { stake: 100 });
  const again = h.client.spin("demo", { stake: 200, idempotencyKey: "retry-key-1", clientSeed: "seed" });
  const [a, b, c] = ws.sentOf("spin");
  assert.match(a.idempotency_key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a.idempotency_key, b.idempotency_key);
  assert.deepEqual(
    { type: c.type, room: c.room, stake: c.stake, idempotency_key: c.idempotency_key, client_seed: c.client_seed },
    { type: "spin", room: "demo", stake: 200, idempotency_key: "retry-key-1", client_seed: "seed" },
  );
  assert.equal(h.client.spinsInFlight, 3);
  ws.receive(spinResult(c.rid, "demo", { spinId: "s-9", win: 400, balance: 10_200 }));
  ws.receive(spinResult(a.rid, "demo"));
  ws.receive(spinResult(b.rid, "demo", { spinId: "s-2" }));
  assert.equal((await again).spin_id, "s-9");
  await Promise.all([first, second]);
  await flush();
  assert.equal(h.client.spinsInFlight, 0);
});

test("spinStarted and spinSettled: once per spin, with room, key, stake and result", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  const sent = lastSent(ws, "spin");
  assert.deepEqual(h.log.spinStarted, [{ room: "demo", idempotencyKey: sent.idempotency_key, stake: 100 }]);
  assert.equal(h.log.spinSettled.length, 0);
  ws.receive(spinResult(sent.rid, "demo", { win: 300, balance: 10_200 }));
  const result = await pending;
  assert.equal(h.log.spinSettled.length, 1);
  assert.deepEqual(h.log.spinSettled[0], { room: "demo", idempotencyKey: sent.idempotency_key, stake: 100, result });
});

test("spin validates its stake and key before sending", async () => {
  const h = setup();
  const ws = await open(h);
  await assert.rejects(h.client.spin("demo", { stake: 0 }), RangeError);
  await assert.rejects(h.client.spin("demo", { stake: 1.5 }), RangeError);
  await assert.rejects(h.client.spin("demo", { stake: 10, idempotencyKey: "x".repeat(129) }), RangeError);
  assert.equal(ws.sentOf("spin").length, 0);
});

test("requests made while connecting are queued and sent once open", async () => {
  const h = setup();
  const connected = h.client.connect();
  const pending = h.client.balance("demo");
  await flush();
  const ws = h.WS.last;
  assert.equal(ws.sent.length, 0);
  ws.open();
  await connected;
  await flush();
  const sent = lastSent(ws, "balance.get");
  ws.receive(balanceFrame(sent.rid, "demo", 5));
  assert.equal((await pending).balance, 5);
});

test("a request waiting for a connection longer than queueTimeoutMs fails as not sent", async () => {
  const h = setup({ queueTimeoutMs: 3000 });
  h.client.connect().catch(() => {});
  const pending = h.client.balance("demo");
  h.clock.advance(3000);
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.RequestTimeoutError);
  assert.equal(error.sent, false);
});

test("requests before connect() reject at once", async () => {
  const h = setup();
  await assert.rejects(h.client.balance("demo"), (e) => e instanceof lib.ConnectionClosedError && e.reason === "not-connected");
});

test("leave removes the room record and the rejoin list", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo");
  await join(h, "other");
  assert.deepEqual(h.client.rooms(), ["demo", "other"]);
  const left = h.client.leave("demo");
  ws.receive({ type: "room.left", rid: lastSent(ws, "room.leave").rid, room: "demo", ts: "t" });
  await left;
  assert.equal(h.client.room("demo"), undefined);
  assert.deepEqual(h.client.rooms(), ["other"]);
});

test("ping resolves with the round-trip time", async () => {
  const h = setup();
  const ws = await open(h);
  const pending = h.client.ping();
  const sent = lastSent(ws, "ping");
  assert.equal(sent.t, 0);
  h.clock.advance(42);
  ws.receive({ type: "pong", rid: sent.rid, ts: "t", payload: { t: sent.t } });
  assert.equal(await pending, 42);
});

test("events: leaderboard, presence, tournament, realityCheck, balance pushes", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo", { seq: 1 });
  ws.receive({ type: "leaderboard.updated", room: "demo", seq: 2, ts: "t", payload: { entries: [], changed: [] } });
  ws.receive({ type: "room.player.connected", room: "demo", seq: 3, ts: "t", payload: { players_online: 2 } });
  ws.receive({ type: "room.player.disconnected", room: "demo", seq: 4, ts: "t", payload: { players_online: 1 } });
  ws.receive({ type: "room.tournament.started", room: "demo", seq: 5, ts: "t", payload: { status: "running", server_seed_hash: "h" } });
  ws.receive({ type: "rg.reality_check", ts: "t", payload: { session_s: 3600, net_result: -500, currency: "EUR" } });
  ws.receive(balanceFrame(null, "demo", 9));
  assert.deepEqual(h.log.leaderboard.map((f) => f.seq), [2]);
  assert.deepEqual(h.log.presence.map((f) => f.type), ["room.player.connected", "room.player.disconnected"]);
  assert.deepEqual(h.log.tournament.map((f) => f.payload.status), ["running"]);
  assert.deepEqual(h.log.realityCheck.map((f) => f.payload.session_s), [3600]);
  assert.deepEqual(h.log.balance.map((f) => f.payload.balance), [9]);
  assert.equal(h.log.frame.length, 7); // the snapshot and the six above
  assert.equal(h.log.gap.length, 0);
});

test("a handler that throws does not break the client", async () => {
  const h = setup();
  const ws = await open(h);
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    h.client.on("frame", () => {
      throw new Error("app bug");
    });
    const joined = h.client.join("demo");
    ws.receive(snapshot("demo", { rid: lastSent(ws, "room.join").rid }));
    assert.equal((await joined).seq, 10);
  } finally {
    if (saved === undefined) delete globalThis.reportError;
    else globalThis.reportError = saved;
  }
  assert.equal(reported.length, 1);
});
