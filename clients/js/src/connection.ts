/** The socket's lifecycle: tokens, connection attempts, the close policy and reconnect delays. */

import { Backoff, type BackoffOptions } from "./backoff.js";
import { closeAction } from "./close_policy.js";
import { type Clock, SOCKET_OPEN, type SocketConstructor, type SocketLike } from "./env.js";
import { ConnectionClosedError, RoomServerError, TokenError } from "./errors.js";
import type { ConnectionState, StateChange, TokenReason } from "./types.js";

const NOOP = (): void => {};

export interface ConnectionOptions {
  url: URL;
  getToken: (reason: TokenReason) => string | Promise<string>;
  Socket: SocketConstructor;
  protocols: string[];
  clock: Clock;
  random: () => number;
  backoff: BackoffOptions | undefined;
  connectTimeoutMs: number;
  drainDelayMs: number;
  drainJitterMs: number;
  stableAfterMs: number;
  maxAttempts: number;
}

/** What the connection tells its owner. */
export interface ConnectionHooks {
  state(change: StateChange): void;
  error(error: RoomServerError): void;
  /** A socket opened. */
  opened(ws: SocketLike): void;
  message(ws: SocketLike, data: unknown): void;
  /** A socket that had opened is gone; a reconnect is scheduled. */
  dropped(ws: SocketLike): void;
  /** The connection stopped for good (the app closed it, or the close policy said stop). */
  stopped(error: ConnectionClosedError): void;
}

export class Connection {
  private readonly backoff: Backoff;
  private current: ConnectionState = "idle";
  private ws: SocketLike | null = null;
  private opened = false;
  private openedAt = 0;
  private drainAfterMs: number | null = null;
  private token: string | null = null;
  private needToken: TokenReason | null = "initial";
  private refreshedInStreak = false;
  private immediateUsed = false;
  private failures = 0;
  private attemptId = 0;
  private openTimer: unknown = null;
  private reconnectTimer: unknown = null;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.backoff = new Backoff(options.backoff, options.random);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The open socket, or null. */
  get socket(): SocketLike | null {
    return this.opened ? this.ws : null;
  }

  /** Start connecting (from `idle` or `closed`). */
  start(): void {
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
  close(): void {
    if (this.current === "closed" || this.current === "idle") return;
    this.stop("closed", null, "", false);
  }

  /** The node is draining (`server.draining`, or a DRAINING reply): reconnect after this delay. */
  draining(afterMs: number | null): void {
    this.drainAfterMs = afterMs !== null && afterMs >= 0 ? afterMs : (this.drainAfterMs ?? this.options.drainDelayMs);
  }

  /** Give up on a socket ourselves (open or rejoin timeout), as if it had closed with `code`. */
  abandon(ws: SocketLike, code: number, detail: string, reason?: string): void {
    if (ws !== this.ws) return;
    try {
      ws.close(4000, detail);
    } catch {
      // already closing
    }
    this.onClose(ws, code, detail, reason);
  }

  private async attempt(): Promise<void> {
    const id = ++this.attemptId;
    this.reconnectTimer = null;
    let token: string;
    try {
      token = await this.currentToken();
    } catch (error) {
      if (id !== this.attemptId) return;
      this.hooks.error(error instanceof TokenError ? error : new TokenError("getToken failed", { cause: error }));
      this.failed("token-failed", undefined, "");
      return;
    }
    if (id !== this.attemptId) return;
    const url = new URL(this.options.url.toString());
    url.searchParams.set("token", token);
    let ws: SocketLike;
    try {
      ws = new this.options.Socket(url.toString(), this.options.protocols) as SocketLike;
    } catch (error) {
      this.hooks.error(new RoomServerError("could not create the WebSocket", { cause: error }));
      this.failed("connect-failed", undefined, "");
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
    ws.onerror = NOOP; // a close event follows
    this.openTimer = this.options.clock.setTimeout(() => {
      if (ws === this.ws && !this.opened) this.abandon(ws, 1006, "open timeout");
    }, this.options.connectTimeoutMs);
  }

  private async currentToken(): Promise<string> {
    if (this.token !== null && this.needToken === null) return this.token;
    const token = await this.options.getToken(this.needToken ?? "initial");
    if (typeof token !== "string" || token.length === 0) throw new TokenError("getToken returned no token");
    this.token = token;
    this.needToken = null;
    return token;
  }

  private onOpen(ws: SocketLike): void {
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

  private onClose(ws: SocketLike, code: number, detail: string, reasonOverride?: string): void {
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
        // A close before open may be a refused token: fetch a new one once per failure streak.
        this.needToken = "expired";
        this.refreshedInStreak = true;
      }
    }
    const reason = reasonOverride ?? action.reason;
    if (!wasOpen) return this.failed(reason, code, detail);
    let delay: number;
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
  private failed(reason: string, code: number | undefined, detail: string): void {
    this.failures += 1;
    if (this.failures >= this.options.maxAttempts) return this.stop("gave-up", code ?? null, detail, true);
    this.setState("reconnecting", reason, code, detail);
    this.schedule(this.backoff.next());
  }

  private schedule(delay: number): void {
    if (this.current !== "reconnecting") return; // a hook stopped the client
    if (delay <= 0) {
      void this.attempt();
      return;
    }
    this.reconnectTimer = this.options.clock.setTimeout(() => void this.attempt(), delay);
  }

  private stop(reason: string, code: number | null, detail: string, fatal: boolean): void {
    this.attemptId += 1;
    this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (ws) {
      this.release(ws);
      try {
        if (ws.readyState <= SOCKET_OPEN) ws.close(1000, "client closed");
      } catch {
        // already closed
      }
    }
    this.opened = false;
    this.drainAfterMs = null;
    const error = new ConnectionClosedError(reason, code, fatal, detail);
    this.setState("closed", reason, code ?? undefined, detail);
    if (fatal) this.hooks.error(error);
    this.hooks.stopped(error);
  }

  /** Stop listening to a socket (handlers become no-ops: `ws` throws on an unheard error). */
  private release(ws: SocketLike): void {
    this.options.clock.clearTimeout(this.openTimer);
    this.openTimer = null;
    ws.onopen = NOOP;
    ws.onmessage = NOOP;
    ws.onclose = NOOP;
    ws.onerror = NOOP;
    if (this.ws === ws) this.ws = null;
  }

  private setState(state: ConnectionState, reason: string, code?: number, detail?: string): void {
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    const change: StateChange = { state, previous, reason };
    if (code !== undefined) change.code = code;
    if (detail) change.detail = detail;
    this.hooks.state(change);
  }
}
