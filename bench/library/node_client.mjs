// Library client process (Node): the bench workloads written against
// hisock's npm build (`../../npm/esm/mod.js`).
//
// Usage: node bench/library/node_client.mjs W1..W5|W5p|W5x PORT [CONNS] [FIRST]
//
// Same work as deno_client.ts. Every client ends when the server closes; a
// watchdog bounds the process.

import process from "node:process";
import { connect } from "../../npm/esm/mod.js";
import {
  connectionsParams,
  deferred,
  HIGH_WATER,
  LOW_WATER,
  now,
  parseBenchId,
  SIZES,
  watchdog,
} from "./node_params.mjs";

const id = parseBenchId(process.argv[2]);
const port = Number(process.argv[3]);
if (!Number.isInteger(port) || port <= 0) throw new Error("missing PORT");
const first = Number(process.argv[5] ?? 0);
watchdog(60_000, `node library client ${id}`);

const ADDR = ["127.0.0.1", port];

/** W1 and W3: send `messages` commands as fast as backpressure allows. */
async function stream(messages, size) {
  const client = await connect(ADDR, { name: "streamer" });
  const payload = new Uint8Array(size).fill(0x42);
  for (let i = 0; i < messages; i++) {
    payload[0] = i & 0xff;
    client.send("bench", payload);
    // The baseline's marks: pause at 4 MiB queued, go on below 1 MiB.
    if (client.bufferedAmount >= HIGH_WATER) await client.drain(LOW_WATER);
  }
  await client.closed;
}

/** W2: one request in flight; the client owns the clock and reports. */
async function pingPong() {
  const { roundTrips, payload: size } = SIZES.W2;
  const client = await connect(ADDR, { name: "pinger" });
  let wake = () => {};
  client.on("bench", () => wake());
  const payload = new Uint8Array(size).fill(0x51);
  const rtts = new Float64Array(roundTrips);
  for (let i = 0; i < roundTrips; i++) {
    const reply = deferred();
    wake = reply.resolve;
    const t0 = now();
    client.send("bench", payload);
    await reply.promise;
    rtts[i] = now() - t0;
  }
  rtts.sort();
  const mean = rtts.reduce((a, b) => a + b, 0) / roundTrips;
  const p99 = rtts[Math.min(roundTrips - 1, Math.floor(roundTrips * 0.99))];
  console.log(JSON.stringify({
    result: {
      workload: id,
      runtime: "node",
      impl: "library",
      metrics: { meanUs: mean * 1000, p99Us: p99 * 1000 },
    },
  }));
  await client.close();
}

/** W4: every client is in group "fan", counts and acknowledges the last. */
async function fanOut(count) {
  const { messages } = SIZES.W4;
  const clients = [];
  for (let i = 0; i < count; i++) {
    const client = await connect(ADDR, { name: `fan-${first + i}`, group: "fan" });
    let got = 0;
    client.on("bench", () => {
      if (++got === messages) client.send("ack");
    });
    clients.push(client);
  }
  await Promise.all(clients.map((c) => c.closed));
}

/** W5 and variants: connect with a name and a group, 128 connects in flight. */
async function connections(count) {
  const WINDOW = 128;
  const ends = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      const n = first + next++;
      const client = await connect(ADDR, { name: `client-${n}`, group: `group-${n % 16}` });
      ends.push(client.closed);
    }
  }
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, worker));
  await Promise.all(ends);
}

switch (id) {
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
  default:
    await connections(Number(process.argv[4] ?? connectionsParams(id).clients));
    break;
}
process.exit(0);
