import assert from "node:assert/strict";
import { test } from "node:test";
import { lib } from "./helpers/load.mjs";

const { Backoff } = lib;

test("the ceiling doubles from minMs and is capped at maxMs", () => {
  const backoff = new Backoff({ minMs: 100, maxMs: 1000 });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 60, 5000].map((n) => backoff.ceiling(n)), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
});

test("full jitter: delay = random() * min(maxMs, minMs * 2^attempt)", () => {
  const backoff = new Backoff({ minMs: 100, maxMs: 1000 }, () => 0.5);
  assert.deepEqual(Array.from({ length: 6 }, () => backoff.next()), [50, 100, 200, 400, 500, 500]);
  assert.equal(backoff.attempts, 6);
  backoff.reset();
  assert.equal(backoff.next(), 50);
});

test("random() = 0 gives no delay and values near 1 stay below the ceiling", () => {
  assert.equal(new Backoff({ minMs: 100, maxMs: 1000 }, () => 0).next(), 0);
  const high = new Backoff({ minMs: 100, maxMs: 1000 }, () => 0.999999);
  const delays = Array.from({ length: 8 }, () => high.next());
  delays.forEach((delay, attempt) => {
    assert.ok(delay < high.ceiling(attempt), `attempt ${attempt}: ${delay}`);
    assert.ok(delay > high.ceiling(attempt) * 0.99, `attempt ${attempt}: ${delay}`);
  });
});

test("with Math.random every delay lies in [0, ceiling] and they vary", () => {
  const backoff = new Backoff({ minMs: 50, maxMs: 400 });
  const delays = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    const delay = backoff.next();
    assert.ok(delay >= 0 && delay <= backoff.ceiling(attempt), `attempt ${attempt}: ${delay}`);
    delays.push(delay);
  }
  assert.ok(new Set(delays).size > 100, "jitter: the delays are not all the same");
});

test("a random() outside [0, 1) is clamped", () => {
  assert.equal(new Backoff({ minMs: 100, maxMs: 1000 }, () => 7).next(), 100);
  assert.equal(new Backoff({ minMs: 100, maxMs: 1000 }, () => -1).next(), 0);
  assert.equal(new Backoff({ minMs: 100, maxMs: 1000 }, () => Number.NaN).next(), 0);
});

test("defaults and invalid options", () => {
  const backoff = new Backoff();
  assert.equal(backoff.minMs, lib.DEFAULT_BACKOFF_MIN_MS);
  assert.equal(backoff.maxMs, lib.DEFAULT_BACKOFF_MAX_MS);
  assert.throws(() => new Backoff({ minMs: -1 }), RangeError);
  assert.throws(() => new Backoff({ minMs: 500, maxMs: 100 }), RangeError);
});
