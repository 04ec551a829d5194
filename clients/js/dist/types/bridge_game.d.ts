/** GameBridge: the game iframe's side of the postMessage bridge (EMBEDDING.md). */
import { type Handler } from "./emitter.js";
import { type MessageTarget, type WindowLike } from "./envelope.js";
import { type Clock } from "./env.js";
import type { RoomClient } from "./client.js";
/** What the bridge uses of a RoomClient. */
export type BridgeClient = Pick<RoomClient, "on" | "balance" | "leave" | "close" | "rooms">;
export interface GameBridgeOptions {
    /** The casino page's exact origin, e.g. "https://casino.example". */
    hostOrigin: string;
    gameId: string;
    /** The iframe's window (listens for `message`); default globalThis.window. */
    window?: WindowLike;
    /** The host window; default window.parent. */
    parent?: MessageTarget;
    /** How long hello() and requestToken() wait for the host (default 10 000 ms). */
    timeoutMs?: number;
    clock?: Clock;
}
export interface HostHello {
    casino_id: string;
    locale: string;
    currency: string;
}
export interface GameBridgeEvents {
    hostHello: HostHello;
    /** The host asked to pause; applied only when no spin is in flight (else at the next idle). */
    pause: {
        reason: string;
    };
    resume: {
        reason: string;
    };
    /** The host asked for a fresh balance (an attached client is asked for it as well). */
    balanceRefresh: Record<string, never>;
    audio: {
        muted: boolean;
    };
    rgAck: {
        kind: string;
    };
    /** The host closes the game (an attached client leaves its rooms and closes). */
    close: Record<string, never>;
}
export declare class GameBridge {
    private readonly hostOrigin;
    private readonly gameId;
    private readonly window;
    private readonly parent;
    private readonly timeoutMs;
    private readonly clock;
    private readonly events;
    private readonly listener;
    private helloWaiters;
    private tokenWaiters;
    private detachClient;
    private client;
    private spins;
    private isPaused;
    private deferred;
    private disposed;
    constructor(options: GameBridgeOptions);
    on<K extends keyof GameBridgeEvents>(event: K, handler: Handler<GameBridgeEvents[K]>): () => void;
    off<K extends keyof GameBridgeEvents>(event: K, handler: Handler<GameBridgeEvents[K]>): void;
    /** True while a pause is applied. */
    get paused(): boolean;
    /** True while a spin is in flight (between game.busy and game.idle). */
    get busy(): boolean;
    /** Post `game.hello`; resolves with the host's `host.hello`. */
    hello(): Promise<HostHello>;
    /** Ask the host for a token (`token.request`); resolves with `token.response`'s token. */
    requestToken(reason?: "initial" | "expired"): Promise<string>;
    ready(room: string, playerId: string): void;
    cashier(currency: string): void;
    requestClose(): void;
    error(code: string, message: string): void;
    /**
     * Forward the client's allow-listed frames, its connection state and its spins (round.started /
     * round.ended, game.busy / game.idle) to the host. Returns a function that detaches it.
     */
    attach(client: BridgeClient): () => void;
    /** Stop listening; pending hello()/requestToken() reject. */
    dispose(): void;
    private detach;
    private post;
    private wait;
    private receive;
    private handle;
    /** Applied at once when no spin is in flight; otherwise the last request waits for game.idle. */
    private pauseOrResume;
    private applyDeferred;
    private apply;
    private closeClient;
}
