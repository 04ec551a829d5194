/** CasinoHost: the casino page's side of the postMessage bridge (EMBEDDING.md). */
import { type Handler } from "./emitter.js";
import { type MessageTarget, type WindowLike } from "./envelope.js";
import type { ServerFrame } from "./wire.js";
export interface CasinoHostOptions {
    /** The game's iframe; messages go to, and are accepted only from, its contentWindow. */
    iframe: {
        readonly contentWindow: MessageTarget | null;
    };
    /** The game's exact origin, e.g. "https://games.example". */
    gameOrigin: string;
    casinoId: string;
    locale: string;
    currency: string;
    /** The player's JWT from the Casino System, handed to the game in reply to `token.request`. */
    getToken: (reason: "initial" | "expired") => string | Promise<string>;
    /** The casino page's window (listens for `message`); default globalThis.window. */
    window?: WindowLike;
}
export interface RoundEnded {
    room: string;
    idempotency_key: string;
    spin_id?: string;
    win?: number;
    balance?: number;
    /** Set when the spin failed: the error code (or error name). */
    error?: string;
}
export interface CasinoHostEvents {
    hello: {
        game_id: string;
        sdk_version: string;
    };
    ready: {
        room: string;
        player_id: string;
    };
    /** An allow-listed server frame, unchanged. */
    frame: ServerFrame;
    state: {
        state: string;
        reason: string;
    };
    roundStarted: {
        room: string;
        idempotency_key: string;
    };
    roundEnded: RoundEnded;
    busy: Record<string, never>;
    idle: Record<string, never>;
    cashier: {
        currency: string;
    };
    closeRequest: Record<string, never>;
    gameError: {
        code: string;
        message: string;
    };
    /** getToken failed: no `token.response` was sent (the game's request times out). */
    tokenError: {
        reason: string;
        error: unknown;
    };
}
export declare class CasinoHost {
    private readonly iframe;
    private readonly gameOrigin;
    private readonly hello;
    private readonly getToken;
    private readonly window;
    private readonly events;
    private readonly listener;
    private gameBusy;
    private disposed;
    constructor(options: CasinoHostOptions);
    on<K extends keyof CasinoHostEvents>(event: K, handler: Handler<CasinoHostEvents[K]>): () => void;
    off<K extends keyof CasinoHostEvents>(event: K, handler: Handler<CasinoHostEvents[K]>): void;
    /** True between the game's `game.busy` and `game.idle`. */
    get busy(): boolean;
    /** Ask the game to pause (applied at its next idle, never mid-spin). */
    pause(reason: string): void;
    resume(reason: string): void;
    refreshBalance(): void;
    setMuted(muted: boolean): void;
    ackRealityCheck(kind: string): void;
    /** The game leaves its room and closes its socket. */
    closeGame(): void;
    dispose(): void;
    private post;
    private receive;
    private handle;
    private answerToken;
}
