#!/usr/bin/env node
// Builds dist/ from src/:
//   dist/roomserver.mjs       ES module
//   dist/roomserver.iife.js   browser script, global `RoomServer`
//   dist/roomserver.d.ts      types (re-exports dist/types/*.d.ts, emitted by tsc), and the same
//                             as dist/roomserver.d.mts (found by TypeScript for roomserver.mjs)
//
//   node scripts/build.mjs                 build into dist/
//   node scripts/build.mjs --out DIR       build into DIR
//   node scripts/build.mjs --check         build into a temporary directory and exit 1 when
//                                          the committed dist/ differs
// The output is deterministic (no timestamps, no absolute paths), so dist/ is committed.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = join(ROOT, "dist");

const BANNER = "/* @roomserver/client: built from clients/js/src by scripts/build.mjs; do not edit. */";

/** Build every dist file into `outDir` (created; its old contents removed). */
export async function build(outDir) {
  const esbuild = await import("esbuild");
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const common = {
    entryPoints: [join(ROOT, "src", "index.ts")],
    bundle: true,
    target: "es2020",
    platform: "neutral",
    charset: "utf8",
    legalComments: "none",
    banner: { js: BANNER },
    logLevel: "warning",
    absWorkingDir: ROOT,
  };
  await esbuild.build({ ...common, format: "esm", outfile: join(outDir, "roomserver.mjs") });
  await esbuild.build({
    ...common,
    format: "iife",
    globalName: "RoomServer",
    outfile: join(outDir, "roomserver.iife.js"),
  });
  const tsc = require.resolve("typescript/bin/tsc");
  execFileSync(
    process.execPath,
    [tsc, "-p", join(ROOT, "tsconfig.json"), "--noEmit", "false", "--emitDeclarationOnly", "--outDir", join(outDir, "types")],
    { stdio: "inherit", cwd: ROOT },
  );
  // roomserver.d.ts for the package's "types"; roomserver.d.mts for a direct import of the .mjs.
  const declarations = `${BANNER}\nexport * from "./types/index.js";\n`;
  writeFileSync(join(outDir, "roomserver.d.ts"), declarations);
  writeFileSync(join(outDir, "roomserver.d.mts"), declarations);
}

/** Every file under `dir`, as relative paths mapped to their bytes. */
export function snapshot(dir) {
  const files = new Map();
  const walk = (current) => {
    for (const name of readdirSync(current).sort()) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(dir, path).split("\\").join("/"), readFileSync(path));
    }
  };
  walk(dir);
  return files;
}

/** The differences between two directories' files (empty when identical). */
export function compare(expectedDir, actualDir) {
  const expected = snapshot(expectedDir);
  let actual;
  try {
    actual = snapshot(actualDir);
  } catch {
    actual = new Map();
  }
  const problems = [];
  for (const [path, bytes] of expected) {
    if (!actual.has(path)) problems.push(`missing: dist/${path}`);
    else if (!actual.get(path).equals(bytes)) problems.push(`differs: dist/${path}`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) problems.push(`extra: dist/${path}`);
  return problems;
}

/** Build into a temporary directory and compare with the committed dist/. */
export async function check() {
  const temp = mkdtempSync(join(tmpdir(), "roomserver-dist-"));
  try {
    await build(temp);
    return compare(temp, DIST);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

async function main(argv) {
  if (argv.includes("--check")) {
    const problems = await check();
    if (problems.length) {
      console.error(`dist/ is out of date with src/ (run \`npm run build\`):\n  ${problems.join("\n  ")}`);
      return 1;
    }
    console.log("dist/ matches src/");
    return 0;
  }
  const outIndex = argv.indexOf("--out");
  const outDir = outIndex >= 0 ? argv[outIndex + 1] : DIST;
  await build(outDir);
  console.log(`built ${relative(process.cwd(), outDir) || "."}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
