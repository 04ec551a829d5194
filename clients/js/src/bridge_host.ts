/** CasinoHost: the casino page's side of the postMessage bridge (EMBEDDING.md). */

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
  type BridgeMessage,
} from "./envelope.js";
import { TokenError } from "./errors.js";
import type { ServerFrame } from "./wire.js";

export interface CasinoHostOptions {
  /** The game's iframe; messages go to, and are accepted only from, its contentWindow. */
  iframe: { readonly contentWindow: MessageTarget | null };
  /** The game's exact origin, e.g. "https://games.example". */
  gameOrigin: string;
  casinoId: string;
  locale: string;
  currency: string;
  /** The player's JWT from the Casino System, handed to the game in reply to `token.request`. */
  getToken: (reason: "initial" | "expired") => string | Promise<string>;
  /** The casino page's window (listens for `message`); default globalThis.window. */
  window?: WindowLike;
}

export interface RoundEnded {
  room: string;
  idempotency_key: string;
  spin_id?: string;
  win?: number;
  balance?: number;
  /** Set when the spin failed: the error code (or error name). */
  error?: string;
}

export interface CasinoHostEvents {
  hello: { game_id: string; sdk_version: string };
  ready: { room: string; player_id: string };
  /** An allow-listed server frame, unchanged. */
  frame: ServerFrame;
  state: { state: string; reason: string };
  roundStarted: { room: string; idempotency_key: string };
  roundEnded: RoundEnded;
  busy: Record<string, never>;
  idle: Record<string, never>;
  cashier: { currency: string };
  closeRequest: Record<string, never>;
  gameError: { code: string; message: string };
  /** getToken failed: no `token.response` was sent (the game's request times out). */
  tokenError: { reason: string; error: unknown };
}

export class CasinoHost {
  private readonly iframe: CasinoHostOptions["iframe"];
  private readonly gameOrigin: string;
  private readonly hello: { casino_id: string; locale: string; currency: string };
  private readonly getToken: CasinoHostOptions["getToken"];
  private readonly window: WindowLike;
  private readonly events = new Emitter<CasinoHostEvents>();
  private readonly listener = (event: MessageEventLike): void => this.receive(event);
  private gameBusy = false;
  private disposed = false;

  constructor(options: CasinoHostOptions) {
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

  on<K extends keyof CasinoHostEvents>(event: K, handler: Handler<CasinoHostEvents[K]>): () => void {
    return this.events.on(event, handler);
  }

  off<K extends keyof CasinoHostEvents>(event: K, handler: Handler<CasinoHostEvents[K]>): void {
    this.events.off(event, handler);
  }

  /** True between the game's `game.busy` and `game.idle`. */
  get busy(): boolean {
    return this.gameBusy;
  }

  /** Ask the game to pause (applied at its next idle, never mid-spin). */
  pause(reason: string): void {
    this.post("game.pause", { reason });
  }

  resume(reason: string): void {
    this.post("game.resume", { reason });
  }

  refreshBalance(): void {
    this.post("balance.refresh");
  }

  setMuted(muted: boolean): void {
    this.post("audio.set", { muted: Boolean(muted) });
  }

  ackRealityCheck(kind: string): void {
    this.post("rg.ack", { kind });
  }

  /** The game leaves its room and closes its socket. */
  closeGame(): void {
    this.post("game.close");
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.window.removeEventListener("message", this.listener);
    this.events.clear();
  }

  private post(type: string, fields: Record<string, unknown> = {}): void {
    const target = this.iframe.contentWindow;
    if (this.disposed || !target) return;
    target.postMessage(envelope(type, fields), this.gameOrigin);
  }

  private receive(event: MessageEventLike): void {
    try {
      if (!event || event.origin !== this.gameOrigin) return;
      const source = this.iframe.contentWindow;
      if (!source || event.source !== source) return;
      const message = openEnvelope(event.data);
      if (message) this.handle(message);
    } catch {
      // A bad message is dropped, never thrown.
    }
  }

  private handle(message: BridgeMessage): void {
    const field = (name: string): string => str(message, name);
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
        return; // unknown types are ignored
    }
  }

  private answerToken(reason: "initial" | "expired"): void {
    Promise.resolve()
      .then(() => this.getToken(reason))
      .then(
        (token) => {
          if (typeof token !== "string" || token.length === 0) throw new TokenError("getToken returned no token");
          this.post("token.response", { token });
        },
      )
      .catch((error: unknown) => this.events.emit("tokenError", { reason, error }));
  }
}

function roundEnded(message: BridgeMessage): RoundEnded {
  const ended: RoundEnded = { room: str(message, "room"), idempotency_key: str(message, "idempotency_key") };
  if (typeof message.spin_id === "string") ended.spin_id = message.spin_id;
  if (typeof message.win === "number") ended.win = message.win;
  if (typeof message.balance === "number") ended.balance = message.balance;
  if (typeof message.error === "string") ended.error = message.error;
  return ended;
}
