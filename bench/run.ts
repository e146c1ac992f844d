/**
 * Benchmark runner: runs workloads W1–W5 (bench/workloads.json, described in
 * docs/benchmarks.md) for each runtime and implementation, several passes,
 * and reports medians.
 *
 *   deno run -A bench/run.ts [--passes 3] [--only W1,W3]
 *                            [--runtimes deno,node] [--impls baseline,library]
 *
 * Besides W1–W5, the library runs the variants of bench/variants.json: W5p
 * (W5 with presence announcements on; run by default) and W5x (W5 with
 * 10,000 connections; only when named in `--only`). A variant has no
 * baseline run of its own: it is compared with its base workload's baseline.
 *
 * Prints a table, and writes bench/results/latest.json and latest.svg.
 *
 * A target is {runtime, impl, workload}; `LAUNCHERS` turns it into command
 * lines. Every bench server follows one small stdout protocol, so the runner
 * needs to know nothing else about an implementation:
 *
 *   - the server prints `{"port": N}` once it listens on 127.0.0.1:N;
 *   - the runner then starts the client processes with
 *     `<client argv...> <workload> <port> <conns> <first>`, where `conns` is
 *     how many connections that process opens and `first` the index of its
 *     first client (unique names for W5);
 *   - exactly one process (the server, or the client for W2) prints
 *     `{"result": {"workload", "runtime", "impl", "metrics": {...}}}` with the
 *     metric names of `METRICS`;
 *   - the server then closes its connections, the clients end on EOF, and
 *     every process exits by itself (each also has its own watchdog).
 *
 * The runner kills any process still alive after `RUN_TIMEOUT_MS`, and stops
 * starting runs once `TOTAL_BUDGET_MS` is spent, so a whole run is bounded.
 *
 * @module
 */

import workloads from "./workloads.json" with { type: "json" };
import variants from "./variants.json" with { type: "json" };

type Runtime = "deno" | "node";
type Impl = "baseline" | "library";
/** A bench id: a workload of workloads.json or a variant of variants.json. */
type Workload = keyof typeof workloads | keyof typeof variants;
type Variant = keyof typeof variants;

const RUNTIMES: Runtime[] = ["deno", "node"];
const IMPLS: Impl[] = ["baseline", "library"];
const VARIANTS = Object.keys(variants) as Variant[];
const WORKLOADS = [...Object.keys(workloads), ...VARIANTS] as Workload[];
/** What runs without `--only`: every workload, and the variants not kept for request. */
const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => !isVariant(w) || !variants[w].onRequest);

function isVariant(w: Workload): w is Variant {
  return Object.hasOwn(variants, w);
}

/** The workload whose baseline a bench id is compared with. */
function baseOf(w: Workload): keyof typeof workloads {
  return isVariant(w) ? variants[w].workload as keyof typeof workloads : w;
}

/** One benchmark run's subject. */
interface Target {
  runtime: Runtime;
  impl: Impl;
  workload: Workload;
}

/** The processes that make up one run of a target. */
interface Launch {
  /** Server argv; the server prints its port, then usually the result. */
  server: string[];
  /** Client argv prefix; the runner appends workload, port, conns, first. */
  client: string[];
  /** How many client processes share the workload's connections. */
  clientProcs: number;
}

/**
 * Builds the launch of one target (given its workload), or says why the
 * target cannot run here (`{ skip }`).
 */
type Launcher = (workload: Workload) => Launch | { skip: string };

const here = (rel: string): string => decodeURIComponent(new URL(rel, import.meta.url).pathname);
const NODE = Deno.env.get("NODE") ?? "node";
/** `--no-lock`: the bench scripts have no dependencies to lock. */
const DENO_RUN = [Deno.execPath(), "run", "--no-lock", "--allow-net=127.0.0.1"];

/**
 * Every client process of every workload runs on the one machine with the
 * server. One client process keeps the server and the clients on a core each
 * on a 2-core box; the launch format allows spreading clients further.
 */
const CLIENT_PROCS = 1;

/** Raw TCP with a 4-byte length prefix: the practical ceiling. */
const BASELINE: Partial<Record<Runtime, Launcher>> = {
  deno: (w) =>
    isVariant(w) ? VARIANT_NO_BASELINE : ({
      server: [
        ...DENO_RUN,
        "--v8-flags=--expose-gc",
        here("./baseline/deno_server.ts"),
        w,
      ],
      client: [...DENO_RUN, here("./baseline/deno_client.ts")],
      clientProcs: CLIENT_PROCS,
    }),
  node: (w) =>
    isVariant(w) ? VARIANT_NO_BASELINE : ({
      server: [NODE, "--expose-gc", here("./baseline/node_server.mjs"), w],
      client: [NODE, here("./baseline/node_client.mjs")],
      clientProcs: CLIENT_PROCS,
    }),
};

/** Raw TCP has nothing to vary: variants are compared with the base workload. */
const VARIANT_NO_BASELINE = { skip: "" };

/**
 * Above 10,000 connections a process needs more descriptors than some
 * defaults allow: W5x's processes start in a shell that first raises the
 * soft limit to the hard one.
 */
function withFds(w: Workload, argv: string[]): string[] {
  if (w !== "W5x") return argv;
  return ["sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...argv];
}

/** The npm build the Node library scripts import (`deno task build:npm`). */
const NPM_MOD = here("../npm/esm/mod.js");

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Library targets: the same workloads written against hisock's API
 * (`startServer(["127.0.0.1", 0], opts)`, `server.on("bench", ...)`,
 * `connect(addr, { name, group })`, `client.send("bench", payload)`).
 * Register a launcher per runtime here once the scripts exist, e.g.
 *
 *   deno: (w) => ({
 *     server: [...DENO_RUN, "--v8-flags=--expose-gc",
 *              here("./library/deno_server.ts"), w],
 *     client: [...DENO_RUN, here("./library/deno_client.ts")],
 *     clientProcs: CLIENT_PROCS,
 *   }),
 *
 * The scripts must follow the stdout protocol in this module's header and
 * report with `"impl": "library"`. The table, ratios and chart pick them up
 * without further changes.
 */
const LIBRARY: Partial<Record<Runtime, Launcher>> = {
  deno: (w) => ({
    server: withFds(w, [
      ...DENO_RUN,
      "--v8-flags=--expose-gc",
      here("./library/deno_server.ts"),
      w,
    ]),
    client: withFds(w, [...DENO_RUN, here("./library/deno_client.ts")]),
    clientProcs: CLIENT_PROCS,
  }),
  node: (w) =>
    exists(NPM_MOD)
      ? {
        server: withFds(w, [NODE, "--expose-gc", here("./library/node_server.mjs"), w]),
        client: withFds(w, [NODE, here("./library/node_client.mjs")]),
        clientProcs: CLIENT_PROCS,
      }
      : { skip: `${NPM_MOD} does not exist; build it with \`deno task build:npm\`` },
};

/** Registry of implementations: target → command lines. */
const LAUNCHERS: Record<Impl, Partial<Record<Runtime, Launcher>>> = {
  baseline: BASELINE,
  library: LIBRARY,
};

/** What each reported metric means, and which way is better. */
const METRICS: Record<string, { label: string; higherIsBetter: boolean }> = {
  msgsPerSec: { label: "msgs/s", higherIsBetter: true },
  meanUs: { label: "mean RTT µs", higherIsBetter: false },
  p99Us: { label: "p99 RTT µs", higherIsBetter: false },
  mibPerSec: { label: "MiB/s", higherIsBetter: true },
  deliveriesPerSec: { label: "deliveries/s", higherIsBetter: true },
  seconds: { label: "s to all joins", higherIsBetter: false },
  kibPerConn: { label: "KiB/conn", higherIsBetter: false },
};

/** Metrics shown per workload, headline first. */
const SHOWN: Record<Workload, string[]> = {
  W1: ["msgsPerSec"],
  W2: ["meanUs", "p99Us"],
  W3: ["mibPerSec"],
  W4: ["deliveriesPerSec"],
  W5: ["seconds", "kibPerConn"],
  W5p: ["seconds", "kibPerConn"],
  W5x: ["seconds", "kibPerConn"],
};

/** Connections each workload opens, to split over the client processes. */
const CONNS: Record<Workload, number> = {
  W1: 1,
  W2: 1,
  W3: 1,
  W4: workloads.W4.clients,
  W5: workloads.W5.clients,
  W5p: variants.W5p.clients,
  W5x: variants.W5x.clients,
};

const RUN_TIMEOUT_MS = 60_000;
const TOTAL_BUDGET_MS = 9 * 60_000;

// ---------------------------------------------------------------- options

interface Options {
  passes: number;
  only: Workload[];
  runtimes: Runtime[];
  impls: Impl[];
}

function parseOptions(args: string[]): Options {
  const opts: Options = {
    passes: 3,
    only: DEFAULT_WORKLOADS,
    runtimes: RUNTIMES,
    impls: IMPLS,
  };
  const list = <T extends string>(v: string, allowed: readonly T[]): T[] => {
    const items = v.split(",").map((s) => s.trim()).filter(Boolean);
    for (const it of items) {
      if (!allowed.includes(it as T)) {
        throw new Error(`unknown value ${it}; expected ${allowed.join(",")}`);
      }
    }
    return items as T[];
  };
  for (let i = 0; i < args.length; i++) {
    let [flag, value] = args[i].split("=", 2) as [string, string | undefined];
    if (value === undefined) value = args[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case "--passes":
        opts.passes = Number(value);
        if (!Number.isInteger(opts.passes) || opts.passes < 1) {
          throw new Error("--passes must be a positive integer");
        }
        break;
      case "--only":
        // Case-insensitive: w1 and W5P name W1 and W5p.
        opts.only = list(
          value.split(",").map((v) =>
            WORKLOADS.find((w) => w.toLowerCase() === v.trim().toLowerCase()) ?? v
          ).join(","),
          WORKLOADS,
        );
        break;
      case "--runtimes":
        opts.runtimes = list(value, RUNTIMES);
        break;
      case "--impls":
        opts.impls = list(value, IMPLS);
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------- one run

type Metrics = Record<string, number>;

interface RunRecord extends Target {
  pass: number;
  metrics?: Metrics;
  error?: string;
  wallMs: number;
}

/** A spawned process whose stdout is parsed as JSON lines. */
class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: unknown[] = [];
  readonly stdoutDone: Promise<void>;
  readonly stderr: Promise<string>;
  #notify: () => void = () => {};

  constructor(argv: string[]) {
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.stdoutDone = this.#readLines();
    this.stderr = new Response(this.child.stderr).text();
  }

  async #readLines(): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    const take = (line: string) => {
      line = line.trim();
      if (!line.startsWith("{")) return;
      try {
        this.lines.push(JSON.parse(line));
        this.#notify();
      } catch {
        // Not one of ours (e.g. a runtime warning); ignore it.
      }
    };
    for await (const chunk of this.child.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        take(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    take(rest);
    this.#notify();
  }

  /** Resolves with the first line having `key`, or null once stdout ends. */
  async find(key: string): Promise<Record<string, unknown> | null> {
    while (true) {
      const hit = this.lines.find((l) => typeof l === "object" && l !== null && key in l);
      if (hit) return hit as Record<string, unknown>;
      const more = new Promise<void>((r) => this.#notify = r);
      const ended = await Promise.race([
        more.then(() => false),
        this.stdoutDone.then(() => true),
      ]);
      if (ended) {
        const last = this.lines.find((l) => typeof l === "object" && l !== null && key in l);
        return (last as Record<string, unknown>) ?? null;
      }
    }
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }
}

/** Rejects after `ms`; the timer is cleared by the caller via `clear`. */
function deadline(ms: number, what: string) {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
  });
  // Only the races observe the rejection; this keeps it from ever counting
  // as unhandled should it fire between two of them.
  promise.catch(() => {});
  return { promise, clear: () => clearTimeout(id) };
}

async function runOnce(target: Target, launch: Launch): Promise<Metrics> {
  const procs: Proc[] = [];
  const timer = deadline(RUN_TIMEOUT_MS, "run");
  try {
    const server = new Proc(launch.server);
    procs.push(server);
    const portLine = await Promise.race([server.find("port"), timer.promise]);
    const port = Number(portLine?.port);
    if (!port) throw new Error("server printed no port");

    const total = CONNS[target.workload];
    const n = Math.min(launch.clientProcs, total);
    let first = 0;
    for (let i = 0; i < n; i++) {
      const conns = Math.floor(total / n) + (i < total % n ? 1 : 0);
      procs.push(
        new Proc([
          ...launch.client,
          target.workload,
          String(port),
          String(conns),
          String(first),
        ]),
      );
      first += conns;
    }
    // Whichever process reports first wins; all must then exit cleanly.
    const found = await Promise.race([
      Promise.all(procs.map((p) => p.find("result"))),
      timer.promise,
    ]);
    const result = found.find((r) => r !== null)?.result as
      | { metrics?: Metrics }
      | undefined;
    const statuses = await Promise.race([
      Promise.all(procs.map((p) => p.child.status)),
      timer.promise,
    ]);
    const failed = statuses.findIndex((s) => !s.success);
    if (failed >= 0) {
      const err = (await procs[failed].stderr).trim().split("\n").slice(-3);
      throw new Error(
        `process ${failed} exited with ${statuses[failed].code}: ${err.join(" | ")}`,
      );
    }
    if (!result?.metrics) throw new Error("no result line");
    return result.metrics;
  } finally {
    timer.clear();
    for (const p of procs) p.kill();
    // Drain the pipes so no resource outlives the run.
    await Promise.allSettled(procs.map((p) => p.stderr));
    await Promise.allSettled(procs.map((p) => p.stdoutDone));
  }
}

// ---------------------------------------------------------------- summary

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

interface Summary extends Target {
  runs: number;
  medians: Metrics;
}

function summarize(records: RunRecord[]): Summary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    if (!r.metrics) continue;
    const key = `${r.workload}/${r.runtime}/${r.impl}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const medians: Metrics = {};
    for (const name of Object.keys(rs[0].metrics!)) {
      medians[name] = median(rs.map((r) => r.metrics![name]));
    }
    const { workload, runtime, impl } = rs[0];
    return { workload, runtime, impl, runs: rs.length, medians };
  });
}

/**
 * Library performance as a fraction of the baseline: 1 means parity and
 * higher is better whichever way the metric itself points.
 */
function ratio(metric: string, base: number, lib: number): number {
  return METRICS[metric]?.higherIsBetter ? lib / base : base / lib;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

function lookup(
  sums: Summary[],
  w: Workload,
  rt: Runtime,
  impl: Impl,
): Summary | undefined {
  return sums.find((s) => s.workload === w && s.runtime === rt && s.impl === impl);
}

/**
 * Lays out rows (the first is the head) as aligned text: the two label
 * columns left-aligned, the figures right-aligned.
 */
function renderTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r, i) =>
    r.map((cell, c) => c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))
      .join("  ") +
    (i === 0 ? "\n" + widths.map((n) => "-".repeat(n)).join("  ") : "")
  ).join("\n");
}

function table(sums: Summary[], opts: Options): string {
  const head = ["workload", "metric"];
  for (const rt of opts.runtimes) {
    head.push(`${rt} baseline`, `${rt} library`, `${rt} lib/base`);
  }
  const rows = [head];
  for (const w of opts.only) {
    for (const m of SHOWN[w]) {
      const row = [w, METRICS[m].label];
      for (const rt of opts.runtimes) {
        const b = lookup(sums, baseOf(w), rt, "baseline")?.medians[m];
        const l = lookup(sums, w, rt, "library")?.medians[m];
        const r = b !== undefined && l !== undefined ? `${ratio(m, b, l).toFixed(2)}x` : "—";
        row.push(fmt(b), fmt(l), r);
      }
      rows.push(row);
    }
  }
  return renderTable(rows);
}

/**
 * Library/baseline of each pass: the two ran one after the other,
 * so drifting machine load moves both; the spread of these ratios is the
 * noise a comparison between runs must beat.
 */
interface PassRatios {
  workload: Workload;
  metric: string;
  runtime: Runtime;
  /** Pass by pass, in pass order (passes where either run failed are left out). */
  ratios: number[];
}

function passRatios(records: RunRecord[], opts: Options): PassRatios[] {
  const out: PassRatios[] = [];
  const find = (w: Workload, rt: Runtime, impl: Impl, pass: number) =>
    records.find((r) =>
      r.workload === w && r.runtime === rt && r.impl === impl && r.pass === pass && r.metrics
    );
  for (const w of opts.only) {
    for (const metric of SHOWN[w]) {
      for (const runtime of opts.runtimes) {
        const ratios: number[] = [];
        for (let pass = 1; pass <= opts.passes; pass++) {
          const b = find(baseOf(w), runtime, "baseline", pass)?.metrics?.[metric];
          const l = find(w, runtime, "library", pass)?.metrics?.[metric];
          if (b !== undefined && l !== undefined) ratios.push(ratio(metric, b, l));
        }
        if (ratios.length > 0) out.push({ workload: w, metric, runtime, ratios });
      }
    }
  }
  return out;
}

/**
 * The pass-by-pass ratios as a table: their median and range per runtime
 * and, with two runtimes, whether the ranges overlap ("within the noise":
 * the runtimes' ratios cannot be told apart by this run) or not.
 */
function passTable(prs: PassRatios[], opts: Options): string {
  const head = ["workload", "metric"];
  for (const rt of opts.runtimes) head.push(`${rt} ratio`, `${rt} range`);
  const two = opts.runtimes.length === 2;
  if (two) head.push(`${opts.runtimes[0]} vs ${opts.runtimes[1]}`);
  const rows = [head];
  for (const w of opts.only) {
    for (const metric of SHOWN[w]) {
      const ranges = opts.runtimes.map((rt) => {
        const rs = prs.find((p) => p.workload === w && p.metric === metric && p.runtime === rt)
          ?.ratios;
        return rs && { median: median(rs), lo: Math.min(...rs), hi: Math.max(...rs) };
      });
      if (ranges.every((r) => r === undefined)) continue;
      const row = [w, METRICS[metric].label];
      for (const r of ranges) {
        row.push(
          r ? `${r.median.toFixed(2)}x` : "—",
          r ? `${r.lo.toFixed(2)}–${r.hi.toFixed(2)}` : "—",
        );
      }
      if (two) {
        const [x, y] = ranges;
        row.push(!x || !y ? "—" : x.lo <= y.hi && y.lo <= x.hi ? "within the noise" : "apart");
      }
      rows.push(row);
    }
  }
  return renderTable(rows);
}

// ---------------------------------------------------------------- chart

interface Bar {
  group: string;
  label: string;
  /** Bar length as a fraction of the full scale. */
  fraction: number;
  text: string;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * A plain horizontal bar chart. Hand-written SVG keeps the runner free of
 * dependencies; `refLine` marks a fraction (parity) when bars are ratios.
 */
function barChart(title: string, bars: Bar[], refLine?: number): string {
  const rowH = 22, left = 210, width = 420, top = 40;
  const colors = ["#3b7dd8", "#e0803a", "#4aa564", "#a05cc8"];
  const labels = [...new Set(bars.map((b) => b.label))];
  const height = top + bars.length * rowH + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + width + 150
    }" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  let lastGroup = "";
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const color = colors[labels.indexOf(b.label) % colors.length];
    const w = Math.max(1, Math.min(1.5, b.fraction) * width / 1.5);
    if (b.group !== lastGroup) {
      out.push(
        `<text x="10" y="${y + 15}" font-weight="bold">${escapeXml(b.group)}</text>`,
      );
      lastGroup = b.group;
    }
    out.push(
      `<text x="${left - 6}" y="${y + 15}" text-anchor="end">${escapeXml(b.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${
        rowH - 6
      }" fill="${color}"/>`,
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 15}">${escapeXml(b.text)}</text>`,
    );
  });
  if (refLine !== undefined) {
    const x = left + refLine * width / 1.5;
    out.push(
      `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${
        top + bars.length * rowH
      }" stroke="#444" stroke-dasharray="4 3"/>`,
      `<text x="${x}" y="${
        top + bars.length * rowH + 16
      }" text-anchor="middle">baseline = 1</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * Library/baseline ratios when any library figures exist; until then the
 * baseline figures themselves, each scaled to the best runtime's figure for
 * that metric (lower-is-better metrics inverted so a longer bar is better).
 */
function chart(sums: Summary[], opts: Options): string {
  const bars: Bar[] = [];
  const haveLibrary = sums.some((s) => s.impl === "library");
  for (const w of opts.only) {
    for (const m of SHOWN[w]) {
      const group = `${w} ${METRICS[m].label}`;
      if (haveLibrary) {
        for (const rt of opts.runtimes) {
          const b = lookup(sums, baseOf(w), rt, "baseline")?.medians[m];
          const l = lookup(sums, w, rt, "library")?.medians[m];
          if (b === undefined || l === undefined) continue;
          const r = ratio(m, b, l);
          bars.push({
            group,
            label: rt,
            fraction: r,
            text: `${r.toFixed(2)}x`,
          });
        }
      } else {
        const vals = opts.runtimes.map((rt) => lookup(sums, w, rt, "baseline")?.medians[m]);
        const good = (v: number) => METRICS[m].higherIsBetter ? v : 1 / v;
        const best = Math.max(
          ...vals.filter((v): v is number => v !== undefined).map(good),
        );
        opts.runtimes.forEach((rt, i) => {
          const v = vals[i];
          if (v === undefined) return;
          bars.push({
            group,
            label: rt,
            fraction: good(v) / best,
            text: `${fmt(v)} ${METRICS[m].label}`,
          });
        });
      }
    }
  }
  return haveLibrary
    ? barChart(
      "hisock: library as a fraction of raw TCP (higher is better)",
      bars,
      1,
    )
    : barChart("Raw TCP baseline, medians (longer is better)", bars);
}

// ---------------------------------------------------------------- main

async function version(argv: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(Deno.args);
  const started = Date.now();
  const nodeVersion = await version([NODE, "--version"]);
  const runtimes = opts.runtimes.filter((rt) => {
    if (rt === "node" && nodeVersion === undefined) {
      console.error(`skipping node: "${NODE} --version" failed`);
      return false;
    }
    return true;
  });

  const targets: Array<Target & { launch: Launch }> = [];
  const skipped = new Set<string>();
  for (const workload of opts.only) {
    for (const runtime of runtimes) {
      for (const impl of opts.impls) {
        const launcher = LAUNCHERS[impl][runtime];
        if (!launcher) continue;
        const launch = launcher(workload);
        if ("skip" in launch) {
          const key = `${runtime} ${impl}: ${launch.skip}`;
          if (launch.skip && !skipped.has(key)) {
            skipped.add(key);
            console.error(`skipping ${key}`);
          }
          continue;
        }
        targets.push({ runtime, impl, workload, launch });
      }
    }
  }

  const records: RunRecord[] = [];
  // Passes are the outer loop so that drifting machine load spreads over
  // every target instead of penalising whichever ran last.
  outer: for (let pass = 1; pass <= opts.passes; pass++) {
    for (const t of targets) {
      if (Date.now() - started > TOTAL_BUDGET_MS) {
        console.error("time budget spent; skipping the remaining runs");
        break outer;
      }
      const t0 = performance.now();
      const rec: RunRecord = {
        runtime: t.runtime,
        impl: t.impl,
        workload: t.workload,
        pass,
        wallMs: 0,
      };
      try {
        rec.metrics = await runOnce(t, t.launch);
      } catch (err) {
        rec.error = err instanceof Error ? err.message : String(err);
      }
      rec.wallMs = Math.round(performance.now() - t0);
      records.push(rec);
      const shown = rec.metrics
        ? SHOWN[t.workload].map((m) => `${fmt(rec.metrics![m])} ${METRICS[m].label}`).join(", ")
        : `FAILED: ${rec.error}`;
      console.error(
        `pass ${pass} ${t.workload} ${t.runtime} ${t.impl}: ${shown} (${rec.wallMs} ms)`,
      );
    }
  }

  const sums = summarize(records);
  opts.runtimes = runtimes;
  console.log(table(sums, opts));
  const prs = passRatios(records, opts);
  if (prs.length > 0) {
    const passes = `${opts.passes} pass${opts.passes === 1 ? "" : "es"}`;
    console.log(`\nlibrary/baseline pass by pass (${passes}; higher is better):`);
    console.log(passTable(prs, opts));
  }

  const dir = here("./results/");
  await Deno.mkdir(dir, { recursive: true });
  const report = {
    generated: new Date().toISOString(),
    machine: {
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      node: nodeVersion ?? null,
    },
    options: opts,
    workloads,
    metrics: METRICS,
    summaries: sums,
    passRatios: prs,
    runs: records,
  };
  await Deno.writeTextFile(
    `${dir}latest.json`,
    JSON.stringify(report, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${dir}latest.svg`, chart(sums, opts));
  console.log(`\nwrote ${dir}latest.json and ${dir}latest.svg`);
  const failures = records.filter((r) => r.error).length;
  if (failures > 0) {
    console.error(`${failures} run(s) failed`);
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
