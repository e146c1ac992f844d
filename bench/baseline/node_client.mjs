// Baseline client process (Node, raw TCP).
//
// Usage: node bench/baseline/node_client.mjs W1..W5 PORT [CONNS] [FIRST]
//
// Same work as deno_client.ts. CONNS is how many connections this process
// opens (W4/W5), FIRST the index of its first client (unique W5 names).
// Every client ends when the server closes its connection; a watchdog bounds
// the process.

import { Buffer } from "node:buffer";
import net from "node:net";
import process from "node:process";
import {
  deferred,
  FrameParser,
  FrameWriter,
  now,
  parseWorkload,
  SIZES,
  watchdog,
} from "./node_frame.mjs";

const workload = parseWorkload(process.argv[2]);
const port = Number(process.argv[3]);
if (!Number.isInteger(port) || port <= 0) throw new Error("missing PORT");
const first = Number(process.argv[5] ?? 0);
watchdog(60_000, `node baseline client ${workload}`);

/**
 * Connects with `onChunk` as the reader. Client sockets can read into one
 * reused buffer (the `onread` option), which measured 4x faster than 'data'
 * events for bulk (4.2 against 0.95 GiB/s: 'data' allocates 64 KiB per read).
 * Accepted server sockets have no such option, so the server uses 'data'.
 */
function dial(onChunk, bufSize = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: "127.0.0.1",
      port,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(bufSize),
        callback: (len, buf) => {
          onChunk(buf.subarray(0, len));
        },
      },
    });
    socket.once("connect", () => {
      socket.off("error", reject);
      // A reset at shutdown is an ordinary end of stream for a benchmark.
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Resolves when the server hangs up: every client's natural end. */
function untilClosed(socket) {
  return new Promise((resolve) => socket.once("close", resolve));
}

const ignore = () => {};

/** W1 and W3: send `messages` payloads as fast as backpressure allows. */
async function stream(messages, size) {
  const socket = await dial(ignore);
  const closed = untilClosed(socket);
  const writer = new FrameWriter(socket);
  const payload = new Uint8Array(size).fill(0x42);
  for (let i = 0; i < messages; i++) {
    payload[0] = i & 0xff;
    if (!writer.send(payload)) await writer.drained();
  }
  writer.flush();
  await closed;
}

/** W2: one request in flight; the client owns the clock and reports. */
async function pingPong() {
  const { roundTrips, payload: size } = SIZES.W2;
  let wake = () => {};
  const parser = new FrameParser(() => wake());
  const socket = await dial((chunk) => parser.push(chunk));
  const writer = new FrameWriter(socket);
  const closed = untilClosed(socket);
  const payload = new Uint8Array(size).fill(0x51);
  const rtts = new Float64Array(roundTrips);
  for (let i = 0; i < roundTrips; i++) {
    const reply = deferred();
    wake = reply.resolve;
    const t0 = now();
    writer.send(payload);
    await reply.promise;
    rtts[i] = now() - t0;
  }
  rtts.sort();
  const mean = rtts.reduce((a, b) => a + b, 0) / roundTrips;
  const p99 = rtts[Math.min(roundTrips - 1, Math.floor(roundTrips * 0.99))];
  console.log(JSON.stringify({
    result: {
      workload,
      runtime: "node",
      impl: "baseline",
      metrics: { meanUs: mean * 1000, p99Us: p99 * 1000 },
    },
  }));
  socket.end();
  await closed;
}

/** W4: each connection counts the group messages and acknowledges the last. */
async function fanOut(count) {
  const { messages } = SIZES.W4;
  const ack = new Uint8Array([0x41]);
  const ends = [];
  for (let i = 0; i < count; i++) {
    let writer = null;
    let got = 0;
    const parser = new FrameParser(() => {
      if (++got === messages) writer.send(ack);
    });
    const socket = await dial((chunk) => parser.push(chunk));
    writer = new FrameWriter(socket);
    ends.push(untilClosed(socket));
  }
  await Promise.all(ends);
}

/**
 * W5: open `count` connections, each sending one hello (`name\ngroup`), with
 * at most `WINDOW` connects in flight so the listen backlog never overflows.
 */
async function connections(count) {
  const WINDOW = 128;
  const encoder = new TextEncoder();
  const ends = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      const id = first + next++;
      // Idle connections need only a small read buffer.
      const socket = await dial(ignore, 1024);
      const writer = new FrameWriter(socket);
      writer.send(encoder.encode(`client-${id}\ngroup-${id % 16}`));
      ends.push(untilClosed(socket));
    }
  }
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, worker));
  await Promise.all(ends);
}

switch (workload) {
  case "W1":
    await stream(SIZES.W1.messages, SIZES.W1.payload);
    break;
  case "W2":
    await pingPong();
    break;
  case "W3":
    await stream(SIZES.W3.messages, SIZES.W3.payload);
    break;
  case "W4":
    await fanOut(Number(process.argv[4] ?? SIZES.W4.clients));
    break;
  case "W5":
    await connections(Number(process.argv[4] ?? SIZES.W5.clients));
    break;
}
process.exit(0);
