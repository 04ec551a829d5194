/** What the client does when its WebSocket closes, by close code. */

/** How long to wait before the next connection attempt. */
export type ReconnectDelay =
  /** Reconnect at once (after fetching a new token). */
  | "immediate"
  /** Full-jitter exponential backoff. */
  | "backoff"
  /** The node is draining: wait `reconnect_after_ms` (or the default) plus jitter. */
  | "drain";

export type CloseAction =
  | { kind: "reconnect"; delay: ReconnectDelay; refreshToken: boolean; reason: string }
  | { kind: "stop"; reason: string };

/** Close codes with a meaning in protocol v1. */
export const CloseCodes = {
  NORMAL: 1000,
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
  REPLACED: 4009,
} as const;

/**
 * The policy for a close with `code`; `opened` tells whether the socket had opened.
 *
 * A close before open is how a browser sees a refused upgrade (HTTP 401/403 become 1006), so
 * it means "the token may be bad": the client fetches a new token (once per failure streak)
 * and backs off.
 */
export function closeAction(code: number, opened: boolean): CloseAction {
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
      // 1006 (dropped), 1000/1001 from the server, and codes this version does not know.
      return { kind: "reconnect", delay: "backoff", refreshToken: false, reason: "connection-lost" };
  }
}
