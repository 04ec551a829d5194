/** Decoding server frames. */

import { messageText } from "./env.js";
import { ServerError } from "./errors.js";
import type { ErrorFrame, ServerFrame } from "./wire.js";

/** A server frame from a message event's data, or null when it is not a JSON object with a `type`. */
export function parseFrame(data: unknown): ServerFrame | null {
  const text = messageText(data);
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
    if (typeof (value as { type?: unknown }).type !== "string") return null;
    return value as ServerFrame;
  } catch {
    return null;
  }
}

/** The ServerError of an `error` frame. */
export function serverError(frame: ErrorFrame, idempotencyKey: string | null): ServerError {
  const payload: Partial<ErrorFrame["payload"]> = frame.payload ?? {};
  return new ServerError({
    code: typeof payload.code === "string" ? payload.code : "INTERNAL",
    message: typeof payload.message === "string" ? payload.message : "",
    retryable: payload.retryable === true,
    path: payload.path ?? null,
    rid: frame.rid ?? null,
    room: frame.room ?? null,
    idempotencyKey,
  });
}
