/** Errors thrown (as promise rejections) or emitted (`error` events) by this package. */

import type { ErrorCode } from "./wire.js";

/** The base class of every error of this package. */
export class RoomServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An `error` frame from the server, in reply to a request (or unsolicited). */
export class ServerError extends RoomServerError {
  readonly code: ErrorCode | string;
  readonly retryable: boolean;
  readonly path: string | null;
  readonly rid: string | null;
  readonly room: string | null;
  /** The spin's idempotency key when the failed request was a spin (retry with it). */
  readonly idempotencyKey: string | null;

  constructor(fields: {
    code: string;
    message: string;
    retryable: boolean;
    path?: string | null;
    rid?: string | null;
    room?: string | null;
    idempotencyKey?: string | null;
  }) {
    super(`${fields.code}: ${fields.message}`);
    this.code = fields.code;
    this.retryable = fields.retryable;
    this.path = fields.path ?? null;
    this.rid = fields.rid ?? null;
    this.room = fields.room ?? null;
    this.idempotencyKey = fields.idempotencyKey ?? null;
  }
}

/** No reply came within `requestTimeoutMs` (or the request waited for a connection too long). */
export class RequestTimeoutError extends RoomServerError {
  readonly requestType: string;
  readonly timeoutMs: number;
  /** False when the request never reached the server. */
  readonly sent: boolean;

  constructor(requestType: string, timeoutMs: number, sent: boolean) {
    super(`${requestType}: no reply within ${timeoutMs} ms${sent ? "" : " (not sent: no connection)"}`);
    this.requestType = requestType;
    this.timeoutMs = timeoutMs;
    this.sent = sent;
  }
}

/** The connection is closed for good (or not open yet), so the request cannot complete. */
export class ConnectionClosedError extends RoomServerError {
  /** The WebSocket close code, when the server closed the connection. */
  readonly code: number | null;
  /** Why: the `state` event's reason (`forbidden`, `replaced`, `closed`, ...). */
  readonly reason: string;
  /** True when the client stopped on its own policy and will not reconnect. */
  readonly fatal: boolean;

  constructor(reason: string, code: number | null = null, fatal = true, detail = "") {
    const what = code === null ? reason : `${reason} (close code ${code}${detail ? `: ${detail}` : ""})`;
    super(`connection closed: ${what}`);
    this.code = code;
    this.reason = reason;
    this.fatal = fatal;
  }
}

/** The request was in flight on a connection that dropped, and its resends ran out. */
export class ConnectionLostError extends RoomServerError {
  readonly requestType: string;

  constructor(requestType: string, resends: number) {
    super(`${requestType}: the connection dropped and ${resends} resends did not get a reply`);
    this.requestType = requestType;
  }
}

/**
 * A spin was sent but its result never came (timeout, connection lost, client closed).
 * It may or may not have been placed: retry later with the same key
 * (`client.spin(room, {stake, idempotencyKey: error.idempotencyKey})`); the server replays
 * the stored result of a spin that was placed and never debits twice.
 */
export class SpinOutcomeUnknownError extends RoomServerError {
  readonly room: string;
  readonly stake: number;
  readonly idempotencyKey: string;

  constructor(room: string, stake: number, idempotencyKey: string, cause: unknown) {
    super(`spin ${idempotencyKey} in room ${room}: outcome unknown, retry with the same idempotency key`, {
      cause,
    });
    this.room = room;
    this.stake = stake;
    this.idempotencyKey = idempotencyKey;
  }
}

/** `getToken` failed or returned something that is not a non-empty string. */
export class TokenError extends RoomServerError {}

/** A frame that is not a JSON object with a string `type`. */
export class ProtocolError extends RoomServerError {}

/** A resumed room could not be rejoined after a reconnect (the record is dropped). */
export class RejoinError extends RoomServerError {
  readonly room: string;

  constructor(room: string, cause: unknown) {
    super(`could not rejoin room ${room}`, { cause });
    this.room = room;
  }
}

/** A bridge request (`hello`, `requestToken`) got no answer from the other window in time. */
export class BridgeTimeoutError extends RoomServerError {
  readonly messageType: string;

  constructor(messageType: string, timeoutMs: number) {
    super(`${messageType}: no answer from the other window within ${timeoutMs} ms`);
    this.messageType = messageType;
  }
}

/** The bridge was disposed while a request was waiting for its answer. */
export class BridgeDisposedError extends RoomServerError {}
