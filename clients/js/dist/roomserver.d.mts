/* @roomserver/client: built from clients/js/src by scripts/build.mjs; do not edit. */
export * from "./types/index.js";
