/** RoomClient: one player's connection to the room server, with reconnect and resume. */

import { Connection } from "./connection.js";
import { Emitter, type Handler } from "./emitter.js";
import { type Clock, randomId, type SocketConstructor, type SocketLike, systemClock } from "./env.js";
import { ConnectionClosedError, ProtocolError, RejoinError, type RoomServerError, ServerError } from "./errors.js";
import { parseFrame, serverError } from "./frames.js";
import { type PendingRequest, RequestTable } from "./requests.js";
import { RoomTracker } from "./rooms.js";
import type {
  ConnectionState,
  RoomClientEvents,
  RoomClientOptions,
  RoomInfo,
  SnapshotEvent,
  SpinOptions,
} from "./types.js";
import type { BalancePayload, ClientMessage, RoomSnapshotPayload, ServerFrame, SpinResultPayload } from "./wire.js";

export const SUBPROTOCOL = "roomserver.v1";

/** Spin refusals the server decides before its idempotency lookup (docs/protocol.md). */
const REFUSED_BEFORE_REPLAY: ReadonlySet<string> = new Set([
  "BAD_MESSAGE",
  "RATE_LIMITED",
  "DRAINING",
  "NOT_IN_ROOM",
]);

export class RoomClient {
  private readonly connection: Connection;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly requests: RequestTable;
  private readonly tracker = new RoomTracker();
  private readonly events = new Emitter<RoomClientEvents>();
  /** The open socket once every joined room was rejoined (requests go out only then). */
  private ready: SocketLike | null = null;
  /** A `server.draining` (or DRAINING reply) was seen: new requests wait for the reconnect. */
  private holding = false;
  private spinning = 0;
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(options: RoomClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new TypeError(`url must be ws:// or wss://, got ${url.protocol}`);
    }
    if (typeof options.getToken !== "function") throw new TypeError("getToken must be a function");
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (!Socket) throw new TypeError("no WebSocket: pass options.WebSocket (the `ws` package in Node.js)");
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.random = options.random ?? Math.random;
    this.requests = new RequestTable(clock, {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      queueTimeoutMs: options.queueTimeoutMs ?? 30_000,
      maxResends: options.maxResends ?? 3,
    });
    this.connection = new Connection(
      {
        url,
        getToken: options.getToken,
        Socket,
        protocols: options.protocols ?? [SUBPROTOCOL],
        clock,
        random: this.random,
        backoff: options.backoff,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        drainDelayMs: options.drainDelayMs ?? 1_000,
        drainJitterMs: options.drainJitterMs ?? 1_000,
        stableAfterMs: options.stableAfterMs ?? 5_000,
        maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
      },
      {
        state: (change) => this.events.emit("state", change),
        error: (error) => this.emitError(error),
        opened: (ws) => this.onOpened(ws),
        message: (ws, data) => this.onMessage(ws, data),
        dropped: (ws) => this.onDropped(ws),
        stopped: (error) => this.onStopped(error),
      },
    );
  }

  // ------------------------------------------------------------------ public API

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Spins started and not settled yet. */
  get spinsInFlight(): number {
    return this.spinning;
  }

  on<K extends keyof RoomClientEvents>(event: K, handler: Handler<RoomClientEvents[K]>): () => void {
    return this.events.on(event, handler);
  }

  off<K extends keyof RoomClientEvents>(event: K, handler: Handler<RoomClientEvents[K]>): void {
    this.events.off(event, handler);
  }

  /** Open the connection; resolves once open, rejects if the client stops for good first. */
  connect(): Promise<void> {
    if (this.state === "open") return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.connection.start();
    return promise;
  }

  /** Join a room; resolves with its snapshot. */
  async join(room: string): Promise<RoomSnapshotPayload> {
    const frame = await this.request({ type: "room.join", room });
    return (frame as { payload: RoomSnapshotPayload }).payload;
  }

  async leave(room: string): Promise<void> {
    this.tracker.markLeaving(room);
    try {
      await this.request({ type: "room.leave", room });
    } finally {
      this.tracker.remove(room);
    }
  }

  async balance(room: string): Promise<BalancePayload> {
    const frame = await this.request({ type: "balance.get", room });
    return (frame as { payload: BalancePayload }).payload;
  }

  /** Round-trip time in milliseconds (by the client's clock). */
  async ping(): Promise<number> {
    const start = this.clock.now();
    await this.request({ type: "ping", t: start });
    return this.clock.now() - start;
  }

  /**
   * Place a spin. Its idempotency key is made once and reused on every resend, so a spin is
   * never placed twice; when its outcome cannot be known it rejects with SpinOutcomeUnknownError.
   */
  spin(room: string, options: SpinOptions): Promise<SpinResultPayload> {
    const { stake, clientSeed } = options;
    if (!Number.isSafeInteger(stake) || stake < 1) return Promise.reject(new RangeError("stake must be an integer >= 1"));
    const key = options.idempotencyKey ?? randomId(this.random);
    if (typeof key !== "string" || key.length < 1 || key.length > 128) {
      return Promise.reject(new RangeError("idempotencyKey must be 1-128 characters"));
    }
    const message: ClientMessage = { type: "spin", room, stake, idempotency_key: key };
    if (clientSeed !== undefined) message.client_seed = clientSeed;
    this.spinning += 1;
    this.events.emit("spinStarted", { room, idempotencyKey: key, stake });
    const result = this.request(message).then((frame) => (frame as { payload: SpinResultPayload }).payload);
    result.then(
      (payload) => this.spinDone({ room, idempotencyKey: key, stake, result: payload }),
      (error: unknown) => this.spinDone({ room, idempotencyKey: key, stake, error: asError(error) }),
    );
    return result;
  }

  /** The stream record of a room (last seq, epoch, last snapshot), while joined. */
  room(room: string): RoomInfo | undefined {
    const record = this.tracker.get(room);
    if (!record) return undefined;
    return { room: record.room, lastSeq: record.lastSeq, epoch: record.epoch, snapshot: record.snapshot };
  }

  /** The rooms joined (with a snapshot), in join order. */
  rooms(): string[] {
    return this.tracker.joined().map((record) => record.room);
  }

  /** Close for good: pending requests reject, no reconnect. connect() may be called again. */
  close(): void {
    this.connection.close();
  }

  // ------------------------------------------------------------------ requests

  private async request(message: ClientMessage, internal = false): Promise<ServerFrame | null> {
    const state = this.state;
    if (state === "idle" || state === "closed") {
      throw new ConnectionClosedError(state === "idle" ? "not-connected" : "closed", null, false);
    }
    const { request, promise } = this.requests.create(message, internal);
    const socket = internal ? this.connection.socket : this.holding ? null : this.ready;
    if (socket) this.send(request, socket);
    else this.requests.queue(request);
    return promise;
  }

  private send(request: PendingRequest, socket: SocketLike): void {
    this.requests.sent(request, socket);
    try {
      socket.send(JSON.stringify(request.message));
    } catch {
      // The socket is closing: its close event requeues the request.
    }
  }

  private flush(): void {
    for (const request of this.requests.queued()) {
      if (!this.ready || this.holding) return;
      this.send(request, this.ready);
    }
  }

  private spinDone(settled: RoomClientEvents["spinSettled"]): void {
    this.spinning -= 1;
    this.events.emit("spinSettled", settled);
  }

  // ------------------------------------------------------------------ connection events

  private onOpened(ws: SocketLike): void {
    this.holding = false;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    this.rejoin(ws);
  }

  /** Rejoin every joined room with `since_seq`/`since_epoch`, then send the queued requests. */
  private rejoin(ws: SocketLike): void {
    const rooms = this.tracker.joined();
    let left = rooms.length;
    const done = (): void => {
      if (this.connection.socket !== ws) return;
      this.ready = ws;
      this.flush();
    };
    if (left === 0) return done();
    for (const record of rooms) {
      const message: ClientMessage = { type: "room.join", room: record.room, ...this.tracker.resumeFrom(record.room) };
      this.request(message, true).then(
        () => {
          if (--left === 0) done();
        },
        (error: unknown) => {
          if (this.connection.socket !== ws) return; // dropped meanwhile: the next open rejoins
          this.emitError(new RejoinError(record.room, error));
          if (error instanceof ServerError) {
            this.tracker.remove(record.room);
            if (--left === 0) done();
          } else {
            this.connection.abandon(ws, 1006, "rejoin timeout", "rejoin-timeout");
          }
        },
      );
    }
  }

  private onDropped(ws: SocketLike): void {
    this.ready = null;
    this.requests.dropped(ws, (room) => this.tracker.remove(room));
  }

  private onStopped(error: ConnectionClosedError): void {
    this.ready = null;
    this.holding = false;
    this.requests.failAll(error);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.tracker.clear();
  }

  // ------------------------------------------------------------------ frames

  private onMessage(ws: SocketLike, data: unknown): void {
    const frame = parseFrame(data);
    if (!frame) {
      this.emitError(new ProtocolError("a server frame that is not a JSON object with a type"));
      return;
    }
    const room = typeof frame.room === "string" ? frame.room : null;
    if (room !== null && typeof frame.seq === "number") {
      const verdict = this.tracker.accept(room, frame.seq);
      if (verdict.kind === "duplicate") return;
      if (verdict.kind === "gap") {
        const epoch = this.tracker.get(room)?.epoch ?? null;
        this.events.emit("gap", { room, expected: verdict.expected, got: verdict.got, epoch });
      }
    }
    const request = typeof frame.rid === "string" ? this.requests.get(frame.rid) : undefined;
    const reply = request !== undefined && request.socket === ws && RequestTable.answers(request, frame);
    const snapshot = this.track(frame, room, reply && request.internal);
    this.events.emit("frame", frame);
    if (snapshot) this.events.emit("snapshot", snapshot);
    this.dispatch(frame);
    if (reply) this.answer(request, frame);
    else if (frame.type === "error") this.emitError(serverError(frame, null));
  }

  /** Update the room's stream record from a snapshot, resume or leave reply. */
  private track(frame: ServerFrame, room: string | null, rejoin: boolean): SnapshotEvent | null {
    if (room === null) return null;
    if (frame.type === "room.snapshot") {
      this.tracker.snapshot(room, frame.payload);
      const recovered = frame.payload.recovered ?? null;
      return { room, kind: "snapshot", payload: frame.payload, recovered, rejoin };
    }
    if (frame.type === "room.resumed") {
      this.tracker.resumed(room, frame.payload);
      return { room, kind: "resumed", payload: frame.payload, recovered: true, rejoin };
    }
    if (frame.type === "room.left") this.tracker.remove(room);
    return null;
  }

  private dispatch(frame: ServerFrame): void {
    switch (frame.type) {
      case "leaderboard.updated":
        return this.events.emit("leaderboard", frame);
      case "room.player.connected":
      case "room.player.disconnected":
        return this.events.emit("presence", frame);
      case "room.tournament.started":
      case "room.tournament.completed":
        return this.events.emit("tournament", frame);
      case "rg.reality_check":
        return this.events.emit("realityCheck", frame);
      case "balance":
        return this.events.emit("balance", frame);
      case "player.score.updated":
        return this.events.emit("score", frame);
      case "server.draining": {
        this.holding = true;
        const after = frame.payload?.reconnect_after_ms;
        this.connection.draining(typeof after === "number" ? after : null);
        return this.events.emit("draining", frame);
      }
      default:
        return;
    }
  }

  private answer(request: PendingRequest, frame: ServerFrame): void {
    if (frame.type !== "error") return this.requests.settle(request, frame);
    if (frame.payload?.code === "DRAINING" && !request.internal) {
      // Refused before it ran: hold it, and send it again after the reconnect.
      this.holding = true;
      this.connection.draining(null);
      this.requests.queue(request);
      return;
    }
    const key = request.message.type === "spin" ? request.message.idempotency_key : null;
    const error = serverError(frame, key);
    if (key !== null && request.resends > 0 && REFUSED_BEFORE_REPLAY.has(error.code)) {
      // A resent spin refused before the server looked up its key: the first attempt may
      // have been placed, so its outcome is still unknown.
      this.requests.fail(request, error);
      return;
    }
    this.requests.refuse(request, error);
  }

  private emitError(error: RoomServerError): void {
    this.events.emit("error", error);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
