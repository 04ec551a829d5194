import assert from "node:assert/strict";
import { test } from "node:test";
import { lib } from "./helpers/load.mjs";

const { closeAction } = lib;

test("close codes after open", () => {
  const table = {
    4001: { kind: "reconnect", delay: "immediate", refreshToken: true },
    4003: { kind: "stop" },
    4009: { kind: "stop" },
    1008: { kind: "stop" },
    1009: { kind: "stop" },
    1007: { kind: "stop" },
    1012: { kind: "reconnect", delay: "drain", refreshToken: false },
    1013: { kind: "reconnect", delay: "backoff", refreshToken: false },
    1006: { kind: "reconnect", delay: "backoff", refreshToken: false },
    1011: { kind: "reconnect", delay: "backoff", refreshToken: false },
    1000: { kind: "reconnect", delay: "backoff", refreshToken: false },
    4999: { kind: "reconnect", delay: "backoff", refreshToken: false },
  };
  for (const [code, expected] of Object.entries(table)) {
    const action = closeAction(Number(code), true);
    const { reason, ...rest } = action;
    assert.deepEqual(rest, expected, `code ${code}`);
    assert.equal(typeof reason, "string");
  }
});

test("a close before open means the token may be bad, whatever the code", () => {
  for (const code of [1006, 1000, 1011, 4003]) {
    assert.deepEqual(closeAction(code, false), {
      kind: "reconnect",
      delay: "backoff",
      refreshToken: true,
      reason: "connect-failed",
    });
  }
});
