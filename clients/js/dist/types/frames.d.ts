/** Decoding server frames. */
import { ServerError } from "./errors.js";
import type { ErrorFrame, ServerFrame } from "./wire.js";
/** A server frame from a message event's data, or null when it is not a JSON object with a `type`. */
export declare function parseFrame(data: unknown): ServerFrame | null;
/** The ServerError of an `error` frame. */
export declare function serverError(frame: ErrorFrame, idempotencyKey: string | null): ServerError;
