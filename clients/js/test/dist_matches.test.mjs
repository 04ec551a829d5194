// The committed dist/ must be what the build makes from src/ (run `npm run build` when this fails).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import vm from "node:vm";
import { check, DIST, ROOT } from "../scripts/build.mjs";

test("the committed dist/ matches a fresh build of src/", async () => {
  const problems = await check();
  assert.deepEqual(problems, [], `dist/ is stale (run \`npm run build\`):\n${problems.join("\n")}`);
});

test("the version in src/version.ts is package.json's", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const source = readFileSync(join(ROOT, "src", "version.ts"), "utf8");
  assert.match(source, new RegExp(`export const version = "${pkg.version.replaceAll(".", "\\.")}";`));
});

test("the ES module exports the public API", async () => {
  const mod = await import(join(DIST, "roomserver.mjs"));
  for (const name of ["RoomClient", "GameBridge", "CasinoHost", "SpinOutcomeUnknownError", "ServerError", "errors", "version"]) {
    assert.ok(mod[name] !== undefined, name);
  }
  assert.equal(mod.errors.SpinOutcomeUnknownError, mod.SpinOutcomeUnknownError);
});

test("the IIFE defines the global RoomServer in a browser-like context", () => {
  const code = readFileSync(join(DIST, "roomserver.iife.js"), "utf8");
  const context = vm.createContext({ URL, TextDecoder });
  vm.runInContext(code, context);
  const api = context.RoomServer;
  assert.equal(typeof api.RoomClient, "function");
  assert.equal(typeof api.GameBridge, "function");
  assert.equal(typeof api.CasinoHost, "function");
  assert.equal(typeof api.errors.SpinOutcomeUnknownError, "function");
  assert.equal(api.version, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
});

test("the build is deterministic: no timestamps or absolute paths", () => {
  for (const name of ["roomserver.mjs", "roomserver.iife.js", "roomserver.d.ts", "roomserver.d.mts"]) {
    const text = readFileSync(join(DIST, name), "utf8");
    assert.ok(!text.includes(ROOT), `${name} names the build directory`);
    assert.doesNotMatch(text, /20\d\d-\d\d-\d\dT\d\d:\d\d/, `${name} holds a timestamp`);
  }
});
