// Bundles src/ (TypeScript) in memory with esbuild and imports it, so the unit tests run the
// sources; test/dist_matches.test.mjs checks that the committed dist/ is built from them.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const entry = `
export * from "./src/index.ts";
export { RoomTracker } from "./src/rooms.ts";
export { RequestTable } from "./src/requests.ts";
export { envelope, openEnvelope } from "./src/envelope.ts";
export { randomId } from "./src/env.ts";
`;

const result = await esbuild.build({
  stdin: { contents: entry, resolveDir: root, sourcefile: "test-entry.ts", loader: "ts" },
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2020",
  write: false,
  sourcemap: "inline",
  logLevel: "error",
});

const code = result.outputFiles[0].text;
/** The package's exports (and a few internals), built from src/. */
export const lib = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
