// What each library bench id means, for the Node library scripts; mirrors
// params.ts. Plain .mjs because Node 20 cannot run TypeScript; the JSON is
// read rather than imported to avoid Node 20's JSON-module warning.

import { readFileSync } from "node:fs";

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

// The helpers and the backpressure marks are the baseline's own, so both
// sides of a comparison wait and time the same way.
export { deferred, HIGH_WATER, LOW_WATER, now, sleep, watchdog } from "../baseline/node_frame.mjs";
