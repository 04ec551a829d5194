// The close policy as the client applies it: reconnect delays, tokens, and stopping.
import assert from "node:assert/strict";
import { test } from "node:test";
import { balanceFrame, draining, flush, join, lastSent, lib, open, setup, snapshot, URL_BASE } from "./helpers/harness.mjs";

test("connects with ?token= and offers roomserver.v1; the URL keeps its path", async () => {
  const h = setup();
  const ws = await open(h);
  const url = new URL(ws.url);
  assert.equal(`${url.protocol}//${url.host}${url.pathname}`, URL_BASE);
  assert.equal(ws.token, "tok-1");
  assert.deepEqual(ws.protocols, ["roomserver.v1"]);
  assert.deepEqual(h.tokenCalls, ["initial"]);
  assert.equal(h.client.state, "open");
  assert.deepEqual(
    h.log.state.map((s) => [s.previous, s.state, s.reason]),
    [
      ["idle", "connecting", "connect"],
      ["connecting", "open", "connected"],
    ],
  );
});

test("4001: a new token, then reconnect at once", async () => {
  const h = setup();
  const ws = await open(h);
  ws.serverClose(4001, "token expired");
  assert.equal(h.client.state, "reconnecting");
  assert.equal(h.log.state.at(-1).reason, "token-expired");
  assert.equal(h.log.state.at(-1).code, 4001);
  await flush(); // no clock advance: at once
  assert.deepEqual(h.tokenCalls, ["initial", "expired"]);
  assert.equal(h.WS.instances.length, 2);
  assert.equal(h.WS.last.token, "tok-2");
  h.WS.last.open();
  assert.equal(h.client.state, "open");
  assert.equal(h.log.state.at(-1).reason, "reconnected");
});

test("a second 4001 before the connection was stable backs off instead of looping", async () => {
  const h = setup();
  await open(h);
  h.WS.last.serverClose(4001);
  await flush();
  h.WS.last.open();
  h.WS.last.serverClose(4001);
  await flush();
  assert.equal(h.WS.instances.length, 2, "no immediate third socket");
  assert.deepEqual(h.tokenCalls, ["initial", "expired", "expired"].slice(0, 2));
  h.clock.advance(50); // backoff: 0.5 * 100
  await flush();
  assert.equal(h.WS.instances.length, 3);
  assert.deepEqual(h.tokenCalls, ["initial", "expired", "expired"]);
});

for (const [code, reason] of [
  [4003, "forbidden"],
  [4009, "replaced"],
  [1008, "policy-violation"],
  [1009, "message-too-big"],
]) {
  test(`${code}: stop, tell the app, never reconnect`, async () => {
    const h = setup();
    await open(h);
    const pending = h.client.balance("demo");
    h.WS.last.serverClose(code, "bye");
    assert.equal(h.client.state, "closed");
    const last = h.log.state.at(-1);
    assert.deepEqual([last.state, last.reason, last.code], ["closed", reason, code]);
    assert.equal(h.log.error.length, 1);
    assert.ok(h.log.error[0] instanceof lib.ConnectionClosedError);
    assert.equal(h.log.error[0].code, code);
    assert.equal(h.log.error[0].fatal, true);
    await assert.rejects(pending, (error) => error instanceof lib.ConnectionClosedError && error.code === code);
    h.clock.advance(10 * 60_000);
    await flush();
    assert.equal(h.WS.instances.length, 1, "no reconnect");
    assert.deepEqual(h.tokenCalls, ["initial"]);
    await assert.rejects(h.client.balance("demo"), lib.ConnectionClosedError);
  });
}

for (const code of [1013, 1006, 1011]) {
  test(`${code}: reconnect after a full-jitter backoff, same token`, async () => {
    const h = setup();
    await open(h);
    h.WS.last.serverClose(code);
    assert.equal(h.client.state, "reconnecting");
    assert.equal(h.log.state.at(-1).code, code);
    assert.deepEqual(h.clock.pendingDelays(), [50]); // 0.5 * min(1000, 100 * 2^0)
    h.clock.advance(49);
    await flush();
    assert.equal(h.WS.instances.length, 1);
    h.clock.advance(1);
    await flush();
    assert.equal(h.WS.instances.length, 2);
    assert.equal(h.WS.last.token, "tok-1", "the token is reused");
    // A second drop right after: the next backoff step (attempt 1: 0.5 * 200).
    h.WS.last.open();
    h.WS.last.serverClose(code);
    assert.deepEqual(h.clock.pendingDelays(), [100]);
    assert.equal(h.log.error.length, 0);
  });
}

test("a connection open for stableAfterMs resets the backoff", async () => {
  const h = setup();
  await open(h);
  h.WS.last.serverClose(1006);
  h.clock.advance(50);
  await flush();
  h.WS.last.open();
  h.clock.advance(5_000);
  h.WS.last.serverClose(1006);
  assert.deepEqual(h.clock.pendingDelays(), [50], "back to attempt 0");
});

test("1012 after server.draining: hold new requests, wait reconnect_after_ms plus jitter, then send them", async () => {
  const h = setup({ drainJitterMs: 1000 });
  let ws = await open(h);
  await join(h, "demo");
  ws.receive(draining(3000));
  assert.equal(h.log.draining.length, 1);
  const held = h.client.balance("demo");
  await flush();
  assert.equal(ws.sentOf("balance.get").length, 0, "held while draining");
  ws.serverClose(1012, "server restarting");
  assert.equal(h.log.state.at(-1).reason, "server-restart");
  assert.deepEqual(h.clock.pendingDelays(), [3500, 30_000]); // 3000 + 0.5 * 1000; the queue timeout
  h.clock.advance(3499);
  await flush();
  assert.equal(h.WS.instances.length, 1);
  h.clock.advance(1);
  await flush();
  assert.equal(h.WS.instances.length, 2);
  ws = h.WS.last;
  ws.open();
  const rejoin = lastSent(ws, "room.join");
  assert.equal(ws.sentOf("balance.get").length, 0, "queued requests wait for the rejoin");
  ws.receive(snapshot("demo", { rid: rejoin.rid, seq: 10 }));
  await flush();
  const request = lastSent(ws, "balance.get");
  ws.receive(balanceFrame(request.rid, "demo", 1234));
  assert.deepEqual(await held, { balance: 1234, currency: "EUR" });
});

test("1012 without server.draining waits drainDelayMs plus jitter", async () => {
  const h = setup({ drainDelayMs: 2000, drainJitterMs: 400 });
  await open(h);
  h.WS.last.serverClose(1012);
  assert.deepEqual(h.clock.pendingDelays(), [2200]);
});

test("a DRAINING reply holds the request and resends it after the reconnect", async () => {
  const h = setup();
  let ws = await open(h);
  const pending = h.client.balance("demo");
  const first = lastSent(ws, "balance.get");
  ws.receive({ type: "error", rid: first.rid, ts: "t", payload: { code: "DRAINING", message: "draining", retryable: true } });
  await flush();
  ws.serverClose(1012);
  h.clock.advance(1500);
  await flush();
  ws = h.WS.last;
  ws.open();
  await flush();
  const again = lastSent(ws, "balance.get");
  assert.equal(again.rid, first.rid);
  ws.receive(balanceFrame(again.rid, "demo", 77));
  assert.equal((await pending).balance, 77);
});

test("a close before open: fetch a new token once, then back off", async () => {
  const h = setup();
  const connected = h.client.connect();
  await flush();
  h.WS.last.fail(); // a browser sees a refused upgrade (401/403) as 1006 before open
  assert.equal(h.client.state, "reconnecting");
  assert.equal(h.log.state.at(-1).reason, "connect-failed");
  assert.deepEqual(h.clock.pendingDelays().slice(-1), [50]);
  await flush();
  assert.equal(h.WS.instances.length, 1, "backs off, does not retry at once");
  h.clock.advance(50);
  await flush();
  assert.deepEqual(h.tokenCalls, ["initial", "expired"]);
  assert.equal(h.WS.last.token, "tok-2");
  h.WS.last.fail();
  assert.deepEqual(h.clock.pendingDelays().slice(-1), [100]);
  h.clock.advance(100);
  await flush();
  assert.deepEqual(h.tokenCalls, ["initial", "expired"], "only once per failure streak");
  assert.equal(h.WS.instances.length, 3);
  h.WS.last.open();
  await connected;
  assert.equal(h.client.state, "open");
});

test("an opening handshake that never completes times out like a close before open", async () => {
  const h = setup({ connectTimeoutMs: 2000 });
  h.client.connect().catch(() => {});
  await flush();
  h.clock.advance(1999);
  assert.equal(h.client.state, "connecting");
  h.clock.advance(1);
  assert.equal(h.client.state, "reconnecting");
  assert.deepEqual(h.WS.instances[0].closedByClient?.code, 4000);
});

test("getToken failing is an error event and a backoff, not a crash", async () => {
  let calls = 0;
  const h = setup({
    getToken: async () => {
      calls += 1;
      if (calls === 1) throw new Error("casino down");
      return "tok-ok";
    },
  });
  const connected = h.client.connect();
  await flush();
  assert.equal(h.log.error.length, 1);
  assert.ok(h.log.error[0] instanceof lib.TokenError);
  assert.equal(h.WS.instances.length, 0);
  h.clock.advance(50);
  await flush();
  h.WS.last.open();
  await connected;
  assert.equal(h.WS.last.token, "tok-ok");
});

test("maxAttempts: give up after that many consecutive failures", async () => {
  const h = setup({ maxAttempts: 2 });
  const connected = h.client.connect();
  await flush();
  h.WS.last.fail();
  h.clock.advance(1000);
  await flush();
  h.WS.last.fail();
  assert.equal(h.client.state, "closed");
  assert.equal(h.log.state.at(-1).reason, "gave-up");
  await assert.rejects(connected, lib.ConnectionClosedError);
});

test("close(): closes the socket with 1000, rejects pending requests, no reconnect", async () => {
  const h = setup();
  const ws = await open(h);
  const pending = h.client.balance("demo");
  h.client.close();
  assert.deepEqual(ws.closedByClient, { code: 1000, reason: "client closed" });
  assert.equal(h.client.state, "closed");
  assert.equal(h.log.state.at(-1).reason, "closed");
  assert.equal(h.log.error.length, 0, "closing is not an error");
  await assert.rejects(pending, (error) => error instanceof lib.ConnectionClosedError && error.fatal === false);
  ws.serverClose(1000); // late close event of the old socket: ignored
  h.clock.advance(60_000);
  await flush();
  assert.equal(h.WS.instances.length, 1);
});

test("no log line ever carries the token", async () => {
  const lines = [];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info, debug: console.debug };
  for (const name of Object.keys(saved)) console[name] = (...args) => lines.push(args.map(String).join(" "));
  try {
    const h = setup({ getToken: async () => "secret-token-value" });
    await open(h);
    h.WS.last.receive("not json");
    h.WS.last.serverClose(4003);
    await flush();
  } finally {
    Object.assign(console, saved);
  }
  assert.ok(lines.every((line) => !line.includes("secret-token-value")), lines.join("\n"));
});
