/** What the client does when its WebSocket closes, by close code. */
/** How long to wait before the next connection attempt. */
export type ReconnectDelay = 
/** Reconnect at once (after fetching a new token). */
"immediate"
/** Full-jitter exponential backoff. */
 | "backoff"
/** The node is draining: wait `reconnect_after_ms` (or the default) plus jitter. */
 | "drain";
export type CloseAction = {
    kind: "reconnect";
    delay: ReconnectDelay;
    refreshToken: boolean;
    reason: string;
} | {
    kind: "stop";
    reason: string;
};
/** Close codes with a meaning in protocol v1. */
export declare const CloseCodes: {
    readonly NORMAL: 1000;
    readonly GOING_AWAY: 1001;
    readonly ABNORMAL: 1006;
    readonly INVALID_DATA: 1007;
    readonly POLICY_VIOLATION: 1008;
    readonly MESSAGE_TOO_BIG: 1009;
    readonly INTERNAL_ERROR: 1011;
    readonly SERVICE_RESTART: 1012;
    readonly TRY_AGAIN_LATER: 1013;
    readonly TOKEN_EXPIRED: 4001;
    readonly FORBIDDEN: 4003;
    readonly REPLACED: 4009;
};
/**
 * The policy for a close with `code`; `opened` tells whether the socket had opened.
 *
 * A close before open is how a browser sees a refused upgrade (HTTP 401/403 become 1006), so
 * it means "the token may be bad": the client fetches a new token (once per failure streak)
 * and backs off.
 */
export declare function closeAction(code: number, opened: boolean): CloseAction;
