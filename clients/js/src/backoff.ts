/** Reconnect delays: exponential backoff with full jitter. */

export interface BackoffOptions {
  /** The base delay: the first retry waits up to this long (default 500 ms). */
  minMs?: number;
  /** The cap of the delay (default 30 000 ms). */
  maxMs?: number;
}

export const DEFAULT_BACKOFF_MIN_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

/**
 * Full jitter: the n-th consecutive retry (n = 0, 1, ...) waits
 * `random() * min(maxMs, minMs * 2^n)`.
 */
export class Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    const minMs = options.minMs ?? DEFAULT_BACKOFF_MIN_MS;
    const maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!(Number.isFinite(minMs) && minMs >= 0)) throw new RangeError("backoff.minMs must be a number >= 0");
    if (!(Number.isFinite(maxMs) && maxMs >= minMs)) throw new RangeError("backoff.maxMs must be >= minMs");
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  /** The upper bound of the delay of retry number `attempt` (0-based). */
  ceiling(attempt: number): number {
    // 2^attempt overflows to Infinity long after min() has capped it; keep it finite anyway.
    const exponent = Math.min(Math.max(0, attempt), 52);
    return Math.min(this.maxMs, this.minMs * 2 ** exponent);
  }

  /** The delay before the next retry; each call counts one more consecutive retry. */
  next(): number {
    const r = this.random();
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    const delay = unit * this.ceiling(this.attempt);
    this.attempt += 1;
    return delay;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Start over (the connection proved stable). */
  reset(): void {
    this.attempt = 0;
  }
}
