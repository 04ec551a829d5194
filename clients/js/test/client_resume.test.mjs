// Reconnect and resume: rejoin with since_seq/since_epoch, duplicates, gaps, fresh snapshots,
// and a spin resent with the same idempotency key after a drop.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  errorFrame,
  flush,
  join,
  lastSent,
  leaderboard,
  lib,
  open,
  presence,
  resumed,
  setup,
  snapshot,
  spinResult,
} from "./helpers/harness.mjs";

/** Drop the socket (1006) and let the client reconnect; returns the new, open socket. */
async function dropAndReconnect(h) {
  h.WS.last.serverClose(1006);
  h.clock.advance(1000);
  await flush();
  const ws = h.WS.last;
  ws.open();
  await flush();
  return ws;
}

test("after a reconnect every joined room is rejoined with since_seq and since_epoch", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo", { seq: 10, epoch: "e1" });
  await join(h, "side", { seq: 3, epoch: "e7" });
  ws.receive(leaderboard("demo", 11));
  ws.receive(leaderboard("demo", 12));
  ws = await dropAndReconnect(h);
  const joins = ws.sentOf("room.join").map(({ rid, ...rest }) => rest);
  assert.deepEqual(joins, [
    { type: "room.join", room: "demo", since_seq: 12, since_epoch: "e1" },
    { type: "room.join", room: "side", since_seq: 3, since_epoch: "e7" },
  ]);
  assert.equal(ws.sent.length, 2, "nothing but the rejoins before they are answered");
});

test("the spin in flight at a drop is resent after the rejoin, with the same idempotency key", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo", { seq: 10 });
  const pending = h.client.spin("demo", { stake: 100 });
  const first = lastSent(ws, "spin");
  ws = await dropAndReconnect(h);
  assert.equal(ws.sentOf("spin").length, 0, "not before the room is rejoined");
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 10, replayed: 0 }));
  await flush();
  const again = lastSent(ws, "spin");
  assert.equal(again.idempotency_key, first.idempotency_key);
  assert.equal(again.stake, 100);
  assert.equal(again.room, "demo");
  ws.receive(spinResult(again.rid, "demo", { spinId: "s-once" }));
  assert.equal((await pending).spin_id, "s-once");
  assert.equal(h.log.spinStarted.length, 1);
  assert.equal(h.log.spinSettled.length, 1);
});

test("a spin whose resends run out rejects with SpinOutcomeUnknownError and the key to retry with", async () => {
  const h = setup({ maxResends: 1 });
  let ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  const key = lastSent(ws, "spin").idempotency_key;
  pending.catch(() => {});
  ws = await dropAndReconnect(h);
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 10 }));
  await flush();
  assert.equal(lastSent(ws, "spin").idempotency_key, key);
  ws.serverClose(1006); // the resend is lost too
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.SpinOutcomeUnknownError);
  assert.equal(error.idempotencyKey, key);
  assert.ok(error.cause instanceof lib.ConnectionLostError);
  // The app retries later with the same key.
  h.clock.advance(1000);
  await flush();
  ws = h.WS.last;
  ws.open();
  await flush();
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 10 }));
  const retry = h.client.spin("demo", { stake: 100, idempotencyKey: error.idempotencyKey });
  await flush();
  assert.equal(lastSent(ws, "spin").idempotency_key, key);
  ws.receive(spinResult(lastSent(ws, "spin").rid, "demo"));
  assert.equal((await retry).spin_id, "s-1");
});

test("a spin queued but never sent fails as a plain error when the client closes (not outcome-unknown)", async () => {
  const h = setup();
  h.client.connect().catch(() => {});
  const pending = h.client.spin("demo", { stake: 100 });
  h.client.close();
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.ConnectionClosedError);
});

test("a spin in flight when the client stops for good is outcome-unknown", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  ws.serverClose(4003);
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.SpinOutcomeUnknownError);
  assert.ok(error.cause instanceof lib.ConnectionClosedError);
});

test("room.resumed: the replayed frames follow; those already seen are dropped as duplicates", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo", { seq: 10 });
  ws.receive(leaderboard("demo", 11));
  ws.receive(leaderboard("demo", 12));
  ws = await dropAndReconnect(h);
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 14, replayed: 2 }));
  ws.receive(leaderboard("demo", 13));
  ws.receive(presence("demo", 14));
  ws.receive(leaderboard("demo", 12)); // a duplicate
  ws.receive(presence("demo", 14)); // a duplicate
  ws.receive(leaderboard("demo", 15));
  assert.deepEqual(h.log.leaderboard.map((f) => f.seq), [11, 12, 13, 15]);
  assert.deepEqual(h.log.presence.map((f) => f.seq), [14]);
  assert.equal(h.log.frame.filter((f) => f.seq !== undefined).length, 5, "duplicates never reach `frame`");
  assert.equal(h.log.gap.length, 0);
  assert.equal(h.client.room("demo").lastSeq, 15);
  const last = h.log.snapshot.at(-1);
  assert.deepEqual([last.kind, last.recovered, last.rejoin], ["resumed", true, true]);
});

test("a skipped seq emits `gap` and the frame is still delivered", async () => {
  const h = setup();
  const ws = await open(h);
  await join(h, "demo", { seq: 10, epoch: "e1" });
  ws.receive(leaderboard("demo", 11));
  ws.receive(leaderboard("demo", 14));
  ws.receive(leaderboard("demo", 15));
  assert.deepEqual(h.log.gap, [{ room: "demo", expected: 12, got: 14, epoch: "e1" }]);
  assert.deepEqual(h.log.leaderboard.map((f) => f.seq), [11, 14, 15]);
});

test("a snapshot with recovered:false resets the seq baseline: a fresh snapshot, no gap", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo", { seq: 500, epoch: "old" });
  ws.receive(leaderboard("demo", 501));
  ws = await dropAndReconnect(h);
  const rejoin = lastSent(ws, "room.join");
  assert.deepEqual([rejoin.since_seq, rejoin.since_epoch], [501, "old"]);
  // The stream lost its history (new epoch); its seq is now below ours.
  ws.receive(snapshot("demo", { rid: rejoin.rid, seq: 7, epoch: "new", recovered: false }));
  ws.receive(leaderboard("demo", 8)); // would be a "duplicate" against the old baseline
  ws.receive(leaderboard("demo", 9));
  assert.deepEqual(h.log.leaderboard.map((f) => f.seq), [501, 8, 9]);
  assert.equal(h.log.gap.length, 0);
  const fresh = h.log.snapshot.at(-1);
  assert.deepEqual([fresh.kind, fresh.recovered, fresh.rejoin, fresh.payload.seq], ["snapshot", false, true, 7]);
  assert.deepEqual(h.client.room("demo"), { room: "demo", lastSeq: 9, epoch: "new", snapshot: fresh.payload });
});

test("a recovered:false snapshot far ahead is not a gap either", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo", { seq: 10 });
  ws = await dropAndReconnect(h);
  ws.receive(snapshot("demo", { rid: lastSent(ws, "room.join").rid, seq: 900, recovered: false }));
  ws.receive(leaderboard("demo", 901));
  assert.equal(h.log.gap.length, 0);
  assert.deepEqual(h.log.leaderboard.map((f) => f.seq), [901]);
});

test("a left room is not rejoined; a leave in flight at a drop is over", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo");
  await join(h, "side");
  const leaving = h.client.leave("side");
  ws = await dropAndReconnect(h);
  await leaving;
  assert.deepEqual(ws.sentOf("room.join").map((m) => m.room), ["demo"]);
  assert.equal(ws.sentOf("room.leave").length, 0);
});

test("a rejoin refused by the server drops the room, reports it, and lets queued requests go", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo");
  await join(h, "gone");
  const pending = h.client.balance("demo");
  ws.serverClose(1011);
  h.clock.advance(1000);
  await flush();
  ws = h.WS.last;
  ws.open();
  const [demo, gone] = ws.sentOf("room.join");
  ws.receive(errorFrame(gone.rid, "NOT_FOUND", { room: "gone" }));
  ws.receive(resumed("demo", { rid: demo.rid, seq: 10 }));
  await flush();
  assert.deepEqual(h.client.rooms(), ["demo"]);
  assert.ok(h.log.error.some((e) => e instanceof lib.RejoinError && e.room === "gone"));
  ws.receive({ type: "balance", rid: lastSent(ws, "balance.get").rid, room: "demo", ts: "t", payload: { balance: 1, currency: "EUR" } });
  assert.equal((await pending).balance, 1);
});

test("a rejoin with no answer abandons the socket and backs off", async () => {
  const h = setup({ requestTimeoutMs: 2000 });
  let ws = await open(h);
  await join(h, "demo");
  ws = await dropAndReconnect(h);
  h.clock.advance(2000);
  await flush();
  assert.equal(h.client.state, "reconnecting");
  assert.equal(h.log.state.at(-1).reason, "rejoin-timeout");
  assert.equal(ws.closedByClient?.code, 4000);
  assert.ok(h.log.error.some((e) => e instanceof lib.RejoinError));
});

test("a resent spin refused before the idempotency lookup is still outcome-unknown", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  const key = lastSent(ws, "spin").idempotency_key;
  ws = await dropAndReconnect(h);
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 10 }));
  await flush();
  ws.receive(errorFrame(lastSent(ws, "spin").rid, "NOT_IN_ROOM", { room: "demo" }));
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.SpinOutcomeUnknownError);
  assert.equal(error.idempotencyKey, key);
  assert.equal(error.cause.code, "NOT_IN_ROOM");
});

test("a resent spin refused after the lookup (e.g. INSUFFICIENT_FUNDS) is a plain ServerError", async () => {
  const h = setup();
  let ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  ws = await dropAndReconnect(h);
  ws.receive(resumed("demo", { rid: lastSent(ws, "room.join").rid, seq: 10 }));
  await flush();
  ws.receive(errorFrame(lastSent(ws, "spin").rid, "INSUFFICIENT_FUNDS", { room: "demo" }));
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof lib.ServerError);
  assert.equal(error.code, "INSUFFICIENT_FUNDS");
});
