/**
 * Library client process (Deno): the bench workloads written against
 * hisock's public API (`../../mod.ts`).
 *
 * Usage: deno run --allow-net=127.0.0.1 bench/library/deno_client.ts \
 *          W1..W5|W5p|W5x PORT [CONNS] [FIRST]
 *
 * CONNS is how many clients this process runs (W4/W5), FIRST the index of
 * its first client (unique W5 names). Every client ends when the server
 * closes; a watchdog bounds the process.
 *
 * @module
 */

import { connect, type HiSockClient } from "../../mod.ts";
import {
  type BenchId,
  connectionsParams,
  HIGH_WATER,
  LOW_WATER,
  now,
  parseBenchId,
  SIZES,
  watchdog,
} from "./params.ts";

const id: BenchId = parseBenchId(Deno.args[0]);
const port = Number(Deno.args[1]);
if (!Number.isInteger(port) || port <= 0) throw new Error("missing PORT");
const first = Number(Deno.args[3] ?? 0);
watchdog(60_000, `deno library client ${id}`);

const ADDR: [string, number] = ["127.0.0.1", port];

/** W1 and W3: send `messages` commands as fast as backpressure allows. */
async function stream(messages: number, size: number): Promise<void> {
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
async function pingPong(): Promise<void> {
  const { roundTrips, payload: size } = SIZES.W2;
  const client = await connect(ADDR, { name: "pinger" });
  let wake: () => void = () => {};
  client.on("bench", () => wake());
  const payload = new Uint8Array(size).fill(0x51);
  const rtts = new Float64Array(roundTrips);
  for (let i = 0; i < roundTrips; i++) {
    const { promise, resolve } = Promise.withResolvers<void>();
    wake = resolve;
    const t0 = now();
    client.send("bench", payload);
    await promise;
    rtts[i] = now() - t0;
  }
  rtts.sort();
  const mean = rtts.reduce((a, b) => a + b, 0) / roundTrips;
  const p99 = rtts[Math.min(roundTrips - 1, Math.floor(roundTrips * 0.99))];
  console.log(JSON.stringify({
    result: {
      workload: id,
      runtime: "deno",
      impl: "library",
      metrics: { meanUs: mean * 1000, p99Us: p99 * 1000 },
    },
  }));
  await client.close();
}

/** W4: every client is in group "fan", counts and acknowledges the last. */
async function fanOut(count: number): Promise<void> {
  const { messages } = SIZES.W4;
  const clients: HiSockClient[] = [];
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

/**
 * W5 and variants: `count` clients connect with a name and a group, at most
 * `WINDOW` connects in flight (as the baseline), then idle until the server
 * closes.
 */
async function connections(count: number): Promise<void> {
  const WINDOW = 128;
  const ends: Promise<void>[] = [];
  let next = 0;
  async function worker(): Promise<void> {
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
    await fanOut(Number(Deno.args[2] ?? SIZES.W4.clients));
    break;
  case "W5":
  case "W5p":
  case "W5x":
    await connections(Number(Deno.args[2] ?? connectionsParams(id).clients));
    break;
}
Deno.exit(0);
