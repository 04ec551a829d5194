/** The postMessage envelope shared by GameBridge and CasinoHost (the iframe bridge contract v1). */

import type { ServerFrame, ServerFrameType } from "./wire.js";

export const BRIDGE_NS = "roomserver";
export const BRIDGE_VERSION = 1;

/** Server frames the game forwards to the host (`{type: "frame", frame}`); no other type is forwarded. */
export const FORWARDED_FRAME_TYPES: ReadonlySet<ServerFrameType> = new Set<ServerFrameType>([
  "room.snapshot",
  "room.resumed",
  "spin.result",
  "leaderboard.updated",
  "player.score.updated",
  "room.player.connected",
  "room.player.disconnected",
  "room.tournament.started",
  "room.tournament.completed",
  "balance",
  "rg.reality_check",
  "server.draining",
]);

/** A bridge message: `{ns: "roomserver", v: 1, type, ...fields}`. */
export interface BridgeMessage {
  ns: typeof BRIDGE_NS;
  v: typeof BRIDGE_VERSION;
  type: string;
  [field: string]: unknown;
}

/** A window (or iframe content window) we post to. */
export interface MessageTarget {
  postMessage(message: unknown, targetOrigin: string): void;
}

/** The `message` event fields the bridge reads. */
export interface MessageEventLike {
  data: unknown;
  origin: string;
  source: unknown;
}

/** The window whose `message` events the bridge listens to. */
export interface WindowLike {
  addEventListener(type: "message", listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEventLike) => void): void;
}

/** Build a message; `fields` cannot override the envelope. */
export function envelope(type: string, fields: Record<string, unknown> = {}): BridgeMessage {
  return { ...fields, ns: BRIDGE_NS, v: BRIDGE_VERSION, type };
}

/** The message in `data`, or null when it is not a v1 bridge envelope. */
export function openEnvelope(data: unknown): BridgeMessage | null {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
  const message = data as Partial<BridgeMessage>;
  if (message.ns !== BRIDGE_NS || message.v !== BRIDGE_VERSION) return null;
  if (typeof message.type !== "string" || message.type.length === 0) return null;
  return message as BridgeMessage;
}

/**
 * Check an exact origin (`https://casino.example`, `http://localhost:8090`): scheme, host and
 * port only. Throws on `"*"`, `"null"`, a path, or anything that is not an http(s) origin.
 */
export function checkOrigin(origin: unknown, name: string): string {
  if (typeof origin !== "string" || origin === "*" || origin === "null") {
    throw new TypeError(`${name} must be an exact origin like "https://casino.example", never "*"`);
  }
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    throw new TypeError(`${name} is not a valid origin: ${origin}`);
  }
  if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.origin !== origin) {
    throw new TypeError(`${name} must be an exact http(s) origin (scheme://host[:port], no path): ${origin}`);
  }
  return origin;
}

/** True when `frame` is a server frame the bridge forwards. */
export function isForwardedFrame(frame: unknown): frame is ServerFrame {
  if (frame === null || typeof frame !== "object") return false;
  const type = (frame as { type?: unknown }).type;
  return typeof type === "string" && FORWARDED_FRAME_TYPES.has(type as ServerFrameType);
}

/** A string field of a message, or `fallback`. */
export function str(message: BridgeMessage, field: string, fallback = ""): string {
  const value = message[field];
  return typeof value === "string" ? value : fallback;
}

/** The default window: globalThis.window in a browser. */
export function defaultWindow(): (WindowLike & { parent?: MessageTarget }) | undefined {
  return (globalThis as { window?: WindowLike & { parent?: MessageTarget } }).window;
}
