/* @roomserver/client: built from clients/js/src by scripts/build.mjs; do not edit. */
var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/errors.ts
var errors_exports = {};
__export(errors_exports, {
  BridgeDisposedError: () => BridgeDisposedError,
  BridgeTimeoutError: () => BridgeTimeoutError,
  ConnectionClosedError: () => ConnectionClosedError,
  ConnectionLostError: () => ConnectionLostError,
  ProtocolError: () => ProtocolError,
  RejoinError: () => RejoinError,
  RequestTimeoutError: () => RequestTimeoutError,
  RoomServerError: () => RoomServerError,
  ServerError: () => ServerError,
  SpinOutcomeUnknownError: () => SpinOutcomeUnknownError,
  TokenError: () => TokenError
});
var RoomServerError = class extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
};
var ServerError = class extends RoomServerError {
  constructor(fields) {
    super(`${fields.code}: ${fields.message}`);
    this.code = fields.code;
    this.retryable = fields.retryable;
    this.path = fields.path ?? null;
    this.rid = fields.rid ?? null;
    this.room = fields.room ?? null;
    this.idempotencyKey = fields.idempotencyKey ?? null;
  }
};
var RequestTimeoutError = class extends RoomServerError {
  constructor(requestType, timeoutMs, sent) {
    super(`${requestType}: no reply within ${timeoutMs} ms${sent ? "" : " (not sent: no connection)"}`);
    this.requestType = requestType;
    this.timeoutMs = timeoutMs;
    this.sent = sent;
  }
};
var ConnectionClosedError = class extends RoomServerError {
  constructor(reason, code = null, fatal = true, detail = "") {
    const what = code === null ? reason : `${reason} (close code ${code}${detail ? `: ${detail}` : ""})`;
    super(`connection closed: ${what}`);
    this.code = code;
    this.reason = reason;
    this.fatal = fatal;
  }
};
var ConnectionLostError = class extends RoomServerError {
  constructor(requestType, resends) {
    super(`${requestType}: the connection dropped and ${resends} resends did not get a reply`);
    this.requestType = requestType;
  }
};
var SpinOutcomeUnknownError = class extends RoomServerError {
  constructor(room, stake, idempotencyKey, cause) {
    super(`spin ${idempotencyKey} in room ${room}: outcome unknown, retry with the same idempotency key`, {
      cause
    });
    this.room = room;
    this.stake = stake;
    this.idempotencyKey = idempotencyKey;
  }
};
var TokenError = class extends RoomServerError {
};
var ProtocolError = class extends RoomServerError {
};
var RejoinError = class extends RoomServerError {
  constructor(room, cause) {
    super(`could not rejoin room ${room}`, { cause });
    this.room = room;
  }
};
var BridgeTimeoutError = class extends RoomServerError {
  constructor(messageType, timeoutMs) {
    super(`${messageType}: no answer from the other window within ${timeoutMs} ms`);
    this.messageType = messageType;
  }
};
var BridgeDisposedError = class extends RoomServerError {
};

// src/backoff.ts
var DEFAULT_BACKOFF_MIN_MS = 500;
var DEFAULT_BACKOFF_MAX_MS = 3e4;
var Backoff = class {
  constructor(options = {}, random = Math.random) {
    this.attempt = 0;
    const minMs = options.minMs ?? DEFAULT_BACKOFF_MIN_MS;
    const maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!(Number.isFinite(minMs) && minMs >= 0)) throw new RangeError("backoff.minMs must be a number >= 0");
    if (!(Number.isFinite(maxMs) && maxMs >= minMs)) throw new RangeError("backoff.maxMs must be >= minMs");
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.random = random;
  }
  /** The upper bound of the delay of retry number `attempt` (0-based). */
  ceiling(attempt) {
    const exponent = Math.min(Math.max(0, attempt), 52);
    return Math.min(this.maxMs, this.minMs * 2 ** exponent);
  }
  /** The delay before the next retry; each call counts one more consecutive retry. */
  next() {
    const r = this.random();
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    const delay = unit * this.ceiling(this.attempt);
    this.attempt += 1;
    return delay;
  }
  /** How many delays were handed out since the last reset. */
  get attempts() {
    return this.attempt;
  }
  /** Start over (the connection proved stable). */
  reset() {
    this.attempt = 0;
  }
};

// src/close_policy.ts
var CloseCodes = {
  NORMAL: 1e3,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  INVALID_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  TOKEN_EXPIRED: 4001,
  FORBIDDEN: 4003,
  REPLACED: 4009
};
function closeAction(code, opened) {
  if (!opened) return { kind: "reconnect", delay: "backoff", refreshToken: true, reason: "connect-failed" };
  switch (code) {
    case CloseCodes.TOKEN_EXPIRED:
      return { kind: "reconnect", delay: "immediate", refreshToken: true, reason: "token-expired" };
    case CloseCodes.FORBIDDEN:
      return { kind: "stop", reason: "forbidden" };
    case CloseCodes.REPLACED:
      return { kind: "stop", reason: "replaced" };
    case CloseCodes.POLICY_VIOLATION:
      return { kind: "stop", reason: "policy-violation" };
    case CloseCodes.MESSAGE_TOO_BIG:
      return { kind: "stop", reason: "message-too-big" };
    case CloseCodes.INVALID_DATA:
      return { kind: "stop", reason: "invalid-data" };
    case CloseCodes.SERVICE_RESTART:
      return { kind: "reconnect", delay: "drain", refreshToken: false, reason: "server-restart" };
    case CloseCodes.TRY_AGAIN_LATER:
      return { kind: "reconnect", delay: "backoff", refreshToken: false, reason: "try-again-later" };
    case CloseCodes.INTERNAL_ERROR:
      return { kind: "reconnect", delay: "backoff", refreshToken: false, reason: "server-error" };
    default:
      return { kind: "reconnect", delay: "backoff", refreshToken: false, reason: "connection-lost" };
  }
}

// src/env.ts
var systemClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle)
};
var SOCKET_OPEN = 1;
function messageText(data) {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  if (Array.isArray(data) && data.every((part) => ArrayBuffer.isView(part))) {
    const decoder = new TextDecoder();
    const last = data.length - 1;
    return data.map((part, i) => decoder.decode(part, { stream: i < last })).join("");
  }
  return null;
}
function randomId(random) {
  const cryptoObject = globalThis.crypto;
  if (cryptoObject && typeof cryptoObject.randomUUID === "function") return cryptoObject.randomUUID();
  const hex = (n) => Array.from({ length: n }, () => Math.floor(random() * 16) & 15).map((d) => d.toString(16)).join("");
  const variant = (Math.floor(random() * 4) & 3 | 8).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

// src/connection.ts
var NOOP = () => {
};
var Connection = class {
  constructor(options, hooks) {
    this.options = options;
    this.hooks = hooks;
    this.current = "idle";
    this.ws = null;
    this.opened = false;
    this.openedAt = 0;
    this.drainAfterMs = null;
    this.token = null;
    this.needToken = "initial";
    this.refreshedInStreak = false;
    this.immediateUsed = false;
    this.failures = 0;
    this.attemptId = 0;
    this.openTimer = null;
    this.reconnectTimer = null;
    this.backoff = new Backoff(options.backoff, options.random);
  }
  get state() {
    return this.current;
  }
  /** The open socket, or null. */
  get socket() {
    return this.opened ? this.ws : null;
  }
  /** Start connecting (from `idle` or `closed`). */
  start() {
    if (this.current !== "idle" && this.current !== "closed") return;
    this.backoff.reset();
    this.failures = 0;
    this.refreshedInStreak = false;
    this.immediateUsed = false;
    if (this.token === null) this.needToken = "initial";
    this.setState("connecting", "connect");
    void this.attempt();
  }
  /** The app closes the connection for good. */
  close() {
    if (this.current === "closed" || this.current === "idle") return;
    this.stop("closed", null, "", false);
  }
  /** The node is draining (`server.draining`, or a DRAINING reply): reconnect after this delay. */
  draining(afterMs) {
    this.drainAfterMs = afterMs !== null && afterMs >= 0 ? afterMs : this.drainAfterMs ?? this.options.drainDelayMs;
  }
  /** Give up on a socket ourselves (open or rejoin timeout), as if it had closed with `code`. */
  abandon(ws, code, detail, reason) {
    if (ws !== this.ws) return;
    try {
      ws.close(4e3, detail);
    } catch {
    }
    this.onClose(ws, code, detail, reason);
  }
  async attempt() {
    const id = ++this.attemptId;
    this.reconnectTimer = null;
    let token;
    try {
      token = await this.currentToken();
    } catch (error) {
      if (id !== this.attemptId) return;
      this.hooks.error(error instanceof TokenError ? error : new TokenError("getToken failed", { cause: error }));
      this.failed("token-failed", void 0, "");
      return;
    }
    if (id !== this.attemptId) return;
    const url = new URL(this.options.url.toString());
    url.searchParams.set("token", token);
    let ws;
    try {
      ws = new this.options.Socket(url.toString(), this.options.protocols);
    } catch (error) {
      this.hooks.error(new RoomServerError("could not create the WebSocket", { cause: error }));
      this.failed("connect-failed", void 0, "");
      return;
    }
    this.ws = ws;
    this.opened = false;
    if ("binaryType" in ws) ws.binaryType = "arraybuffer";
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (event) => {
      if (ws === this.ws) this.hooks.message(ws, event.data);
    };
    ws.onclose = (event) => this.onClose(ws, event.code, event.reason ?? "");
    ws.onerror = NOOP;
    this.openTimer = this.options.clock.setTimeout(() => {
      if (ws === this.ws && !this.opened) this.abandon(ws, 1006, "open timeout");
    }, this.options.connectTimeoutMs);
  }
  async currentToken() {
    if (this.token !== null && this.needToken === null) return this.token;
    const token = await this.options.getToken(this.needToken ?? "initial");
    if (typeof token !== "string" || token.length === 0) throw new TokenError("getToken returned no token");
    this.token = token;
    this.needToken = null;
    return token;
  }
  onOpen(ws) {
    if (ws !== this.ws) return;
    this.options.clock.clearTimeout(this.openTimer);
    this.opened = true;
    this.openedAt = this.options.clock.now();
    this.failures = 0;
    this.refreshedInStreak = false;
    this.drainAfterMs = null;
    this.setState("open", this.current === "connecting" ? "connected" : "reconnected");
    this.hooks.opened(ws);
  }
  onClose(ws, code, detail, reasonOverride) {
    if (ws !== this.ws) return;
    this.release(ws);
    const wasOpen = this.opened;
    this.opened = false;
    const action = closeAction(code, wasOpen);
    if (action.kind === "stop") return this.stop(action.reason, code, detail, true);
    if (wasOpen && this.options.clock.now() - this.openedAt >= this.options.stableAfterMs) {
      this.backoff.reset();
      this.immediateUsed = false;
    }
    if (action.refreshToken) {
      if (action.delay === "immediate") this.needToken = "expired";
      else if (!this.refreshedInStreak) {
        this.needToken = "expired";
        this.refreshedInStreak = true;
      }
    }
    const reason = reasonOverride ?? action.reason;
    if (!wasOpen) return this.failed(reason, code, detail);
    let delay;
    if (this.drainAfterMs !== null || action.delay === "drain") {
      delay = (this.drainAfterMs ?? this.options.drainDelayMs) + this.options.random() * this.options.drainJitterMs;
    } else if (action.delay === "immediate" && !this.immediateUsed) {
      this.immediateUsed = true;
      delay = 0;
    } else {
      delay = this.backoff.next();
    }
    this.hooks.dropped(ws);
    this.setState("reconnecting", reason, code, detail);
    this.schedule(delay);
  }
  /** A connection attempt failed before open. */
  failed(reason, code, detail) {
    this.failures += 1;
    if (this.failures >= this.options.maxAttempts) return this.stop("gave-up", code ?? null, detail, true);
    this.setState("reconnecting", reason, code, detail);
    this.schedule(this.backoff.next());
  }
  schedule(delay) {
    if (this.current !== "reconnecting") return;
    if (delay <= 0) {
      void this.attempt();
      return;
    }
    this.reconnectTimer = this.options.clock.setTimeout(() => void this.attempt(), delay);
  }
  stop(reason, code, detail, fatal) {
    this.attemptId += 1;
    this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (ws) {
      this.release(ws);
      try {
        if (ws.readyState <= SOCKET_OPEN) ws.close(1e3, "client closed");
      } catch {
      }
    }
    this.opened = false;
    this.drainAfterMs = null;
    const error = new ConnectionClosedError(reason, code, fatal, detail);
    this.setState("closed", reason, code ?? void 0, detail);
    if (fatal) this.hooks.error(error);
    this.hooks.stopped(error);
  }
  /** Stop listening to a socket (handlers become no-ops: `ws` throws on an unheard error). */
  release(ws) {
    this.options.clock.clearTimeout(this.openTimer);
    this.openTimer = null;
    ws.onopen = NOOP;
    ws.onmessage = NOOP;
    ws.onclose = NOOP;
    ws.onerror = NOOP;
    if (this.ws === ws) this.ws = null;
  }
  setState(state, reason, code, detail) {
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    const change = { state, previous, reason };
    if (code !== void 0) change.code = code;
    if (detail) change.detail = detail;
    this.hooks.state(change);
  }
};

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.handlers = /* @__PURE__ */ new Map();
  }
  /** Call `handler` on every `event`; returns a function that removes it. */
  on(event, handler) {
    let set = this.handlers.get(event);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }
  off(event, handler) {
    this.handlers.get(event)?.delete(handler);
  }
  /** True when some handler listens to `event`. */
  has(event) {
    return (this.handlers.get(event)?.size ?? 0) > 0;
  }
  emit(event, value) {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(value);
      } catch (error) {
        reportHandlerError(error);
      }
    }
  }
  clear() {
    this.handlers.clear();
  }
};
function reportHandlerError(error) {
  const report = globalThis.reportError;
  if (typeof report === "function") report(error);
  else console.error(error);
}

// src/frames.ts
function parseFrame(data) {
  const text = messageText(data);
  if (text === null) return null;
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
    if (typeof value.type !== "string") return null;
    return value;
  } catch {
    return null;
  }
}
function serverError(frame, idempotencyKey) {
  const payload = frame.payload ?? {};
  return new ServerError({
    code: typeof payload.code === "string" ? payload.code : "INTERNAL",
    message: typeof payload.message === "string" ? payload.message : "",
    retryable: payload.retryable === true,
    path: payload.path ?? null,
    rid: frame.rid ?? null,
    room: frame.room ?? null,
    idempotencyKey
  });
}

// src/requests.ts
var REPLY_TYPES = {
  "room.join": ["room.snapshot", "room.resumed"],
  "room.leave": ["room.left"],
  spin: ["spin.result"],
  "balance.get": ["balance"],
  ping: ["pong"],
  // Benchmarks only, never sent by this client: no reply (its `bench.update` is a room frame).
  "bench.publish": []
};
var RequestTable = class {
  constructor(clock, options) {
    this.clock = clock;
    this.options = options;
    this.pending = /* @__PURE__ */ new Map();
    this.counter = 0;
  }
  /** A new request; `promise` settles with its reply frame (or null for a leave ended by a drop). */
  create(message, internal) {
    this.counter += 1;
    const rid = `c-${this.counter}`;
    let resolve;
    let reject;
    const promise = new Promise((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const request = {
      order: this.counter,
      rid,
      message: { ...message, rid },
      internal,
      socket: null,
      everSent: false,
      resends: 0,
      timer: null,
      resolve,
      reject
    };
    this.pending.set(rid, request);
    return { request, promise };
  }
  get(rid) {
    return this.pending.get(rid);
  }
  get size() {
    return this.pending.size;
  }
  /** True when `frame` answers `request` (a reply of the expected type, or an `error`). */
  static answers(request, frame) {
    return frame.type === "error" || REPLY_TYPES[request.message.type].includes(frame.type);
  }
  /** The request went out on `socket`: wait `requestTimeoutMs` for its reply. */
  sent(request, socket) {
    this.clock.clearTimeout(request.timer);
    request.socket = socket;
    request.everSent = true;
    const ms = this.options.requestTimeoutMs;
    request.timer = this.clock.setTimeout(() => {
      this.fail(request, new RequestTimeoutError(request.message.type, ms, true));
    }, ms);
  }
  /** The request waits for a connection: at most `queueTimeoutMs`. */
  queue(request) {
    this.clock.clearTimeout(request.timer);
    request.socket = null;
    const ms = this.options.queueTimeoutMs;
    request.timer = this.clock.setTimeout(() => {
      this.fail(request, new RequestTimeoutError(request.message.type, ms, false));
    }, ms);
  }
  /** The requests waiting for a connection, oldest first. */
  queued() {
    return [...this.pending.values()].filter((r) => r.socket === null && !r.internal).sort((a, b) => a.order - b.order);
  }
  settle(request, frame) {
    if (!this.remove(request)) return;
    request.resolve(frame);
  }
  /** The server answered `request` with an error: its outcome is known, reject with it as is. */
  refuse(request, error) {
    if (!this.remove(request)) return;
    request.reject(error);
  }
  /** Reject `request` unanswered; a spin that may have reached the server becomes SpinOutcomeUnknownError. */
  fail(request, cause) {
    if (!this.remove(request)) return;
    request.reject(outcomeError(request, cause));
  }
  /**
   * `socket` dropped: requests sent on it are queued for a resend (a leave is over: the
   * connection's memberships went with it), or fail once `maxResends` resends were used.
   */
  dropped(socket, onLeave) {
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
  failAll(cause) {
    for (const request of [...this.pending.values()]) this.fail(request, cause);
  }
  remove(request) {
    if (this.pending.get(request.rid) !== request) return false;
    this.pending.delete(request.rid);
    this.clock.clearTimeout(request.timer);
    request.timer = null;
    return true;
  }
};
function outcomeError(request, cause) {
  const message = request.message;
  if (message.type === "spin" && request.everSent) {
    return new SpinOutcomeUnknownError(message.room, message.stake, message.idempotency_key, cause);
  }
  return cause;
}

// src/rooms.ts
var RoomTracker = class {
  constructor() {
    this.records = /* @__PURE__ */ new Map();
  }
  get(room) {
    return this.records.get(room);
  }
  /** Every room with a snapshot that is not being left: the rooms to rejoin after a reconnect. */
  joined() {
    return [...this.records.values()].filter((record) => record.snapshot !== null && !record.leaving);
  }
  all() {
    return [...this.records.values()];
  }
  ensure(room) {
    let record = this.records.get(room);
    if (!record) {
      record = { room, lastSeq: null, epoch: null, snapshot: null, leaving: false };
      this.records.set(room, record);
    }
    return record;
  }
  /**
   * A `room.snapshot`: the fresh state. Its `seq` is the stream's current offset (the next
   * broadcast has `seq + 1`) and becomes the baseline, also after `recovered: false`.
   */
  snapshot(room, payload) {
    const record = this.ensure(room);
    record.lastSeq = payload.seq;
    record.epoch = payload.epoch ?? null;
    record.snapshot = payload;
    record.leaving = false;
    return record;
  }
  /**
   * A `room.resumed`: the missed frames (`replayed` of them, up to `payload.seq`) follow, so the
   * baseline stays at the last seq seen and those frames advance it.
   */
  resumed(room, payload) {
    const record = this.ensure(room);
    if (record.lastSeq === null) record.lastSeq = payload.seq - payload.replayed;
    record.epoch = payload.epoch ?? record.epoch;
    record.snapshot = payload;
    record.leaving = false;
    return record;
  }
  /** Classify a broadcast frame with `seq` for `room`, and advance the baseline when delivered. */
  accept(room, seq) {
    const record = this.records.get(room);
    if (!record || record.lastSeq === null) return { kind: "deliver" };
    const last = record.lastSeq;
    if (seq <= last) return { kind: "duplicate", lastSeq: last };
    record.lastSeq = seq;
    if (seq > last + 1) return { kind: "gap", expected: last + 1, got: seq };
    return { kind: "deliver" };
  }
  /** The `since_seq` / `since_epoch` of a rejoin. */
  resumeFrom(room) {
    const record = this.records.get(room);
    const from = {};
    if (record?.lastSeq != null) from.since_seq = record.lastSeq;
    if (record?.epoch != null) from.since_epoch = record.epoch;
    return from;
  }
  markLeaving(room) {
    const record = this.records.get(room);
    if (record) record.leaving = true;
  }
  remove(room) {
    this.records.delete(room);
  }
  clear() {
    this.records.clear();
  }
};

// src/client.ts
var SUBPROTOCOL = "roomserver.v1";
var REFUSED_BEFORE_REPLAY = /* @__PURE__ */ new Set([
  "BAD_MESSAGE",
  "RATE_LIMITED",
  "DRAINING",
  "NOT_IN_ROOM"
]);
var RoomClient = class {
  constructor(options) {
    this.tracker = new RoomTracker();
    this.events = new Emitter();
    /** The open socket once every joined room was rejoined (requests go out only then). */
    this.ready = null;
    /** A `server.draining` (or DRAINING reply) was seen: new requests wait for the reconnect. */
    this.holding = false;
    this.spinning = 0;
    this.waiters = [];
    const url = new URL(options.url);
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new TypeError(`url must be ws:// or wss://, got ${url.protocol}`);
    }
    if (typeof options.getToken !== "function") throw new TypeError("getToken must be a function");
    const Socket = options.WebSocket ?? globalThis.WebSocket;
    if (!Socket) throw new TypeError("no WebSocket: pass options.WebSocket (the `ws` package in Node.js)");
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.random = options.random ?? Math.random;
    this.requests = new RequestTable(clock, {
      requestTimeoutMs: options.requestTimeoutMs ?? 1e4,
      queueTimeoutMs: options.queueTimeoutMs ?? 3e4,
      maxResends: options.maxResends ?? 3
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
        connectTimeoutMs: options.connectTimeoutMs ?? 1e4,
        drainDelayMs: options.drainDelayMs ?? 1e3,
        drainJitterMs: options.drainJitterMs ?? 1e3,
        stableAfterMs: options.stableAfterMs ?? 5e3,
        maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY
      },
      {
        state: (change) => this.events.emit("state", change),
        error: (error) => this.emitError(error),
        opened: (ws) => this.onOpened(ws),
        message: (ws, data) => this.onMessage(ws, data),
        dropped: (ws) => this.onDropped(ws),
        stopped: (error) => this.onStopped(error)
      }
    );
  }
  // ------------------------------------------------------------------ public API
  get state() {
    return this.connection.state;
  }
  /** Spins started and not settled yet. */
  get spinsInFlight() {
    return this.spinning;
  }
  on(event, handler) {
    return this.events.on(event, handler);
  }
  off(event, handler) {
    this.events.off(event, handler);
  }
  /** Open the connection; resolves once open, rejects if the client stops for good first. */
  connect() {
    if (this.state === "open") return Promise.resolve();
    const promise = new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.connection.start();
    return promise;
  }
  /** Join a room; resolves with its snapshot. */
  async join(room) {
    const frame = await this.request({ type: "room.join", room });
    return frame.payload;
  }
  async leave(room) {
    this.tracker.markLeaving(room);
    try {
      await this.request({ type: "room.leave", room });
    } finally {
      this.tracker.remove(room);
    }
  }
  async balance(room) {
    const frame = await this.request({ type: "balance.get", room });
    return frame.payload;
  }
  /** Round-trip time in milliseconds (by the client's clock). */
  async ping() {
    const start = this.clock.now();
    await this.request({ type: "ping", t: start });
    return this.clock.now() - start;
  }
  /**
   * Place a spin. Its idempotency key is made once and reused on every resend, so a spin is
   * never placed twice; when its outcome cannot be known it rejects with SpinOutcomeUnknownError.
   */
  spin(room, options) {
    const { stake, clientSeed } = options;
    if (!Number.isSafeInteger(stake) || stake < 1) return Promise.reject(new RangeError("stake must be an integer >= 1"));
    const key = options.idempotencyKey ?? randomId(this.random);
    if (typeof key !== "string" || key.length < 1 || key.length > 128) {
      return Promise.reject(new RangeError("idempotencyKey must be 1-128 characters"));
    }
    const message = { type: "spin", room, stake, idempotency_key: key };
    if (clientSeed !== void 0) message.client_seed = clientSeed;
    this.spinning += 1;
    this.events.emit("spinStarted", { room, idempotencyKey: key, stake });
    const result = this.request(message).then((frame) => frame.payload);
    result.then(
      (payload) => this.spinDone({ room, idempotencyKey: key, stake, result: payload }),
      (error) => this.spinDone({ room, idempotencyKey: key, stake, error: asError(error) })
    );
    return result;
  }
  /** The stream record of a room (last seq, epoch, last snapshot), while joined. */
  room(room) {
    const record = this.tracker.get(room);
    if (!record) return void 0;
    return { room: record.room, lastSeq: record.lastSeq, epoch: record.epoch, snapshot: record.snapshot };
  }
  /** The rooms joined (with a snapshot), in join order. */
  rooms() {
    return this.tracker.joined().map((record) => record.room);
  }
  /** Close for good: pending requests reject, no reconnect. connect() may be called again. */
  close() {
    this.connection.close();
  }
  // ------------------------------------------------------------------ requests
  async request(message, internal = false) {
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
  send(request, socket) {
    this.requests.sent(request, socket);
    try {
      socket.send(JSON.stringify(request.message));
    } catch {
    }
  }
  flush() {
    for (const request of this.requests.queued()) {
      if (!this.ready || this.holding) return;
      this.send(request, this.ready);
    }
  }
  spinDone(settled) {
    this.spinning -= 1;
    this.events.emit("spinSettled", settled);
  }
  // ------------------------------------------------------------------ connection events
  onOpened(ws) {
    this.holding = false;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    this.rejoin(ws);
  }
  /** Rejoin every joined room with `since_seq`/`since_epoch`, then send the queued requests. */
  rejoin(ws) {
    const rooms = this.tracker.joined();
    let left = rooms.length;
    const done = () => {
      if (this.connection.socket !== ws) return;
      this.ready = ws;
      this.flush();
    };
    if (left === 0) return done();
    for (const record of rooms) {
      const message = { type: "room.join", room: record.room, ...this.tracker.resumeFrom(record.room) };
      this.request(message, true).then(
        () => {
          if (--left === 0) done();
        },
        (error) => {
          if (this.connection.socket !== ws) return;
          this.emitError(new RejoinError(record.room, error));
          if (error instanceof ServerError) {
            this.tracker.remove(record.room);
            if (--left === 0) done();
          } else {
            this.connection.abandon(ws, 1006, "rejoin timeout", "rejoin-timeout");
          }
        }
      );
    }
  }
  onDropped(ws) {
    this.ready = null;
    this.requests.dropped(ws, (room) => this.tracker.remove(room));
  }
  onStopped(error) {
    this.ready = null;
    this.holding = false;
    this.requests.failAll(error);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.tracker.clear();
  }
  // ------------------------------------------------------------------ frames
  onMessage(ws, data) {
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
    const request = typeof frame.rid === "string" ? this.requests.get(frame.rid) : void 0;
    const reply = request !== void 0 && request.socket === ws && RequestTable.answers(request, frame);
    const snapshot = this.track(frame, room, reply && request.internal);
    this.events.emit("frame", frame);
    if (snapshot) this.events.emit("snapshot", snapshot);
    this.dispatch(frame);
    if (reply) this.answer(request, frame);
    else if (frame.type === "error") this.emitError(serverError(frame, null));
  }
  /** Update the room's stream record from a snapshot, resume or leave reply. */
  track(frame, room, rejoin) {
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
  dispatch(frame) {
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
  answer(request, frame) {
    if (frame.type !== "error") return this.requests.settle(request, frame);
    if (frame.payload?.code === "DRAINING" && !request.internal) {
      this.holding = true;
      this.connection.draining(null);
      this.requests.queue(request);
      return;
    }
    const key = request.message.type === "spin" ? request.message.idempotency_key : null;
    const error = serverError(frame, key);
    if (key !== null && request.resends > 0 && REFUSED_BEFORE_REPLAY.has(error.code)) {
      this.requests.fail(request, error);
      return;
    }
    this.requests.refuse(request, error);
  }
  emitError(error) {
    this.events.emit("error", error);
  }
};
function asError(error) {
  return error instanceof Error ? error : new Error(String(error));
}

// src/envelope.ts
var BRIDGE_NS = "roomserver";
var BRIDGE_VERSION = 1;
var FORWARDED_FRAME_TYPES = /* @__PURE__ */ new Set([
  "room.snapshot",
  "room.resumed",
  "spin.result",
  "leaderboard.updated",
  "player.score.updated",
  "room.player.connected",
  "room.player.disconnected",
  "room.tournament.started",
  "room.tournament.completed",
  "balance",
  "rg.reality_check",
  "server.draining"
]);
function envelope(type, fields = {}) {
  return { ...fields, ns: BRIDGE_NS, v: BRIDGE_VERSION, type };
}
function openEnvelope(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
  const message = data;
  if (message.ns !== BRIDGE_NS || message.v !== BRIDGE_VERSION) return null;
  if (typeof message.type !== "string" || message.type.length === 0) return null;
  return message;
}
function checkOrigin(origin, name) {
  if (typeof origin !== "string" || origin === "*" || origin === "null") {
    throw new TypeError(`${name} must be an exact origin like "https://casino.example", never "*"`);
  }
  let parsed;
  try {
    parsed = new URL(origin);
  } catch {
    throw new TypeError(`${name} is not a valid origin: ${origin}`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:" || parsed.origin !== origin) {
    throw new TypeError(`${name} must be an exact http(s) origin (scheme://host[:port], no path): ${origin}`);
  }
  return origin;
}
function isForwardedFrame(frame) {
  if (frame === null || typeof frame !== "object") return false;
  const type = frame.type;
  return typeof type === "string" && FORWARDED_FRAME_TYPES.has(type);
}
function str(message, field, fallback = "") {
  const value = message[field];
  return typeof value === "string" ? value : fallback;
}
function defaultWindow() {
  return globalThis.window;
}

// src/version.ts
var version = "1.0.0";

// src/bridge_game.ts
var GameBridge = class {
  constructor(options) {
    this.events = new Emitter();
    this.listener = (event) => this.receive(event);
    this.helloWaiters = [];
    this.tokenWaiters = [];
    this.detachClient = null;
    this.client = null;
    this.spins = 0;
    this.isPaused = false;
    this.deferred = null;
    this.disposed = false;
    this.hostOrigin = checkOrigin(options.hostOrigin, "hostOrigin");
    this.gameId = String(options.gameId);
    const win = options.window ?? defaultWindow();
    if (!win) throw new TypeError("no window: pass options.window");
    const parent = options.parent ?? win.parent;
    if (!parent) throw new TypeError("no parent window: pass options.parent");
    this.window = win;
    this.parent = parent;
    this.timeoutMs = options.timeoutMs ?? 1e4;
    this.clock = options.clock ?? systemClock;
    this.window.addEventListener("message", this.listener);
  }
  on(event, handler) {
    return this.events.on(event, handler);
  }
  off(event, handler) {
    this.events.off(event, handler);
  }
  /** True while a pause is applied. */
  get paused() {
    return this.isPaused;
  }
  /** True while a spin is in flight (between game.busy and game.idle). */
  get busy() {
    return this.spins > 0;
  }
  /** Post `game.hello`; resolves with the host's `host.hello`. */
  hello() {
    const promise = this.wait(this.helloWaiters, "game.hello");
    this.post("game.hello", { game_id: this.gameId, sdk_version: version });
    return promise;
  }
  /** Ask the host for a token (`token.request`); resolves with `token.response`'s token. */
  requestToken(reason = "initial") {
    const promise = this.wait(this.tokenWaiters, "token.request");
    this.post("token.request", { reason });
    return promise;
  }
  ready(room, playerId) {
    this.post("game.ready", { room, player_id: playerId });
  }
  cashier(currency) {
    this.post("cashier.request", { currency });
  }
  requestClose() {
    this.post("close.request");
  }
  error(code, message) {
    this.post("game.error", { code, message });
  }
  /**
   * Forward the client's allow-listed frames, its connection state and its spins (round.started /
   * round.ended, game.busy / game.idle) to the host. Returns a function that detaches it.
   */
  attach(client) {
    this.detach();
    const offs = [
      client.on("frame", (frame) => {
        if (isForwardedFrame(frame)) this.post("frame", { frame });
      }),
      client.on("state", (change) => {
        if (change.state !== "idle") this.post("connection.state", { state: change.state, reason: change.reason });
      }),
      client.on("spinStarted", (spin) => {
        this.spins += 1;
        if (this.spins === 1) this.post("game.busy");
        this.post("round.started", { room: spin.room, idempotency_key: spin.idempotencyKey });
      }),
      client.on("spinSettled", (spin) => {
        const ended = { room: spin.room, idempotency_key: spin.idempotencyKey };
        if (spin.result) {
          ended.spin_id = spin.result.spin_id;
          ended.win = spin.result.win;
          ended.balance = spin.result.balance;
        } else if (spin.error) {
          ended.error = spin.error instanceof ServerError ? spin.error.code : spin.error.name;
        }
        this.post("round.ended", ended);
        this.spins = Math.max(0, this.spins - 1);
        if (this.spins === 0) {
          this.post("game.idle");
          this.applyDeferred();
        }
      })
    ];
    this.client = client;
    this.detachClient = () => {
      for (const off of offs) off();
    };
    return () => {
      if (this.client === client) this.detach();
    };
  }
  /** Stop listening; pending hello()/requestToken() reject. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.window.removeEventListener("message", this.listener);
    this.detach();
    const error = new BridgeDisposedError("the bridge was disposed");
    for (const waiter of [...this.helloWaiters.splice(0), ...this.tokenWaiters.splice(0)]) {
      this.clock.clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.events.clear();
  }
  detach() {
    this.detachClient?.();
    this.detachClient = null;
    this.client = null;
    this.spins = 0;
  }
  post(type, fields = {}) {
    if (this.disposed) return;
    this.parent.postMessage(envelope(type, fields), this.hostOrigin);
  }
  wait(waiters, type) {
    if (this.disposed) return Promise.reject(new BridgeDisposedError("the bridge was disposed"));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null };
      waiter.timer = this.clock.setTimeout(() => {
        const index = waiters.indexOf(waiter);
        if (index >= 0) waiters.splice(index, 1);
        reject(new BridgeTimeoutError(type, this.timeoutMs));
      }, this.timeoutMs);
      waiters.push(waiter);
    });
  }
  receive(event) {
    try {
      if (!event || event.origin !== this.hostOrigin || event.source !== this.parent) return;
      const message = openEnvelope(event.data);
      if (message) this.handle(message.type, message);
    } catch {
    }
  }
  handle(type, message) {
    const field = (name) => str(message, name);
    switch (type) {
      case "host.hello": {
        const hello = { casino_id: field("casino_id"), locale: field("locale"), currency: field("currency") };
        for (const waiter of this.helloWaiters.splice(0)) {
          this.clock.clearTimeout(waiter.timer);
          waiter.resolve(hello);
        }
        return this.events.emit("hostHello", hello);
      }
      case "token.response": {
        const token = field("token");
        const waiter = token ? this.tokenWaiters.shift() : void 0;
        if (!waiter) return;
        this.clock.clearTimeout(waiter.timer);
        return waiter.resolve(token);
      }
      case "game.pause":
      case "game.resume":
        return this.pauseOrResume(type === "game.pause", field("reason"));
      case "balance.refresh": {
        this.events.emit("balanceRefresh", {});
        const client = this.client;
        if (client) for (const room of client.rooms()) client.balance(room).catch(() => {
        });
        return;
      }
      case "audio.set":
        if (typeof message.muted === "boolean") this.events.emit("audio", { muted: message.muted });
        return;
      case "rg.ack":
        return this.events.emit("rgAck", { kind: field("kind") });
      case "game.close":
        this.events.emit("close", {});
        return this.closeClient();
      default:
        return;
    }
  }
  /** Applied at once when no spin is in flight; otherwise the last request waits for game.idle. */
  pauseOrResume(pause, reason) {
    if (this.spins > 0) {
      this.deferred = { pause, reason };
      return;
    }
    this.apply(pause, reason);
  }
  applyDeferred() {
    const deferred = this.deferred;
    this.deferred = null;
    if (deferred && deferred.pause !== this.isPaused) this.apply(deferred.pause, deferred.reason);
  }
  apply(pause, reason) {
    this.isPaused = pause;
    this.events.emit(pause ? "pause" : "resume", { reason });
  }
  closeClient() {
    const client = this.client;
    if (!client) return;
    const leaves = client.rooms().map((room) => client.leave(room).catch(() => {
    }));
    void Promise.all(leaves).then(() => client.close());
  }
};

// src/bridge_host.ts
var CasinoHost = class {
  constructor(options) {
    this.events = new Emitter();
    this.listener = (event) => this.receive(event);
    this.gameBusy = false;
    this.disposed = false;
    this.gameOrigin = checkOrigin(options.gameOrigin, "gameOrigin");
    if (!options.iframe) throw new TypeError("iframe is required");
    if (typeof options.getToken !== "function") throw new TypeError("getToken must be a function");
    const win = options.window ?? defaultWindow();
    if (!win) throw new TypeError("no window: pass options.window");
    this.iframe = options.iframe;
    this.hello = { casino_id: options.casinoId, locale: options.locale, currency: options.currency };
    this.getToken = options.getToken;
    this.window = win;
    this.window.addEventListener("message", this.listener);
  }
  on(event, handler) {
    return this.events.on(event, handler);
  }
  off(event, handler) {
    this.events.off(event, handler);
  }
  /** True between the game's `game.busy` and `game.idle`. */
  get busy() {
    return this.gameBusy;
  }
  /** Ask the game to pause (applied at its next idle, never mid-spin). */
  pause(reason) {
    this.post("game.pause", { reason });
  }
  resume(reason) {
    this.post("game.resume", { reason });
  }
  refreshBalance() {
    this.post("balance.refresh");
  }
  setMuted(muted) {
    this.post("audio.set", { muted: Boolean(muted) });
  }
  ackRealityCheck(kind) {
    this.post("rg.ack", { kind });
  }
  /** The game leaves its room and closes its socket. */
  closeGame() {
    this.post("game.close");
  }
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.window.removeEventListener("message", this.listener);
    this.events.clear();
  }
  post(type, fields = {}) {
    const target = this.iframe.contentWindow;
    if (this.disposed || !target) return;
    target.postMessage(envelope(type, fields), this.gameOrigin);
  }
  receive(event) {
    try {
      if (!event || event.origin !== this.gameOrigin) return;
      const source = this.iframe.contentWindow;
      if (!source || event.source !== source) return;
      const message = openEnvelope(event.data);
      if (message) this.handle(message);
    } catch {
    }
  }
  handle(message) {
    const field = (name) => str(message, name);
    switch (message.type) {
      case "game.hello":
        this.post("host.hello", this.hello);
        return this.events.emit("hello", { game_id: field("game_id"), sdk_version: field("sdk_version") });
      case "token.request":
        return this.answerToken(field("reason") === "expired" ? "expired" : "initial");
      case "game.ready":
        return this.events.emit("ready", { room: field("room"), player_id: field("player_id") });
      case "frame":
        if (isForwardedFrame(message.frame)) this.events.emit("frame", message.frame);
        return;
      case "connection.state":
        return this.events.emit("state", { state: field("state"), reason: field("reason") });
      case "round.started":
        return this.events.emit("roundStarted", { room: field("room"), idempotency_key: field("idempotency_key") });
      case "round.ended":
        return this.events.emit("roundEnded", roundEnded(message));
      case "game.busy":
        this.gameBusy = true;
        return this.events.emit("busy", {});
      case "game.idle":
        this.gameBusy = false;
        return this.events.emit("idle", {});
      case "cashier.request":
        return this.events.emit("cashier", { currency: field("currency") });
      case "close.request":
        return this.events.emit("closeRequest", {});
      case "game.error":
        return this.events.emit("gameError", { code: field("code"), message: field("message") });
      default:
        return;
    }
  }
  answerToken(reason) {
    Promise.resolve().then(() => this.getToken(reason)).then(
      (token) => {
        if (typeof token !== "string" || token.length === 0) throw new TokenError("getToken returned no token");
        this.post("token.response", { token });
      }
    ).catch((error) => this.events.emit("tokenError", { reason, error }));
  }
};
function roundEnded(message) {
  const ended = { room: str(message, "room"), idempotency_key: str(message, "idempotency_key") };
  if (typeof message.spin_id === "string") ended.spin_id = message.spin_id;
  if (typeof message.win === "number") ended.win = message.win;
  if (typeof message.balance === "number") ended.balance = message.balance;
  if (typeof message.error === "string") ended.error = message.error;
  return ended;
}
export {
  BRIDGE_NS,
  BRIDGE_VERSION,
  Backoff,
  BridgeDisposedError,
  BridgeTimeoutError,
  CasinoHost,
  CloseCodes,
  ConnectionClosedError,
  ConnectionLostError,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_MIN_MS,
  FORWARDED_FRAME_TYPES,
  GameBridge,
  ProtocolError,
  RejoinError,
  RequestTimeoutError,
  RoomClient,
  RoomServerError,
  SUBPROTOCOL,
  ServerError,
  SpinOutcomeUnknownError,
  TokenError,
  checkOrigin,
  closeAction,
  errors_exports as errors,
  version
};
