/** The public option and event types of RoomClient. */
import type { BackoffOptions } from "./backoff.js";
import type { Clock, SocketConstructor } from "./env.js";
import type { RoomServerError } from "./errors.js";
import type { Gap } from "./rooms.js";
import type { Balance, LeaderboardUpdated, PlayerConnected, PlayerDisconnected, PlayerScoreUpdated, RealityCheck, RoomResumedPayload, RoomSnapshotPayload, ServerDraining, ServerFrame, SpinResultPayload, TournamentCompleted, TournamentStarted } from "./wire.js";
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";
/** Why `getToken` is called: the first connection, or the token was refused or expired. */
export type TokenReason = "initial" | "expired";
export interface RoomClientOptions {
    /** `ws://host:port/ws` or `wss://...`; the token is added as `?token=`. */
    url: string;
    /** The player's JWT; called at the first connect, after a 4001 close, and once after a close before open. */
    getToken: (reason: TokenReason) => string | Promise<string>;
    /** The WebSocket class (the `ws` package in Node.js, a fake in tests). Default: globalThis.WebSocket. */
    WebSocket?: SocketConstructor;
    /** How long a sent request waits for its reply (default 10 000 ms). */
    requestTimeoutMs?: number;
    /** How long a request may wait for a connection before it is sent (default 30 000 ms). */
    queueTimeoutMs?: number;
    /** How long the opening handshake may take (default 10 000 ms). */
    connectTimeoutMs?: number;
    /** Reconnect backoff (default 500 ms .. 30 000 ms, full jitter). */
    backoff?: BackoffOptions;
    /** How many times a request in flight when the connection dropped is resent (default 3). */
    maxResends?: number;
    /** Reconnect delay after a 1012 close without a `server.draining` frame (default 1 000 ms). */
    drainDelayMs?: number;
    /** Up to this much random delay is added to a drain reconnect (default 1 000 ms). */
    drainJitterMs?: number;
    /** A connection open at least this long resets the backoff (default 5 000 ms). */
    stableAfterMs?: number;
    /** Consecutive failed connection attempts before giving up (default: never give up). */
    maxAttempts?: number;
    /** Subprotocols offered (default ["roomserver.v1"]). */
    protocols?: string[];
    clock?: Clock;
    /** A uniform random number in [0, 1) (default Math.random). */
    random?: () => number;
}
export interface StateChange {
    state: ConnectionState;
    previous: ConnectionState;
    /**
     * Why: `connect`, `connected`, `reconnected`, `connect-failed`, `token-failed`, `token-expired`,
     * `server-restart`, `try-again-later`, `server-error`, `connection-lost`, `rejoin-timeout`,
     * `forbidden`, `replaced`, `policy-violation`, `message-too-big`, `invalid-data`, `gave-up`,
     * `closed` (the app called close()).
     */
    reason: string;
    /** The close code, when a close caused the change. */
    code?: number;
    /** The close frame's reason text, when there was one. */
    detail?: string;
}
export interface SnapshotEvent {
    room: string;
    /** `snapshot`: a fresh state (the seq baseline restarts); `resumed`: missed frames follow. */
    kind: "snapshot" | "resumed";
    payload: RoomSnapshotPayload | RoomResumedPayload;
    /** `false` when a resume was asked but the missed frames were no longer held. */
    recovered: boolean | null;
    /** True for the automatic rejoin after a reconnect. */
    rejoin: boolean;
}
export interface SpinStarted {
    room: string;
    idempotencyKey: string;
    stake: number;
}
export interface SpinSettled {
    room: string;
    idempotencyKey: string;
    stake: number;
    /** The result, when the spin succeeded. */
    result?: SpinResultPayload;
    /** The error, when it failed (SpinOutcomeUnknownError: the outcome is not known). */
    error?: RoomServerError | Error;
}
export interface RoomClientEvents {
    state: StateChange;
    /** Every server frame, after duplicates were dropped. */
    frame: ServerFrame;
    snapshot: SnapshotEvent;
    leaderboard: LeaderboardUpdated;
    presence: PlayerConnected | PlayerDisconnected;
    tournament: TournamentStarted | TournamentCompleted;
    realityCheck: RealityCheck;
    balance: Balance;
    score: PlayerScoreUpdated;
    draining: ServerDraining;
    gap: Gap;
    error: RoomServerError;
    spinStarted: SpinStarted;
    spinSettled: SpinSettled;
}
export interface SpinOptions {
    /** Stake in minor units. */
    stake: number;
    /** Reuse a key (to retry a spin whose outcome is unknown); default: a new random UUID. */
    idempotencyKey?: string;
    clientSeed?: string;
}
/** A read-only view of a room's stream record. */
export interface RoomInfo {
    room: string;
    lastSeq: number | null;
    epoch: string | null;
    snapshot: RoomSnapshotPayload | RoomResumedPayload | null;
}
