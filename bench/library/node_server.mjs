// Library server process (Node): the bench workloads written against
// hisock's npm build (`../../npm/esm/mod.js`, made by `deno task build:npm`).
//
// Usage: node [--expose-gc] bench/library/node_server.mjs W1..W5|W5p|W5x
//
// Same work as deno_server.ts and the same stdout protocol: prints
// {"port": N} once listening on 127.0.0.1, then {"result": {...}} (except
// W2, where the client reports), closes the server and exits by itself.

import process from "node:process";
import { startServer } from "../../npm/esm/mod.js";
import { nodeTransport } from "../../npm/esm/transport_node.js";
import {
  connectionsParams,
  deferred,
  now,
  parseBenchId,
  SIZES,
  sleep,
  watchdog,
} from "./node_params.mjs";

const id = parseBenchId(process.argv[2]);
watchdog(60_000, `node library server ${id}`);

function report(metrics) {
  console.log(JSON.stringify({
    result: { workload: id, runtime: "node", impl: "library", metrics },
  }));
}

function printPort(server) {
  console.log(JSON.stringify({ port: server.getAddr()[1] }));
}

/** Resident set size after letting the runtime settle and collecting garbage. */
async function settledRss() {
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    globalThis.gc?.();
  }
  return process.memoryUsage().rss;
}

/** The Node transport with a hook on every accept (W5's clock starts there). */
function observedTransport(onAccept) {
  return {
    connect: (options) => nodeTransport.connect(options),
    async listen(options) {
      const listener = await nodeTransport.listen(options);
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
async function smallOneWay() {
  const { messages } = SIZES.W1;
  let count = 0;
  let t0 = 0;
  const done = deferred();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("bench", () => {
    if (count === 0) t0 = now();
    if (++count === messages) done.resolve();
  });
  server.on("leave", () => done.resolve());
  printPort(server);
  await done.promise;
  const secs = (now() - t0) / 1000;
  if (count !== messages) throw new Error(`W1 got ${count}/${messages}`);
  report({ msgsPerSec: messages / secs });
  await server.close();
}

/** W2: reply to each 32-byte command with a 32-byte command. */
async function pingPong() {
  const reply = new Uint8Array(SIZES.W2.payload).fill(0x50);
  const done = deferred();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("bench", (client) => server.sendClient(client, "bench", reply));
  server.on("leave", () => done.resolve());
  printPort(server);
  await done.promise;
  await server.close();
}

/** W3: receive 256 x 1 MiB; the clock starts at the first message handled. */
async function bulk() {
  const { messages, payload } = SIZES.W3;
  let count = 0;
  let bytes = 0;
  let t0 = 0;
  const done = deferred();
  const server = await startServer(["127.0.0.1", 0]);
  // "view": the bytes are lent for the handler's duration, as the raw
  // baseline's are; a handler that keeps them declares "bytes" and pays a copy.
  server.on("bench", "view", (_client, content) => {
    if (count === 0) t0 = now();
    bytes += content.length;
    if (++count === messages) done.resolve();
  });
  server.on("leave", () => done.resolve());
  printPort(server);
  await done.promise;
  const secs = (now() - t0) / 1000;
  if (bytes !== messages * payload) throw new Error(`W3 got ${bytes} bytes`);
  report({ mibPerSec: bytes / (1024 * 1024) / secs });
  await server.close();
}

/** W4: sendGroup 10,000 commands to 64 clients; stop at the last ack. */
async function fanOut() {
  const { clients, messages, payload } = SIZES.W4;
  let joins = 0;
  let acks = 0;
  const allIn = deferred();
  const done = deferred();
  const server = await startServer(["127.0.0.1", 0]);
  server.on("join", () => {
    if (++joins === clients) allIn.resolve();
  });
  server.on("ack", () => {
    if (++acks === clients) done.resolve();
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
  await done.promise;
  const secs = (now() - t0) / 1000;
  report({ deliveriesPerSec: clients * messages / secs });
  await server.close();
}

/** W5 / W5p / W5x: first accept to last join; RSS growth per connection. */
async function connections() {
  const { clients, announcePresence } = connectionsParams(id);
  let joins = 0;
  let t0 = 0;
  let errors = 0;
  const done = deferred();
  const server = await startServer(["127.0.0.1", 0], {
    announcePresence,
    transport: observedTransport(() => {
      if (t0 === 0) t0 = now();
    }),
  });
  server.on("error", (error) => {
    if (errors++ < 5) console.error(`server error: ${error.message}`);
  });
  server.on("join", () => {
    if (++joins === clients) done.resolve();
  });
  const rss0 = await settledRss();
  printPort(server);
  await done.promise;
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
  default:
    await connections();
    break;
}
process.exit(0);
