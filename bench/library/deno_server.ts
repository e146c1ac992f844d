/**
 * Library server process (Deno): the bench workloads written against
 * hisock's public API (`../../mod.ts`).
 *
 * Usage: deno run --allow-net=127.0.0.1 [--v8-flags=--expose-gc] \
 *          bench/library/deno_server.ts W1..W5|W5p|W5x
 *
 * Follows the runner's stdout protocol (see bench/run.ts): prints
 * `{"port": N}` once listening on 127.0.0.1, then `{"result": {...}}` (except
 * for W2, where the client reports), closes the server and exits by itself.
 *
 * @module
 */

import { type ClientInfo, type HiSockServer, startServer, type Transport } from "../../mod.ts";
import { defaultTransport } from "../../runtime.ts";
import {
  type BenchId,
  connectionsParams,
  now,
  parseBenchId,
  SIZES,
  sleep,
  watchdog,
} from "./params.ts";

const id: BenchId = parseBenchId(Deno.args[0]);
watchdog(60_000, `deno library server ${id}`);

function report(metrics: Record<string, number>): void {
  console.log(JSON.stringify({
    result: { workload: id, runtime: "deno", impl: "library", metrics },
  }));
}

function printPort(server: HiSockServer): void {
  console.log(JSON.stringify({ port: server.getAddr()[1] }));
}

/** Resident set size after letting the runtime settle and collecting garbage. */
async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    gc?.();
  }
  return Deno.memoryUsage().rss;
}

/**
 * The runtime's transport with a hook on every accepted connection, so W5's
 * clock can start at the first accept as the baseline's does.
 */
function observedTransport(onAccept: () => void): Transport {
  return {
    connect: (options) => defaultTransport.connect(options),
    async listen(options) {
      const listener = await defaultTransport.listen(options);
      return {
        get addr() {
          return listener.addr;
        },
        start: (onConn, onError) =>
          listener.start((conn) => {
            onAccept();
            onConn(conn);
          }, onError),
        close: () => listener.close(),
      };
    },
  };
}

/** W1: count N small commands; the clock starts at the first one handled. */
async function smallOneWay(): Promise<void> {
  const { messages } = SIZES.W1;
  let count = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("bench", () => {
    if (count === 0) t0 = now();
    if (++count === messages) resolve();
  });
  server.on("leave", () => resolve());
  printPort(server);
  await done;
  const secs = (now() - t0) / 1000;
  if (count !== messages) throw new Error(`W1 got ${count}/${messages}`);
  report({ msgsPerSec: messages / secs });
  await server.close();
}

/** W2: reply to each 32-byte command with a 32-byte command. */
async function pingPong(): Promise<void> {
  const reply = new Uint8Array(SIZES.W2.payload).fill(0x50);
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("bench", (client: ClientInfo) => server.sendClient(client, "bench", reply));
  // The client measures and reports; the server ends when it leaves.
  server.on("leave", () => resolve());
  printPort(server);
  await done;
  await server.close();
}

/** W3: receive 256 x 1 MiB; the clock starts at the first message handled. */
async function bulk(): Promise<void> {
  const { messages, payload } = SIZES.W3;
  let count = 0;
  let bytes = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const server = await startServer(["127.0.0.1", 0]);
  // "view": the bytes are lent for the handler's duration, as the raw
  // baseline's are; a handler that keeps them declares "bytes" and pays a copy.
  server.on("bench", "view", (_client: ClientInfo, content: Uint8Array) => {
    if (count === 0) t0 = now();
    bytes += content.length;
    if (++count === messages) resolve();
  });
  server.on("leave", () => resolve());
  printPort(server);
  await done;
  const secs = (now() - t0) / 1000;
  if (bytes !== messages * payload) throw new Error(`W3 got ${bytes} bytes`);
  report({ mibPerSec: bytes / (1024 * 1024) / secs });
  await server.close();
}

/**
 * W4: once all 64 clients have joined group "fan", `sendGroup` 10,000
 * commands; each client acknowledges the last with one `ack` command, and
 * the clock stops at the last acknowledgement.
 */
async function fanOut(): Promise<void> {
  const { clients, messages, payload } = SIZES.W4;
  let joins = 0;
  let acks = 0;
  const allIn = Promise.withResolvers<void>();
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("join", () => {
    if (++joins === clients) allIn.resolve();
  });
  server.on("ack", () => {
    if (++acks === clients) resolve();
  });
  printPort(server);
  await allIn.promise;
  // Let the join announcements (one per pair) leave before the clock starts.
  await sleep(50);
  const body = new Uint8Array(payload).fill(0x46);
  const t0 = now();
  for (let i = 0; i < messages; i++) {
    body[0] = i & 0xff;
    server.sendGroup("fan", "bench", body);
  }
  await done;
  const secs = (now() - t0) / 1000;
  report({ deliveriesPerSec: clients * messages / secs });
  await server.close();
}

/**
 * W5 (announcements off), W5p (on) and W5x (10,000 clients): every client
 * connects with a name and a group; the clock runs from the first accept to
 * the last `join` event. Memory: RSS growth per connection once settled.
 */
async function connections(): Promise<void> {
  const { clients, announcePresence } = connectionsParams(id);
  let joins = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const server = await startServer(["127.0.0.1", 0], {
    announcePresence,
    transport: observedTransport(() => {
      if (t0 === 0) t0 = now();
    }),
  });
  let errors = 0;
  server.on("error", (error) => {
    if (errors++ < 5) console.error(`server error: ${error.message}`);
  });
  server.on("join", () => {
    if (++joins === clients) resolve();
  });
  const rss0 = await settledRss();
  printPort(server);
  await done;
  const secs = (now() - t0) / 1000;
  const rss1 = await settledRss();
  const names = server.getAllClients("name");
  if (names.length !== clients) throw new Error(`${id}: ${names.length} clients`);
  if (errors > 0) throw new Error(`${id}: ${errors} errors`);
  report({ seconds: secs, kibPerConn: (rss1 - rss0) / 1024 / clients });
  await server.close();
}

switch (id) {
  case "W1":
    await smallOneWay();
    break;
  case "W2":
    await pingPong();
    break;
  case "W3":
    await bulk();
    break;
  case "W4":
    await fanOut();
    break;
  case "W5":
  case "W5p":
  case "W5x":
    await connections();
    break;
}
Deno.exit(0);
