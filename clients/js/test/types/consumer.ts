// Compiled (not run) by `npm run check` against dist/roomserver.d.ts: the published types
// must type the documented API.
import WebSocket from "ws";
import {
  CasinoHost,
  GameBridge,
  RoomClient,
  SpinOutcomeUnknownError,
  errors,
  version,
  type ConnectionState,
  type ServerFrame,
  type SpinResultPayload,
  type SpinSettled,
} from "../../dist/roomserver.mjs";
// The package's "types" entry (dist/roomserver.d.ts) types the same API.
import type { RoomClient as TypedByPackageEntry } from "../../dist/roomserver.js";

export const sameClass: typeof TypedByPackageEntry = RoomClient;

export async function play(): Promise<void> {
  const client = new RoomClient({
    url: "ws://127.0.0.1:8765/ws",
    getToken: async () => "jwt",
    WebSocket,
    requestTimeoutMs: 10_000,
    backoff: { minMs: 500, maxMs: 30_000 },
  });
  await client.connect();
  const snapshot = await client.join("demo");
  const seq: number = snapshot.seq;
  const result: SpinResultPayload = await client.spin("demo", { stake: 100 });
  const balance: number = (await client.balance("demo")).balance;
  await client.leave("demo");
  const off = client.on("leaderboard", (frame) => frame.payload.entries.map(([playerId, , score, rank]) => `${playerId}${score}${rank}`));
  client.on("state", (change) => {
    const state: ConnectionState = change.state;
    return `${state} ${change.reason} ${change.code ?? ""}`;
  });
  client.on("frame", (frame: ServerFrame) => frame.type);
  client.on("gap", (gap) => gap.expected + gap.got);
  client.on("spinStarted", (spin) => spin.idempotencyKey);
  client.on("spinSettled", (spin: SpinSettled) => spin.result?.spin_id ?? spin.error?.message);
  client.on("error", (error) => error.message);
  try {
    await client.spin("demo", { stake: 100, idempotencyKey: "k" });
  } catch (error) {
    if (error instanceof SpinOutcomeUnknownError) await client.spin(error.room, { stake: error.stake, idempotencyKey: error.idempotencyKey });
    if (error instanceof errors.ServerError) console.log(error.code, error.retryable);
  }
  off();
  client.close();
  void [seq, result, balance, version];
}

export function embed(win: Window, iframe: HTMLIFrameElement): void {
  const bridge = new GameBridge({ hostOrigin: "http://localhost:8090", gameId: "slot-classic", window: win, parent: win.parent });
  bridge.on("pause", ({ reason }) => reason);
  void bridge.hello().then((hello) => hello.casino_id);
  const client = new RoomClient({ url: "ws://127.0.0.1:8765/ws", getToken: (reason) => bridge.requestToken(reason) });
  bridge.attach(client);
  bridge.ready("demo", "p1");
  const host = new CasinoHost({
    iframe,
    gameOrigin: "http://127.0.0.1:8091",
    casinoId: "casino",
    locale: "en",
    currency: "EUR",
    getToken: async (reason) => `jwt-${reason}`,
    window: win,
  });
  host.on("roundEnded", (round) => round.win);
  host.pause("rg");
  host.dispose();
  bridge.dispose();
}
