// Resolves the peers' libraries from the git-ignored install made by bench/install.sh
// (.bench/node/node_modules), or from BENCH_NODE_DIR when set.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const root = process.env.BENCH_NODE_DIR || path.join(__dirname, "..", "..", ".bench", "node");

module.exports = createRequire(path.join(root, "package.json"));
