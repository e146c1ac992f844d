// Baseline server process (Node, raw TCP).
//
// Usage: node [--expose-gc] bench/baseline/node_server.mjs W1..W5
//
// Same protocol and the same work as deno_server.ts: prints {"port": N} once
// listening on 127.0.0.1, then {"result": {...}} (except W2, where the client
// reports), closes every connection and exits by itself.

import net from "node:net";
import process from "node:process";
import {
  deferred,
  FanOutWriter,
  FrameParser,
  FrameWriter,
  now,
  parseWorkload,
  readLoop,
  SIZES,
  sleep,
  watchdog,
} from "./node_frame.mjs";

const workload = parseWorkload(process.argv[2]);
watchdog(60_000, `node baseline server ${workload}`);

const sockets = [];
let expected = 0;
let onSocket = () => {};
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  sockets.push(socket);
  // Bounded: stop listening once the workload's clients are all in.
  if (sockets.length === expected) server.close();
  onSocket(socket);
});

function listen() {
  return new Promise((resolve) => {
    server.listen({ host: "127.0.0.1", port: 0, backlog: 511 }, resolve);
  });
}

function printPort() {
  console.log(JSON.stringify({ port: server.address().port }));
}

function report(metrics) {
  console.log(JSON.stringify({
    result: { workload, runtime: "node", impl: "baseline", metrics },
  }));
}

/** Resident set size after letting the runtime settle and collecting garbage. */
async function settledRss() {
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    globalThis.gc?.();
  }
  return process.memoryUsage().rss;
}

/** W1: count N small messages; the clock starts at the first bytes read. */
async function smallOneWay() {
  const { messages } = SIZES.W1;
  let count = 0;
  let t0 = 0;
  const done = deferred();
  expected = 1;
  onSocket = (socket) => {
    const parser = new FrameParser(() => {
      if (++count === messages) done.resolve();
    });
    readLoop(socket, (chunk) => {
      if (t0 === 0) t0 = now();
      parser.push(chunk);
    }).then(done.resolve);
  };
  await listen();
  printPort();
  await done.promise;
  const secs = (now() - t0) / 1000;
  if (count !== messages) throw new Error(`W1 got ${count}/${messages}`);
  report({ msgsPerSec: messages / secs });
}

/** W2: reply to each 32-byte message with a 32-byte message. */
async function pingPong() {
  const reply = new Uint8Array(SIZES.W2.payload).fill(0x50);
  const done = deferred();
  expected = 1;
  onSocket = (socket) => {
    const writer = new FrameWriter(socket);
    const parser = new FrameParser(() => writer.send(reply));
    readLoop(socket, (chunk) => parser.push(chunk)).then(done.resolve);
  };
  await listen();
  printPort();
  // The client measures and reports; the server ends when it hangs up.
  await done.promise;
}

/** W3: receive 256 x 1 MiB; the clock starts at the first bytes read. */
async function bulk() {
  const { messages, payload } = SIZES.W3;
  let count = 0;
  let bytes = 0;
  let t0 = 0;
  const done = deferred();
  expected = 1;
  onSocket = (socket) => {
    const parser = new FrameParser((_bytes, start, end) => {
      bytes += end - start;
      if (++count === messages) done.resolve();
    });
    readLoop(socket, (chunk) => {
      if (t0 === 0) t0 = now();
      parser.push(chunk);
    }).then(done.resolve);
  };
  await listen();
  printPort();
  await done.promise;
  const secs = (now() - t0) / 1000;
  if (bytes !== messages * payload) throw new Error(`W3 got ${bytes} bytes`);
  report({ mibPerSec: bytes / (1024 * 1024) / secs });
}

/**
 * W4: once all 64 clients are connected, send 10,000 messages to the group,
 * each framed once, into a batch that every connection writes; the clock
 * stops at the last client's acknowledgement.
 */
async function fanOut() {
  const { clients, messages, payload } = SIZES.W4;
  const writers = [];
  let acks = 0;
  const done = deferred();
  const allIn = deferred();
  expected = clients;
  onSocket = (socket) => {
    writers.push(new FrameWriter(socket));
    const parser = new FrameParser(() => {
      if (++acks === clients) done.resolve();
    });
    readLoop(socket, (chunk) => parser.push(chunk));
    if (writers.length === clients) allIn.resolve();
  };
  await listen();
  printPort();
  await allIn.promise;
  const fan = new FanOutWriter(writers);
  const body = new Uint8Array(payload).fill(0x46);
  const t0 = now();
  for (let i = 0; i < messages; i++) {
    body[0] = i & 0xff;
    // Bounded memory: a slow reader holds the sender back.
    if (!fan.send(body)) await fan.drained();
  }
  await done.promise;
  const secs = (now() - t0) / 1000;
  report({ deliveriesPerSec: clients * messages / secs });
}

/**
 * W5: 2,000 clients connect and say hello (`name\ngroup`); a join is counted
 * once the client is in the name and group indexes. Clock: first accept to
 * last join. Memory: RSS growth after settling, per connection.
 */
async function connections() {
  const { clients } = SIZES.W5;
  const decoder = new TextDecoder();
  const byName = new Map();
  const byGroup = new Map();
  let joins = 0;
  let t0 = 0;
  const done = deferred();
  expected = clients;
  onSocket = (socket) => {
    if (t0 === 0) t0 = now();
    const parser = new FrameParser((bytes, start, end) => {
      const hello = decoder.decode(bytes.subarray(start, end));
      const sep = hello.indexOf("\n");
      const name = hello.slice(0, sep);
      const group = hello.slice(sep + 1);
      byName.set(name, socket);
      let members = byGroup.get(group);
      if (members === undefined) byGroup.set(group, members = new Set());
      members.add(socket);
      if (++joins === clients) done.resolve();
    });
    readLoop(socket, (chunk) => parser.push(chunk));
  };
  await listen();
  const rss0 = await settledRss();
  printPort();
  await done.promise;
  const secs = (now() - t0) / 1000;
  const rss1 = await settledRss();
  if (byName.size !== clients) throw new Error(`W5 names ${byName.size}`);
  report({ seconds: secs, kibPerConn: (rss1 - rss0) / 1024 / clients });
}

switch (workload) {
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
    await connections();
    break;
}
for (const s of sockets) s.destroy();
process.exit(0);
