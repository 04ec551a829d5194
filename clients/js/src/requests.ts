/** Requests awaiting their reply: matched by `rid`, timed out, queued while there is no connection. */

import type { Clock, SocketLike } from "./env.js";
import { ConnectionLostError, RequestTimeoutError, SpinOutcomeUnknownError } from "./errors.js";
import type { ClientMessage, ClientMessageType, ServerFrame, ServerFrameType } from "./wire.js";

/** The frame types that answer each request type (besides `error`). */
export const REPLY_TYPES: Record<ClientMessageType, readonly ServerFrameType[]> = {
  "room.join": ["room.snapshot", "room.resumed"],
  "room.leave": ["room.left"],
  spin: ["spin.result"],
  "balance.get": ["balance"],
  ping: ["pong"],
  // Benchmarks only, never sent by this client: no reply (its `bench.update` is a room frame).
  "bench.publish": [],
};

export interface PendingRequest {
  /** Creation order: queued requests are sent in this order. */
  readonly order: number;
  readonly rid: string;
  /** The message as sent, `rid` included (a resend sends it unchanged). */
  readonly message: ClientMessage & { rid: string };
  /** A rejoin after a reconnect: sent before the queue, never resent. */
  readonly internal: boolean;
  /** The socket it was last sent on, or null while it waits in the queue. */
  socket: SocketLike | null;
  everSent: boolean;
  resends: number;
  timer: unknown;
  resolve(frame: ServerFrame | null): void;
  reject(error: unknown): void;
}

export interface RequestTableOptions {
  requestTimeoutMs: number;
  queueTimeoutMs: number;
  maxResends: number;
}

export class RequestTable {
  private readonly pending = new Map<string, PendingRequest>();
  private counter = 0;

  constructor(
    private readonly clock: Clock,
    private readonly options: RequestTableOptions,
  ) {}

  /** A new request; `promise` settles with its reply frame (or null for a leave ended by a drop). */
  create(message: ClientMessage, internal: boolean): { request: PendingRequest; promise: Promise<ServerFrame | null> } {
    this.counter += 1;
    const rid = `c-${this.counter}`;
    let resolve!: (frame: ServerFrame | null) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<ServerFrame | null>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const request: PendingRequest = {
      order: this.counter,
      rid,
      message: { ...message, rid },
      internal,
      socket: null,
      everSent: false,
      resends: 0,
      timer: null,
      resolve,
      reject,
    };
    this.pending.set(rid, request);
    return { request, promise };
  }

  get(rid: string): PendingRequest | undefined {
    return this.pending.get(rid);
  }

  get size(): number {
    return this.pending.size;
  }

  /** True when `frame` answers `request` (a reply of the expected type, or an `error`). */
  static answers(request: PendingRequest, frame: ServerFrame): boolean {
    return frame.type === "error" || REPLY_TYPES[request.message.type].includes(frame.type);
  }

  /** The request went out on `socket`: wait `requestTimeoutMs` for its reply. */
  sent(request: PendingRequest, socket: SocketLike): void {
    this.clock.clearTimeout(request.timer);
    request.socket = socket;
    request.everSent = true;
    const ms = this.options.requestTimeoutMs;
    request.timer = this.clock.setTimeout(() => {
      this.fail(request, new RequestTimeoutError(request.message.type, ms, true));
    }, ms);
  }

  /** The request waits for a connection: at most `queueTimeoutMs`. */
  queue(request: PendingRequest): void {
    this.clock.clearTimeout(request.timer);
    request.socket = null;
    const ms = this.options.queueTimeoutMs;
    request.timer = this.clock.setTimeout(() => {
      this.fail(request, new RequestTimeoutError(request.message.type, ms, false));
    }, ms);
  }

  /** The requests waiting for a connection, oldest first. */
  queued(): PendingRequest[] {
    return [...this.pending.values()].filter((r) => r.socket === null && !r.internal).sort((a, b) => a.order - b.order);
  }

  settle(request: PendingRequest, frame: ServerFrame | null): void {
    if (!this.remove(request)) return;
    request.resolve(frame);
  }

  /** The server answered `request` with an error: its outcome is known, reject with it as is. */
  refuse(request: PendingRequest, error: unknown): void {
    if (!this.remove(request)) return;
    request.reject(error);
  }

  /** Reject `request` unanswered; a spin that may have reached the server becomes SpinOutcomeUnknownError. */
  fail(request: PendingRequest, cause: unknown): void {
    if (!this.remove(request)) return;
    request.reject(outcomeError(request, cause));
  }

  /**
   * `socket` dropped: requests sent on it are queued for a resend (a leave is over: the
   * connection's memberships went with it), or fail once `maxResends` resends were used.
   */
  dropped(socket: SocketLike, onLeave: (room: string) => void): void {
    for (const request of [...this.pending.values()]) {
      if (request.socket !== socket) continue;
      if (request.internal) {
        this.fail(request, new ConnectionLostError(request.message.type, 0));
      } else if (request.message.type === "room.leave") {
        onLeave(request.message.room);
        this.settle(request, null);
      } else if (request.resends >= this.options.maxResends) {
        this.fail(request, new ConnectionLostError(request.message.type, request.resends));
      } else {
        request.resends += 1;
        this.queue(request);
      }
    }
  }

  /** Reject every request (the client stopped). */
  failAll(cause: unknown): void {
    for (const request of [...this.pending.values()]) this.fail(request, cause);
  }

  private remove(request: PendingRequest): boolean {
    if (this.pending.get(request.rid) !== request) return false;
    this.pending.delete(request.rid);
    this.clock.clearTimeout(request.timer);
    request.timer = null;
    return true;
  }
}

function outcomeError(request: PendingRequest, cause: unknown): unknown {
  const message = request.message;
  if (message.type === "spin" && request.everSent) {
    return new SpinOutcomeUnknownError(message.room, message.stake, message.idempotency_key, cause);
  }
  return cause;
}
