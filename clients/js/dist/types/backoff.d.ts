/** Reconnect delays: exponential backoff with full jitter. */
export interface BackoffOptions {
    /** The base delay: the first retry waits up to this long (default 500 ms). */
    minMs?: number;
    /** The cap of the delay (default 30 000 ms). */
    maxMs?: number;
}
export declare const DEFAULT_BACKOFF_MIN_MS = 500;
export declare const DEFAULT_BACKOFF_MAX_MS = 30000;
/**
 * Full jitter: the n-th consecutive retry (n = 0, 1, ...) waits
 * `random() * min(maxMs, minMs * 2^n)`.
 */
export declare class Backoff {
    readonly minMs: number;
    readonly maxMs: number;
    private readonly random;
    private attempt;
    constructor(options?: BackoffOptions, random?: () => number);
    /** The upper bound of the delay of retry number `attempt` (0-based). */
    ceiling(attempt: number): number;
    /** The delay before the next retry; each call counts one more consecutive retry. */
    next(): number;
    /** How many delays were handed out since the last reset. */
    get attempts(): number;
    /** Start over (the connection proved stable). */
    reset(): void;
}
