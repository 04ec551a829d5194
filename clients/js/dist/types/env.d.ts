/** What the client needs from its environment, injectable for Node.js and for tests. */
/** Timers and time; the default uses the global ones. */
export interface Clock {
    now(): number;
    setTimeout(callback: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}
export declare const systemClock: Clock;
/** The part of a WebSocket the client uses (the browser's, the `ws` package's, or a fake). */
export interface SocketLike {
    readonly readyState: number;
    binaryType?: string;
    onopen: ((event: unknown) => void) | null;
    onmessage: ((event: {
        data: unknown;
    }) => void) | null;
    onclose: ((event: {
        code: number;
        reason: string;
        wasClean?: boolean;
    }) => void) | null;
    onerror: ((event: unknown) => void) | null;
    send(data: string): void;
    close(code?: number, reason?: string): void;
}
/**
 * A WebSocket class: the browser's, the `ws` package's, or a fake. Typed loosely (their event
 * handler types differ); instances must behave as SocketLike.
 */
export type SocketConstructor = new (url: string, protocols?: string | string[]) => object;
/** WebSocket.OPEN. */
export declare const SOCKET_OPEN = 1;
/** The text of a message event's data: a string, or UTF-8 bytes (a `ws` Buffer, an ArrayBuffer). */
export declare function messageText(data: unknown): string | null;
/** A random UUID v4: `crypto.randomUUID` when available, else built from `random`. */
export declare function randomId(random: () => number): string;
