/** The postMessage envelope shared by GameBridge and CasinoHost (the iframe bridge contract v1). */
import type { ServerFrame, ServerFrameType } from "./wire.js";
export declare const BRIDGE_NS = "roomserver";
export declare const BRIDGE_VERSION = 1;
/** Server frames the game forwards to the host (`{type: "frame", frame}`); no other type is forwarded. */
export declare const FORWARDED_FRAME_TYPES: ReadonlySet<ServerFrameType>;
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
export declare function envelope(type: string, fields?: Record<string, unknown>): BridgeMessage;
/** The message in `data`, or null when it is not a v1 bridge envelope. */
export declare function openEnvelope(data: unknown): BridgeMessage | null;
/**
 * Check an exact origin (`https://casino.example`, `http://localhost:8090`): scheme, host and
 * port only. Throws on `"*"`, `"null"`, a path, or anything that is not an http(s) origin.
 */
export declare function checkOrigin(origin: unknown, name: string): string;
/** True when `frame` is a server frame the bridge forwards. */
export declare function isForwardedFrame(frame: unknown): frame is ServerFrame;
/** A string field of a message, or `fallback`. */
export declare function str(message: BridgeMessage, field: string, fallback?: string): string;
/** The default window: globalThis.window in a browser. */
export declare function defaultWindow(): (WindowLike & {
    parent?: MessageTarget;
}) | undefined;
