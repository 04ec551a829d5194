/** @roomserver/client: the browser and Node.js client of the roomserver wire protocol v1. */

import * as errors from "./errors.js";

export { RoomClient, SUBPROTOCOL } from "./client.js";
export { GameBridge } from "./bridge_game.js";
export { CasinoHost } from "./bridge_host.js";
export { Backoff, DEFAULT_BACKOFF_MAX_MS, DEFAULT_BACKOFF_MIN_MS } from "./backoff.js";
export { closeAction, CloseCodes } from "./close_policy.js";
export { BRIDGE_NS, BRIDGE_VERSION, FORWARDED_FRAME_TYPES, checkOrigin } from "./envelope.js";
export {
  BridgeDisposedError,
  BridgeTimeoutError,
  ConnectionClosedError,
  ConnectionLostError,
  ProtocolError,
  RejoinError,
  RequestTimeoutError,
  RoomServerError,
  ServerError,
  SpinOutcomeUnknownError,
  TokenError,
} from "./errors.js";
export { version } from "./version.js";
export { errors };

export type { BackoffOptions } from "./backoff.js";
export type { CloseAction, ReconnectDelay } from "./close_policy.js";
export type { Clock, SocketConstructor, SocketLike } from "./env.js";
export type { BridgeMessage, MessageEventLike, MessageTarget, WindowLike } from "./envelope.js";
export type { BridgeClient, GameBridgeEvents, GameBridgeOptions, HostHello } from "./bridge_game.js";
export type { CasinoHostEvents, CasinoHostOptions, RoundEnded } from "./bridge_host.js";
export type { Gap } from "./rooms.js";
export type * from "./types.js";
export type * from "./wire.js";
