/**
 * What each library bench id means: the workloads of bench/workloads.json
 * plus the variants of bench/variants.json (W5p: W5 with presence
 * announcements on; W5x: W5 with 10,000 connections). Shared by the Deno
 * library server and client.
 *
 * @module
 */

import workloads from "../workloads.json" with { type: "json" };
import variants from "../variants.json" with { type: "json" };

/** Workload sizes, as the baseline scripts read them. */
export const SIZES = workloads;

/** A bench id the library scripts accept. */
export type BenchId = keyof typeof workloads | keyof typeof variants;

/** The parameters of W5 and its variants. */
export interface ConnectionsParams {
  /** How many clients connect. */
  clients: number;
  /** The server's `announcePresence` option. */
  announcePresence: boolean;
}

/** Reads the bench id from argv. */
export function parseBenchId(arg: string | undefined): BenchId {
  if (arg !== undefined && (Object.hasOwn(workloads, arg) || Object.hasOwn(variants, arg))) {
    return arg as BenchId;
  }
  throw new Error(`unknown workload ${arg}; expected one of W1..W5, W5p, W5x`);
}

/**
 * W5 and its variants. Plain W5 runs with announcements off: that is the
 * figure compared with the raw-TCP baseline, which announces nothing.
 */
export function connectionsParams(id: BenchId): ConnectionsParams {
  if (id === "W5") return { clients: workloads.W5.clients, announcePresence: false };
  if (id === "W5p" || id === "W5x") {
    const v = variants[id];
    return { clients: v.clients, announcePresence: v.announcePresence };
  }
  throw new Error(`${id} is not a connections workload`);
}

/** The workload a bench id runs: W5 for its variants. */
export function baseWorkload(id: BenchId): keyof typeof workloads {
  return id === "W5p" || id === "W5x" ? variants[id].workload as "W5" : id;
}

// The helpers and the backpressure marks are the baseline's own, so both
// sides of a comparison wait and time the same way.
export { HIGH_WATER, LOW_WATER, now, sleep, watchdog } from "../baseline/deno_frame.ts";
