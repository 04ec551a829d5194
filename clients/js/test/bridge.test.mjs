// The iframe bridge: pinned origins, dropped messages, the frame allow-list, tokens, pause.
import assert from "node:assert/strict";
import { test } from "node:test";
import { embed, FakeClock } from "./helpers/fakes.mjs";
import { flush, join, lastSent, lib, open, setup, spinResult } from "./helpers/harness.mjs";

const HOST = "http://localhost:8090";
const GAME = "http://127.0.0.1:8091";

/** A casino page and a game iframe, each with its side of the bridge, and what each received. */
function pair({ getToken = async (reason) => `jwt-${reason}` } = {}) {
  const sides = embed(HOST, GAME);
  const clock = new FakeClock();
  const bridge = new lib.GameBridge({ hostOrigin: HOST, gameId: "slot-classic", window: sides.game, parent: sides.parent, clock });
  const host = new lib.CasinoHost({
    iframe: sides.iframe,
    gameOrigin: GAME,
    casinoId: "casino-1",
    locale: "en-GB",
    currency: "EUR",
    getToken,
    window: sides.host,
  });
  const got = { host: [], game: [] };
  for (const name of ["hello", "ready", "frame", "state", "roundStarted", "roundEnded", "busy", "idle", "cashier", "closeRequest", "gameError", "tokenError"]) {
    host.on(name, (value) => got.host.push([name, value]));
  }
  for (const name of ["pause", "resume", "balanceRefresh", "audio", "rgAck", "close", "hostHello"]) {
    bridge.on(name, (value) => got.game.push([name, value]));
  }
  return { hostWin: sides.host, gameWin: sides.game, parent: sides.parent, iframe: sides.iframe, clock, bridge, host, got };
}

/** Every postMessage either side made, with its targetOrigin. */
function allPosts(p) {
  return [...p.gameWin.posts, ...p.hostWin.posts];
}

test("constructors throw on '*' and malformed origins", () => {
  const sides = embed();
  const bad = ["*", "null", "", "localhost:8090", "http://localhost:8090/", "http://localhost:8090/game", "ftp://x.example", "not a url", undefined];
  for (const origin of bad) {
    assert.throws(() => new lib.GameBridge({ hostOrigin: origin, gameId: "g", window: sides.game, parent: sides.parent }), TypeError, String(origin));
    assert.throws(
      () => new lib.CasinoHost({ iframe: sides.iframe, gameOrigin: origin, casinoId: "c", locale: "en", currency: "EUR", getToken: () => "t", window: sides.host }),
      TypeError,
      String(origin),
    );
  }
  assert.doesNotThrow(() => new lib.GameBridge({ hostOrigin: "https://casino.example", gameId: "g", window: sides.game, parent: sides.parent }));
});

test("hello: game.hello -> host.hello; every message names the other side's exact origin", async () => {
  const p = pair();
  const hello = await p.bridge.hello();
  assert.deepEqual(hello, { casino_id: "casino-1", locale: "en-GB", currency: "EUR" });
  assert.deepEqual(p.got.host[0], ["hello", { game_id: "slot-classic", sdk_version: lib.version }]);
  assert.deepEqual(p.got.game[0], ["hostHello", hello]);
  const posts = allPosts(p);
  assert.ok(posts.length >= 2);
  for (const { targetOrigin } of p.gameWin.posts) assert.equal(targetOrigin, HOST);
  for (const { targetOrigin } of p.hostWin.posts) assert.equal(targetOrigin, GAME);
  for (const { message } of posts) assert.deepEqual([message.ns, message.v], ["roomserver", 1]);
});

test("token request/response: the host's getToken answers the game", async () => {
  const reasons = [];
  const p = pair({
    getToken: async (reason) => {
      reasons.push(reason);
      return `jwt-${reasons.length}`;
    },
  });
  assert.equal(await p.bridge.requestToken("initial"), "jwt-1");
  assert.equal(await p.bridge.requestToken("expired"), "jwt-2");
  assert.deepEqual(reasons, ["initial", "expired"]);
  const requests = p.gameWin.posts.map((x) => x.message).filter((m) => m.type === "token.request");
  assert.deepEqual(requests.map((m) => m.reason), ["initial", "expired"]);
});

test("a token request the host does not answer times out", async () => {
  const p = pair({
    getToken: async () => {
      throw new Error("no session");
    },
  });
  const pending = p.bridge.requestToken("initial");
  await flush();
  assert.equal(p.got.host.filter(([name]) => name === "tokenError").length, 1);
  p.clock.advance(10_000);
  await assert.rejects(pending, lib.BridgeTimeoutError);
});

test("the game drops messages of the wrong origin, the wrong source, or a wrong envelope, without throwing", () => {
  const p = pair();
  const good = { ns: "roomserver", v: 1, type: "audio.set", muted: true };
  const deliver = (event) => p.gameWin.dispatch(event);
  deliver({ data: good, origin: "http://evil.example", source: p.parent });
  deliver({ data: good, origin: HOST, source: {} });
  deliver({ data: good, origin: HOST, source: null });
  deliver({ data: { ...good, ns: "other" }, origin: HOST, source: p.parent });
  deliver({ data: { ...good, v: 2 }, origin: HOST, source: p.parent });
  deliver({ data: { ...good, type: 7 }, origin: HOST, source: p.parent });
  deliver({ data: { ns: "roomserver", v: 1, type: "no.such.type" }, origin: HOST, source: p.parent });
  for (const data of [null, undefined, "string", 42, [], JSON.stringify(good)]) deliver({ data, origin: HOST, source: p.parent });
  assert.doesNotThrow(() => deliver(null));
  assert.doesNotThrow(() => deliver(undefined));
  assert.deepEqual(p.got.game, []);
  deliver({ data: good, origin: HOST, source: p.parent });
  assert.deepEqual(p.got.game, [["audio", { muted: true }]]);
});

test("the host drops messages of the wrong origin, the wrong source, or a wrong envelope", () => {
  const p = pair();
  const good = { ns: "roomserver", v: 1, type: "cashier.request", currency: "EUR" };
  const deliver = (event) => p.hostWin.dispatch(event);
  deliver({ data: good, origin: "http://evil.example", source: p.iframe.contentWindow });
  deliver({ data: good, origin: GAME, source: {} });
  deliver({ data: { ...good, ns: "x" }, origin: GAME, source: p.iframe.contentWindow });
  deliver({ data: { ...good, v: "1" }, origin: GAME, source: p.iframe.contentWindow });
  assert.doesNotThrow(() => deliver({}));
  assert.deepEqual(p.got.host, []);
  deliver({ data: good, origin: GAME, source: p.iframe.contentWindow });
  assert.deepEqual(p.got.host, [["cashier", { currency: "EUR" }]]);
});

test("a message posted with the wrong targetOrigin never arrives (the fake window acts like a browser)", () => {
  const p = pair();
  p.parent.postMessage({ ns: "roomserver", v: 1, type: "close.request" }, "http://other.example");
  assert.deepEqual(p.got.host, []);
});

test("attach: only allow-listed server frames are forwarded, unchanged", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  const frames = [
    { type: "room.snapshot", rid: "c-x", room: "demo", ts: "t", payload: { seq: 1, you: { player_id: "p1" } } },
    { type: "leaderboard.updated", room: "demo", seq: 2, ts: "t", payload: { entries: [["p1", "P", 5, 1]], changed: [] } },
    { type: "room.player.connected", room: "demo", seq: 3, ts: "t", payload: { players_online: 2 } },
    { type: "room.player.disconnected", room: "demo", seq: 4, ts: "t", payload: { players_online: 1 } },
    { type: "room.tournament.started", room: "demo", seq: 5, ts: "t", payload: { status: "running" } },
    { type: "room.tournament.completed", room: "demo", seq: 6, ts: "t", payload: { status: "completed" } },
    { type: "player.score.updated", room: "demo", ts: "t", payload: { score: 1, rank: 1 } },
    { type: "balance", room: "demo", ts: "t", payload: { balance: 5, currency: "EUR" } },
    { type: "rg.reality_check", ts: "t", payload: { session_s: 1, net_result: 0, currency: "EUR" } },
    { type: "server.draining", ts: "t", payload: { reconnect_after_ms: 1000 } },
    { type: "room.resumed", room: "demo", ts: "t", payload: { seq: 6, replayed: 0 } },
    { type: "spin.result", rid: "c-y", room: "demo", ts: "t", payload: { spin_id: "s" } },
  ];
  const notForwarded = [
    { type: "error", ts: "t", payload: { code: "BAD_MESSAGE", message: "m", retryable: false } },
    { type: "pong", ts: "t" },
    { type: "room.left", room: "demo", ts: "t" },
    { type: "some.future.type", ts: "t" },
  ];
  for (const frame of [...notForwarded, ...frames]) ws.receive(frame);
  const forwarded = p.got.host.filter(([name]) => name === "frame").map(([, frame]) => frame);
  assert.deepEqual(forwarded, frames);
  const raw = p.gameWin.posts.map((x) => x.message).filter((m) => m.type === "frame");
  assert.deepEqual(raw[0], { ns: "roomserver", v: 1, type: "frame", frame: frames[0] });
  assert.equal(lib.FORWARDED_FRAME_TYPES.size, 12);
});

test("the host ignores forwarded frames outside the allow-list", () => {
  const p = pair();
  p.parent.postMessage({ ns: "roomserver", v: 1, type: "frame", frame: { type: "error", payload: {} } }, HOST);
  p.parent.postMessage({ ns: "roomserver", v: 1, type: "frame", frame: "x" }, HOST);
  assert.deepEqual(p.got.host, []);
});

test("attach: connection.state, round.started/ended and game.busy/idle around a spin", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");
  const pending = h.client.spin("demo", { stake: 100 });
  const sent = lastSent(ws, "spin");
  assert.equal(p.host.busy, true);
  ws.receive(spinResult(sent.rid, "demo", { spinId: "s-7", win: 200, balance: 10_100 }));
  await pending;
  await flush();
  const names = p.got.host.map(([name]) => name).filter((n) => n !== "frame");
  assert.deepEqual(names, ["state", "state", "busy", "roundStarted", "roundEnded", "idle"]);
  assert.deepEqual(p.got.host.filter(([n]) => n === "state").map(([, s]) => s.state), ["connecting", "open"]);
  assert.deepEqual(p.got.host.find(([n]) => n === "roundEnded")[1], {
    room: "demo",
    idempotency_key: sent.idempotency_key,
    spin_id: "s-7",
    win: 200,
    balance: 10_100,
  });
  assert.equal(p.host.busy, false);
});

test("game.pause waits while a spin is in flight and applies at game.idle; resume likewise", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");

  const spin = h.client.spin("demo", { stake: 100 });
  p.host.pause("reality-check");
  assert.deepEqual(p.got.game, [], "not applied mid-spin");
  assert.equal(p.bridge.paused, false);
  ws.receive(spinResult(lastSent(ws, "spin").rid, "demo"));
  await spin;
  await flush();
  assert.deepEqual(p.got.game, [["pause", { reason: "reality-check" }]]);
  assert.equal(p.bridge.paused, true);
  const posts = p.gameWin.posts.map((x) => x.message.type);
  assert.ok(posts.indexOf("game.idle") > posts.indexOf("round.ended"));

  const second = h.client.spin("demo", { stake: 100 });
  p.host.resume("ack");
  assert.equal(p.got.game.length, 1);
  ws.receive(spinResult(lastSent(ws, "spin").rid, "demo", { spinId: "s-2" }));
  await second;
  await flush();
  assert.deepEqual(p.got.game.at(-1), ["resume", { reason: "ack" }]);

  p.host.pause("cashier"); // no spin in flight: at once
  assert.deepEqual(p.got.game.at(-1), ["pause", { reason: "cashier" }]);
});

test("a pause and a resume both during one spin cancel out", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");
  const spin = h.client.spin("demo", { stake: 100 });
  p.host.pause("a");
  p.host.resume("b");
  ws.receive(spinResult(lastSent(ws, "spin").rid, "demo"));
  await spin;
  await flush();
  assert.deepEqual(p.got.game, []);
});

test("a failed spin also ends the round and goes idle", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");
  const spin = h.client.spin("demo", { stake: 100 });
  p.host.pause("x");
  const sent = lastSent(ws, "spin");
  ws.receive({ type: "error", rid: sent.rid, ts: "t", payload: { code: "INSUFFICIENT_FUNDS", message: "m", retryable: false } });
  await spin.catch(() => {});
  await flush();
  assert.deepEqual(p.got.host.find(([n]) => n === "roundEnded")[1], {
    room: "demo",
    idempotency_key: sent.idempotency_key,
    error: "INSUFFICIENT_FUNDS",
  });
  assert.deepEqual(p.got.game, [["pause", { reason: "x" }]]);
});

test("balance.refresh asks the attached client for the balance of its rooms", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");
  p.host.refreshBalance();
  await flush();
  assert.deepEqual(p.got.game, [["balanceRefresh", {}]]);
  assert.deepEqual(ws.sentOf("balance.get").map((m) => m.room), ["demo"]);
});

test("game.close leaves the rooms and closes the client; audio and rg.ack reach the game", async () => {
  const p = pair();
  const h = setup();
  p.bridge.attach(h.client);
  const ws = await open(h);
  await join(h, "demo");
  p.host.setMuted(true);
  p.host.ackRealityCheck("session");
  p.host.closeGame();
  await flush();
  assert.deepEqual(p.got.game, [["audio", { muted: true }], ["rgAck", { kind: "session" }], ["close", {}]]);
  const leave = lastSent(ws, "room.leave");
  ws.receive({ type: "room.left", rid: leave.rid, room: "demo", ts: "t" });
  await flush();
  assert.equal(h.client.state, "closed");
});

test("game -> host: ready, cashier, close.request, game.error", () => {
  const p = pair();
  p.bridge.ready("demo", "p_demo_1");
  p.bridge.cashier("EUR");
  p.bridge.requestClose();
  p.bridge.error("FATAL", "the reels broke");
  assert.deepEqual(p.got.host, [
    ["ready", { room: "demo", player_id: "p_demo_1" }],
    ["cashier", { currency: "EUR" }],
    ["closeRequest", {}],
    ["gameError", { code: "FATAL", message: "the reels broke" }],
  ]);
});

test("dispose: no more messages either way; pending requests reject", async () => {
  const p = pair();
  const pending = p.bridge.requestToken("initial");
  p.bridge.dispose();
  await assert.rejects(pending, lib.BridgeDisposedError);
  p.host.setMuted(true);
  assert.deepEqual(p.got.game, []);
  p.host.dispose();
  p.parent.postMessage({ ns: "roomserver", v: 1, type: "close.request" }, HOST);
  assert.deepEqual(p.got.host.filter(([n]) => n === "closeRequest"), []);
});

test("no postMessage in any test of this file used '*'", () => {
  // Each pair() records its posts; this checks a full exchange in one place.
  const p = pair();
  p.bridge.hello();
  p.bridge.ready("demo", "p");
  p.host.pause("x");
  p.host.refreshBalance();
  const posts = allPosts(p);
  assert.ok(posts.length >= 5);
  assert.ok(posts.every(({ targetOrigin }) => targetOrigin !== "*" && (targetOrigin === HOST || targetOrigin === GAME)));
});
