// src/wire.ts is generated from protocol/wire_schema.json and must not drift from it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { generate, OUTPUT_PATH, SCHEMA_PATH } from "../scripts/gen-wire-types.mjs";

const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));

test("the committed src/wire.ts is what the schema generates (run `npm run gen` when this fails)", () => {
  assert.equal(readFileSync(OUTPUT_PATH, "utf8"), generate(schema));
});

test("the check would catch a schema change", () => {
  const changed = structuredClone(schema);
  changed.$defs.SpinResultPayload.properties.jackpot = { type: "integer" };
  const text = generate(changed);
  assert.notEqual(text, generate(schema));
  assert.match(text, /jackpot\?: number;/);
});

test("every frame type of the schema is in the generated unions", () => {
  const text = generate(schema);
  for (const side of ["client_to_server", "server_to_client"]) {
    for (const type of Object.keys(schema.properties[side].discriminator.mapping)) {
      assert.ok(text.includes(`  ${JSON.stringify(type)}: `), `${side} ${type}`);
    }
  }
});

test("generated shapes: required and optional fields, tuples, enums, the renamed Error", () => {
  const text = generate(schema);
  assert.match(text, /export interface Spin \{\n(?:.*\n)*?  stake: number;\n(?:.*\n)*?  client_seed\?: string \| null;/);
  assert.match(text, /export type LeaderboardEntry = \[string, string, number, number\];/);
  assert.match(text, /export type ErrorCode = "BAD_MESSAGE" \| /);
  assert.match(text, /export interface ErrorFrame \{/);
  assert.doesNotMatch(text, /export interface Error \{/);
});
