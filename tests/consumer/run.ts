/**
 * Consumer tests of the built npm package (run `scripts/build_npm.ts` first):
 *
 * 1. `npm pack` of `npm/`, installed from the tarball into an empty project;
 * 2. from there: a Node ESM script, a Node CommonJS script, `tsc --noEmit`
 *    over a TypeScript consumer (ESM and CommonJS types, and the JavaScript
 *    consumers through their JSDoc), and Bun running the TypeScript one;
 * 3. interop: a Deno server (the sources, Deno's transport) with Node and
 *    Bun clients (the package), and a Node server with Deno clients.
 *
 * Every process has a time limit. Exits non-zero on the first failure.
 *
 *     deno run -A tests/consumer/run.ts
 *
 * @module
 */

import { ensureTools, ROOT, TYPES_NODE, TYPESCRIPT } from "../../scripts/npm_tools.ts";

/** The longest any one process may run. */
const LIMIT_MS = 120_000;
const FIXTURES = new URL(".", import.meta.url).pathname;
const FIXTURE_FILES = [
  "scenario.mjs",
  "esm.mjs",
  "cjs.cjs",
  "typed.ts",
  "typed.cts",
  "serve.mjs",
  "clients.mjs",
  "tsconfig.json",
];
/** How Deno runs the interop halves: the network on loopback, nothing else it does not need. */
const DENO_FLAGS = ["run", "--no-config", "--allow-net=127.0.0.1", "--allow-read", "--allow-env"];
const DENO_LIB = new URL("../../mod.ts", import.meta.url).href;

interface Step {
  cmd: string;
  args: string[];
  cwd: string;
}

/** Starts a process whose output is piped, killed when it outlives the limit. */
function spawn({ cmd, args, cwd }: Step) {
  const child = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "inherit" }).spawn();
  const timer = setTimeout(() => {
    console.error(`consumer: ${cmd} ${args.join(" ")} ran past ${LIMIT_MS} ms: killed`);
    child.kill("SIGKILL");
  }, LIMIT_MS);
  const status = child.status.finally(() => clearTimeout(timer));
  return { child, status };
}

/** Runs a step to its end, echoing its output; throws when it fails. */
async function step(what: string, spec: Step, echo = true): Promise<string> {
  console.log(`consumer: ${what}`);
  const { child, status } = spawn(spec);
  const output = new TextDecoder().decode((await child.output()).stdout);
  await status;
  if (echo && output.trim() !== "") console.log(output.trimEnd().replace(/^/gm, "  "));
  const { code } = await status;
  if (code !== 0) throw new Error(`${what}: exited with ${code}`);
  return output;
}

/**
 * Starts the interop server, waits for its port, runs the client steps, then
 * waits for the server to end by itself.
 */
async function interop(what: string, server: Step, clients: (port: number) => Step[]) {
  console.log(`consumer: interop: ${what}`);
  const { child, status } = spawn(server);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let port = 0;
  while (port === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what}: the server ended before it listened`);
    buffered += value;
    const match = buffered.match(/LISTENING (\d+)/);
    if (match) port = Number(match[1]);
  }
  try {
    for (const [index, spec] of clients(port).entries()) {
      await step(`${what}: clients ${index + 1}`, spec);
    }
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  // The rest of the server's output, until it exits by itself.
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
  }
  console.log(buffered.trimEnd().replace(/^/gm, "  "));
  const { code } = await status;
  if (code !== 0) throw new Error(`${what}: the server exited with ${code}`);
}

async function main(): Promise<void> {
  const tools = await ensureTools();
  try {
    await Deno.stat(`${ROOT}/npm/package.json`);
  } catch {
    throw new Error("no npm/ build: run deno run -A scripts/build_npm.ts first");
  }
  const temp = await Deno.makeTempDir({ prefix: "hisock-consumer-" });
  try {
    const packed = await step("npm pack", {
      cmd: "npm",
      args: ["pack", "--json", "--pack-destination", temp],
      cwd: `${ROOT}/npm`,
    }, false);
    const tarball = `${temp}/${JSON.parse(packed)[0].filename}`;
    const project = `${temp}/project`;
    await Deno.mkdir(project);
    await Deno.writeTextFile(
      `${project}/package.json`,
      JSON.stringify({ name: "hisock-consumer", private: true, type: "module" }, null, 2),
    );
    for (const name of FIXTURE_FILES) {
      await Deno.copyFile(`${FIXTURES}/${name}`, `${project}/${name}`);
    }
    await step("npm install the tarball", {
      cmd: "npm",
      args: ["install", "--no-audit", "--no-fund", "--save-exact", tarball, TYPESCRIPT, TYPES_NODE],
      cwd: project,
    });
    const at = (cmd: string, ...args: string[]): Step => ({ cmd, args, cwd: project });

    await step("node, ESM", at("node", "esm.mjs"));
    await step("node, CommonJS", at("node", "cjs.cjs"));
    await step("tsc --noEmit", at("node", "node_modules/typescript/bin/tsc", "-p", "."));
    await step("bun, TypeScript", at(tools.bun, "typed.ts", "bun"));

    await interop(
      "a Deno server, Node and Bun clients",
      at(Deno.execPath(), ...DENO_FLAGS, "serve.mjs", DENO_LIB, "2"),
      (port) => [
        at("node", "clients.mjs", "hisock-ts", String(port), "node"),
        at(tools.bun, "clients.mjs", "hisock-ts", String(port), "bun"),
      ],
    );
    await interop(
      "a Node server, Deno clients",
      at("node", "serve.mjs", "hisock-ts", "1"),
      (port) => [at(Deno.execPath(), ...DENO_FLAGS, "clients.mjs", DENO_LIB, String(port), "deno")],
    );
    console.log("consumer: all passed");
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
}

await main();
