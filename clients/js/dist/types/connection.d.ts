/** The socket's lifecycle: tokens, connection attempts, the close policy and reconnect delays. */
import { type BackoffOptions } from "./backoff.js";
import { type Clock, type SocketConstructor, type SocketLike } from "./env.js";
import { ConnectionClosedError, RoomServerError } from "./errors.js";
import type { ConnectionState, StateChange, TokenReason } from "./types.js";
export interface ConnectionOptions {
    url: URL;
    getToken: (reason: TokenReason) => string | Promise<string>;
    Socket: SocketConstructor;
    protocols: string[];
    clock: Clock;
    random: () => number;
    backoff: BackoffOptions | undefined;
    connectTimeoutMs: number;
    drainDelayMs: number;
    drainJitterMs: number;
    stableAfterMs: number;
    maxAttempts: number;
}
/** What the connection tells its owner. */
export interface ConnectionHooks {
    state(change: StateChange): void;
    error(error: RoomServerError): void;
    /** A socket opened. */
    opened(ws: SocketLike): void;
    message(ws: SocketLike, data: unknown): void;
    /** A socket that had opened is gone; a reconnect is scheduled. */
    dropped(ws: SocketLike): void;
    /** The connection stopped for good (the app closed it, or the close policy said stop). */
    stopped(error: ConnectionClosedError): void;
}
export declare class Connection {
    private readonly options;
    private readonly hooks;
    private readonly backoff;
    private current;
    private ws;
    private opened;
    private openedAt;
    private drainAfterMs;
    private token;
    private needToken;
    private refreshedInStreak;
    private immediateUsed;
    private failures;
    private attemptId;
    private openTimer;
    private reconnectTimer;
    constructor(options: ConnectionOptions, hooks: ConnectionHooks);
    get state(): ConnectionState;
    /** The open socket, or null. */
    get socket(): SocketLike | null;
    /** Start connecting (from `idle` or `closed`). */
    start(): void;
    /** The app closes the connection for good. */
    close(): void;
    /** The node is draining (`server.draining`, or a DRAINING reply): reconnect after this delay. */
    draining(afterMs: number | null): void;
    /** Give up on a socket ourselves (open or rejoin timeout), as if it had closed with `code`. */
    abandon(ws: SocketLike, code: number, detail: string, reason?: string): void;
    private attempt;
    private currentToken;
    private onOpen;
    private onClose;
    /** A connection attempt failed before open. */
    private failed;
    private schedule;
    private stop;
    /** Stop listening to a socket (handlers become no-ops: `ws` throws on an unheard error). */
    private release;
    private setState;
}
