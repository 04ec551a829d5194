// A RoomClient wired to a fake WebSocket and a fake clock, and builders of server frames.
import { lib } from "./load.mjs";
import { FakeClock, fakeSocketClass, flush } from "./fakes.mjs";

export const URL_BASE = "ws://server.test:8765/ws";
const EVENTS = [
  "state", "frame", "snapshot", "leaderboard", "presence", "tournament", "realityCheck",
  "balance", "score", "draining", "gap", "error", "spinStarted", "spinSettled",
];

/** A client (random() = 0.5 unless given, backoff 100..1000 ms) and logs of its events. */
export function setup({ random = () => 0.5, getToken, ...options } = {}) {
  const clock = new FakeClock();
  const WS = fakeSocketClass();
  const tokenCalls = [];
  let issued = 0;
  const client = new lib.RoomClient({
    url: URL_BASE,
    getToken:
      getToken ??
      (async (reason) => {
        tokenCalls.push(reason);
        issued += 1;
        return `tok-${issued}`;
      }),
    WebSocket: WS,
    clock,
    random,
    backoff: { minMs: 100, maxMs: 1000 },
    ...options,
  });
  const log = Object.fromEntries(EVENTS.map((name) => [name, []]));
  for (const name of EVENTS) client.on(name, (value) => log[name].push(value));
  return { client, clock, WS, tokenCalls, log };
}

/** connect(), let the token resolve, open the socket. */
export async function open(h) {
  const connected = h.client.connect();
  await flush();
  h.WS.last.open();
  await connected;
  await flush();
  return h.WS.last;
}

/** The last message of `type` sent on `ws`. */
export function lastSent(ws, type) {
  const sent = ws.sentOf(type);
  if (!sent.length) throw new Error(`nothing of type ${type} sent; sent: ${JSON.stringify(ws.sent)}`);
  return sent[sent.length - 1];
}

/** join(room) answered with a snapshot at `seq` of `epoch`. */
export async function join(h, room, { seq = 10, epoch = "e1" } = {}) {
  const joined = h.client.join(room);
  await flush();
  const ws = h.WS.last;
  ws.receive(snapshot(room, { rid: lastSent(ws, "room.join").rid, seq, epoch }));
  return joined;
}

const TS = "2026-11-21T10:00:00.123Z";

function roomPayload(seq, epoch) {
  return {
    status: "running",
    config: {
      name: "Demo", kind: "hop_on_off", game_id: "fruit-3", currency: "EUR", buy_in: 0,
      starting_chips: 10000, min_stake: 10, max_stake: 1000, scoring: "total_win", leaderboard_size: 10,
    },
    server_seed_hash: "ab".repeat(32),
    you: { player_id: "p1", balance: 10000, score: 0, rank: 1 },
    leaderboard: [["p1", "Player 1", 0, 1]],
    players_online: 1,
    seq,
    epoch,
  };
}

export function snapshot(room, { rid = null, seq = 10, epoch = "e1", recovered } = {}) {
  const payload = roomPayload(seq, epoch);
  if (recovered !== undefined) payload.recovered = recovered;
  return { type: "room.snapshot", rid, room, ts: TS, payload };
}

export function resumed(room, { rid = null, seq, epoch = "e1", replayed = 0 }) {
  return { type: "room.resumed", rid, room, ts: TS, payload: { ...roomPayload(seq, epoch), replayed } };
}

export function leaderboard(room, seq) {
  return { type: "leaderboard.updated", room, seq, ts: TS, payload: { entries: [["p1", "Player 1", seq, 1]], changed: [] } };
}

export function presence(room, seq, type = "room.player.connected") {
  return { type, room, seq, ts: TS, payload: { players_online: 2, player_id: "p2" } };
}

export function spinResult(rid, room, { spinId = "s-1", stake = 100, win = 0, balance = 9900 } = {}) {
  return {
    type: "spin.result", rid, room, ts: TS,
    payload: {
      spin_id: spinId, round_id: spinId, stake, win, balance, currency: "EUR", score: win, rank: 1,
      outcome: { symbols: ["BLANK", "BLANK", "BLANK"], stops: [0, 0, 0], multiplier: 0, rule: null, features: [] },
      fairness: { server_seed_hash: "ab".repeat(32), client_seed: "c", nonce: 0, math_version: "fruit-3/1" },
    },
  };
}

export function balanceFrame(rid, room, balance = 9900) {
  return { type: "balance", rid, room, ts: TS, payload: { balance, currency: "EUR" } };
}

export function errorFrame(rid, code, { retryable = false, message = "refused", room = null } = {}) {
  return { type: "error", rid, room, ts: TS, payload: { code, message, retryable } };
}

export function draining(reconnectAfterMs) {
  return { type: "server.draining", ts: TS, payload: { reconnect_after_ms: reconnectAfterMs } };
}

export { flush, lib };
