/**
 * Baseline client process (Deno, raw TCP).
 *
 * Usage: deno run --allow-net=127.0.0.1 bench/baseline/deno_client.ts \
 *          W1..W5 PORT [CONNS] [FIRST]
 *
 * CONNS is how many connections this process opens (W4/W5; default: the whole
 * workload), FIRST the index of its first client (for unique W5 names), so the
 * runner may spread the clients over several processes. Every client ends
 * when the server closes its connection; a watchdog bounds the process.
 *
 * @module
 */

import {
  FrameParser,
  FrameWriter,
  now,
  parseWorkload,
  readLoop,
  SIZES,
  watchdog,
} from "./deno_frame.ts";

const workload = parseWorkload(Deno.args[0]);
const port = Number(Deno.args[1]);
if (!Number.isInteger(port) || port <= 0) throw new Error("missing PORT");
const first = Number(Deno.args[3] ?? 0);
watchdog(60_000, `deno baseline client ${workload}`);

async function dial(): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/** Reads and discards until the server hangs up: the client's natural end. */
function untilClosed(conn: Deno.Conn): Promise<void> {
  return readLoop(conn, () => {});
}

/** W1 and W3: send `messages` payloads as fast as backpressure allows. */
async function stream(messages: number, size: number): Promise<void> {
  const conn = await dial();
  const closed = untilClosed(conn);
  const writer = new FrameWriter(conn);
  const payload = new Uint8Array(size).fill(0x42);
  for (let i = 0; i < messages; i++) {
    payload[0] = i & 0xff;
    if (!writer.send(payload)) await writer.drained();
  }
  writer.flush();
  await closed;
}

/** W2: one request in flight; the client owns the clock and reports. */
async function pingPong(): Promise<void> {
  const { roundTrips, payload: size } = SIZES.W2;
  const conn = await dial();
  const writer = new FrameWriter(conn);
  let wake: () => void = () => {};
  const parser = new FrameParser(() => wake());
  const closed = readLoop(conn, (chunk) => parser.push(chunk));
  const payload = new Uint8Array(size).fill(0x51);
  const rtts = new Float64Array(roundTrips);
  for (let i = 0; i < roundTrips; i++) {
    const { promise, resolve } = Promise.withResolvers<void>();
    wake = resolve;
    const t0 = now();
    writer.send(payload);
    await promise;
    rtts[i] = now() - t0;
  }
  rtts.sort();
  const mean = rtts.reduce((a, b) => a + b, 0) / roundTrips;
  const p99 = rtts[Math.min(roundTrips - 1, Math.floor(roundTrips * 0.99))];
  console.log(JSON.stringify({
    result: {
      workload,
      runtime: "deno",
      impl: "baseline",
      metrics: { meanUs: mean * 1000, p99Us: p99 * 1000 },
    },
  }));
  conn.close();
  await closed;
}

/** W4: each connection counts the group messages and acknowledges the last. */
async function fanOut(count: number): Promise<void> {
  const { messages } = SIZES.W4;
  const ack = new Uint8Array([0x41]);
  const conns = await Promise.all(Array.from({ length: count }, dial));
  await Promise.all(conns.map((conn) => {
    const writer = new FrameWriter(conn);
    let got = 0;
    const parser = new FrameParser(() => {
      if (++got === messages) writer.send(ack);
    });
    return readLoop(conn, (chunk) => parser.push(chunk));
  }));
}

/**
 * W5: open `count` connections, each sending one hello (`name\ngroup`). At
 * most `WINDOW` connects are in flight so the listen backlog never overflows
 * (an overflow costs a 1 s SYN retransmit and would measure the kernel).
 */
async function connections(count: number): Promise<void> {
  const WINDOW = 128;
  const encoder = new TextEncoder();
  const ends: Promise<void>[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const id = first + next++;
      const conn = await dial();
      const writer = new FrameWriter(conn);
      writer.send(encoder.encode(`client-${id}\ngroup-${id % 16}`));
      ends.push(untilClosed(conn));
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
    await fanOut(Number(Deno.args[2] ?? SIZES.W4.clients));
    break;
  case "W5":
    await connections(Number(Deno.args[2] ?? SIZES.W5.clients));
    break;
}
Deno.exit(0);
