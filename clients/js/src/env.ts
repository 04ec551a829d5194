/** What the client needs from its environment, injectable for Node.js and for tests. */

/** Timers and time; the default uses the global ones. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The part of a WebSocket the client uses (the browser's, the `ws` package's, or a fake). */
export interface SocketLike {
  readonly readyState: number;
  binaryType?: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
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
export const SOCKET_OPEN = 1;

/** The text of a message event's data: a string, or UTF-8 bytes (a `ws` Buffer, an ArrayBuffer). */
export function messageText(data: unknown): string | null {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  if (Array.isArray(data) && data.every((part) => ArrayBuffer.isView(part))) {
    // `ws` fragments as an array of Buffers when binaryType is "fragments".
    const decoder = new TextDecoder();
    const last = data.length - 1;
    return data.map((part: ArrayBufferView, i: number) => decoder.decode(part, { stream: i < last })).join("");
  }
  return null;
}

/** A random UUID v4: `crypto.randomUUID` when available, else built from `random`. */
export function randomId(random: () => number): string {
  const cryptoObject = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (cryptoObject && typeof cryptoObject.randomUUID === "function") return cryptoObject.randomUUID();
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 16) & 15)
      .map((d) => d.toString(16))
      .join("");
  const variant = ((Math.floor(random() * 4) & 3) | 8).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}
