// What each library bench id means, for the Node library scripts; mirrors
// params.ts. Plain .mjs because Node 20 cannot run TypeScript; the JSON is
// read rather than imported to avoid Node 20's JSON-module warning.

import { readFileSync } from "node:fs";
import process from "node:process";

const readJson = (rel) => JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8"));

/** Workload sizes, as the baseline scripts read them. */
export const SIZES = readJson("../workloads.json");
const VARIANTS = readJson("../variants.json");

export function parseBenchId(arg) {
  if (arg !== undefined && (Object.hasOwn(SIZES, arg) || Object.hasOwn(VARIANTS, arg))) {
    return arg;
  }
  throw new Error(`unknown workload ${arg}; expected one of W1..W5, W5p, W5x`);
}

/** W5 runs with announcements off; its variants say what they do. */
export function connectionsParams(id) {
  if (id === "W5") return { clients: SIZES.W5.clients, announcePresence: false };
  const v = VARIANTS[id];
  if (v?.workload !== "W5") throw new Error(`${id} is not a connections workload`);
  return { clients: v.clients, announcePresence: v.announcePresence };
}

/** Exits the process if it is still running after `ms` (never keeps it alive). */
export function watchdog(ms, what) {
  setTimeout(() => {
    console.error(`${what}: timed out after ${ms} ms`);
    process.exit(3);
  }, ms).unref();
}

export const now = () => performance.now();

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Promise.withResolvers is Node 22+; this project runs on Node 20. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => resolve = r);
  return { promise, resolve };
}

/** Above this many queued bytes a streaming sender waits (as the baseline does). */
export const HIGH_WATER = 4 * 1024 * 1024;
/** ... until the backlog is below this. */
export const LOW_WATER = 1024 * 1024;
