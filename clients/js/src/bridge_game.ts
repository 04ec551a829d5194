/** GameBridge: the game iframe's side of the postMessage bridge (EMBEDDING.md). */

import { Emitter, type Handler } from "./emitter.js";
import {
  checkOrigin,
  defaultWindow,
  envelope,
  isForwardedFrame,
  type MessageEventLike,
  type MessageTarget,
  openEnvelope,
  str,
  type WindowLike,
} from "./envelope.js";
import { type Clock, systemClock } from "./env.js";
import { BridgeDisposedError, BridgeTimeoutError, ServerError } from "./errors.js";
import type { RoomClient } from "./client.js";
import { version } from "./version.js";

/** What the bridge uses of a RoomClient. */
export type BridgeClient = Pick<RoomClient, "on" | "balance" | "leave" | "close" | "rooms">;

export interface GameBridgeOptions {
  /** The casino page's exact origin, e.g. "https://casino.example". */
  hostOrigin: string;
  gameId: string;
  /** The iframe's window (listens for `message`); default globalThis.window. */
  window?: WindowLike;
  /** The host window; default window.parent. */
  parent?: MessageTarget;
  /** How long hello() and requestToken() wait for the host (default 10 000 ms). */
  timeoutMs?: number;
  clock?: Clock;
}

export interface HostHello {
  casino_id: string;
  locale: string;
  currency: string;
}

export interface GameBridgeEvents {
  hostHello: HostHello;
  /** The host asked to pause; applied only when no spin is in flight (else at the next idle). */
  pause: { reason: string };
  resume: { reason: string };
  /** The host asked for a fresh balance (an attached client is asked for it as well). */
  balanceRefresh: Record<string, never>;
  audio: { muted: boolean };
  rgAck: { kind: string };
  /** The host closes the game (an attached client leaves its rooms and closes). */
  close: Record<string, never>;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  timer: unknown;
}

export class GameBridge {
  private readonly hostOrigin: string;
  private readonly gameId: string;
  private readonly window: WindowLike;
  private readonly parent: MessageTarget;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly events = new Emitter<GameBridgeEvents>();
  private readonly listener = (event: MessageEventLike): void => this.receive(event);
  private helloWaiters: Waiter<HostHello>[] = [];
  private tokenWaiters: Waiter<string>[] = [];
  private detachClient: (() => void) | null = null;
  private client: BridgeClient | null = null;
  private spins = 0;
  private isPaused = false;
  private deferred: { pause: boolean; reason: string } | null = null;
  private disposed = false;

  constructor(options: GameBridgeOptions) {
    this.hostOrigin = checkOrigin(options.hostOrigin, "hostOrigin");
    this.gameId = String(options.gameId);
    const win = options.window ?? defaultWindow();
    if (!win) throw new TypeError("no window: pass options.window");
    const parent = options.parent ?? (win as { parent?: MessageTarget }).parent;
    if (!parent) throw new TypeError("no parent window: pass options.parent");
    this.window = win;
    this.parent = parent;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    this.window.addEventListener("message", this.listener);
  }

  on<K extends keyof GameBridgeEvents>(event: K, handler: Handler<GameBridgeEvents[K]>): () => void {
    return this.events.on(event, handler);
  }

  off<K extends keyof GameBridgeEvents>(event: K, handler: Handler<GameBridgeEvents[K]>): void {
    this.events.off(event, handler);
  }

  /** True while a pause is applied. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** True while a spin is in flight (between game.busy and game.idle). */
  get busy(): boolean {
    return this.spins > 0;
  }

  /** Post `game.hello`; resolves with the host's `host.hello`. */
  hello(): Promise<HostHello> {
    const promise = this.wait(this.helloWaiters, "game.hello");
    this.post("game.hello", { game_id: this.gameId, sdk_version: version });
    return promise;
  }

  /** Ask the host for a token (`token.request`); resolves with `token.response`'s token. */
  requestToken(reason: "initial" | "expired" = "initial"): Promise<string> {
    const promise = this.wait(this.tokenWaiters, "token.request");
    this.post("token.request", { reason });
    return promise;
  }

  ready(room: string, playerId: string): void {
    this.post("game.ready", { room, player_id: playerId });
  }

  cashier(currency: string): void {
    this.post("cashier.request", { currency });
  }

  requestClose(): void {
    this.post("close.request");
  }

  error(code: string, message: string): void {
    this.post("game.error", { code, message });
  }

  /**
   * Forward the client's allow-listed frames, its connection state and its spins (round.started /
   * round.ended, game.busy / game.idle) to the host. Returns a function that detaches it.
   */
  attach(client: BridgeClient): () => void {
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
        const ended: Record<string, unknown> = { room: spin.room, idempotency_key: spin.idempotencyKey };
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
      }),
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
  dispose(): void {
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

  private detach(): void {
    this.detachClient?.();
    this.detachClient = null;
    this.client = null;
    this.spins = 0;
  }

  private post(type: string, fields: Record<string, unknown> = {}): void {
    if (this.disposed) return;
    this.parent.postMessage(envelope(type, fields), this.hostOrigin);
  }

  private wait<T>(waiters: Waiter<T>[], type: string): Promise<T> {
    if (this.disposed) return Promise.reject(new BridgeDisposedError("the bridge was disposed"));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, timer: null };
      waiter.timer = this.clock.setTimeout(() => {
        const index = waiters.indexOf(waiter);
        if (index >= 0) waiters.splice(index, 1);
        reject(new BridgeTimeoutError(type, this.timeoutMs));
      }, this.timeoutMs);
      waiters.push(waiter);
    });
  }

  private receive(event: MessageEventLike): void {
    try {
      if (!event || event.origin !== this.hostOrigin || event.source !== this.parent) return;
      const message = openEnvelope(event.data);
      if (message) this.handle(message.type, message);
    } catch {
      // A bad message is dropped, never thrown.
    }
  }

  private handle(type: string, message: Record<string, unknown>): void {
    const field = (name: string): string => str(message as never, name);
    switch (type) {
      case "host.hello": {
        const hello: HostHello = { casino_id: field("casino_id"), locale: field("locale"), currency: field("currency") };
        for (const waiter of this.helloWaiters.splice(0)) {
          this.clock.clearTimeout(waiter.timer);
          waiter.resolve(hello);
        }
        return this.events.emit("hostHello", hello);
      }
      case "token.response": {
        const token = field("token");
        const waiter = token ? this.tokenWaiters.shift() : undefined;
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
        if (client) for (const room of client.rooms()) client.balance(room).catch(() => {});
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
        return; // unknown types are ignored
    }
  }

  /** Applied at once when no spin is in flight; otherwise the last request waits for game.idle. */
  private pauseOrResume(pause: boolean, reason: string): void {
    if (this.spins > 0) {
      this.deferred = { pause, reason };
      return;
    }
    this.apply(pause, reason);
  }

  private applyDeferred(): void {
    const deferred = this.deferred;
    this.deferred = null;
    if (deferred && deferred.pause !== this.isPaused) this.apply(deferred.pause, deferred.reason);
  }

  private apply(pause: boolean, reason: string): void {
    this.isPaused = pause;
    this.events.emit(pause ? "pause" : "resume", { reason });
  }

  private closeClient(): void {
    const client = this.client;
    if (!client) return;
    const leaves = client.rooms().map((room) => client.leave(room).catch(() => {}));
    void Promise.all(leaves).then(() => client.close());
  }
}
