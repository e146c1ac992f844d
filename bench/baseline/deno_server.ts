/**
 * Baseline server process (Deno, raw TCP).
 *
 * Usage: deno run --allow-net=127.0.0.1 [--v8-flags=--expose-gc] \
 *          bench/baseline/deno_server.ts W1..W5
 *
 * Protocol with the runner (shared by every bench server):
 *   1. prints `{"port": N}` once it listens on 127.0.0.1:N;
 *   2. prints `{"result": {...}}` when the workload's figure is known
 *      (for W2 the client prints it instead);
 *   3. closes every connection and exits by itself.
 *
 * @module
 */

import {
  FanOutWriter,
  FrameParser,
  FrameWriter,
  now,
  parseWorkload,
  readLoop,
  SIZES,
  sleep,
  watchdog,
} from "./deno_frame.ts";

const workload = parseWorkload(Deno.args[0]);
watchdog(60_000, `deno baseline server ${workload}`);

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
/** Every accepted connection, so the end of the run can close them all. */
const conns: Deno.Conn[] = [];

function report(metrics: Record<string, number>): void {
  console.log(JSON.stringify({
    result: { workload, runtime: "deno", impl: "baseline", metrics },
  }));
}

/** Accepts exactly `count` connections (the loop is bounded by the workload). */
async function accept(
  count: number,
  onConn: (conn: Deno.Conn) => void,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    conns.push(conn);
    onConn(conn);
  }
  listener.close();
}

function closeAll(): void {
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // Already closed by the peer; nothing to do.
    }
  }
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

/** W1: count N small messages; the clock starts at the first bytes read. */
async function smallOneWay(): Promise<void> {
  const { messages } = SIZES.W1;
  let count = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  await accept(1, (conn) => {
    const parser = new FrameParser(() => {
      if (++count === messages) resolve();
    });
    readLoop(conn, (chunk) => {
      if (t0 === 0) t0 = now();
      parser.push(chunk);
    }).then(resolve);
  });
  await done;
  const secs = (now() - t0) / 1000;
  if (count !== messages) throw new Error(`W1 got ${count}/${messages}`);
  report({ msgsPerSec: messages / secs });
}

/** W2: reply to each 32-byte message with a 32-byte message. */
async function pingPong(): Promise<void> {
  const reply = new Uint8Array(SIZES.W2.payload).fill(0x50);
  let finished: Promise<void> = Promise.resolve();
  await accept(1, (conn) => {
    const writer = new FrameWriter(conn);
    const parser = new FrameParser(() => writer.send(reply));
    finished = readLoop(conn, (chunk) => parser.push(chunk));
  });
  // The client measures and reports; the server ends when it hangs up.
  await finished;
}

/** W3: receive 256 x 1 MiB; the clock starts at the first bytes read. */
async function bulk(): Promise<void> {
  const { messages, payload } = SIZES.W3;
  let count = 0;
  let bytes = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  await accept(1, (conn) => {
    const parser = new FrameParser((_bytes, start, end) => {
      bytes += end - start;
      if (++count === messages) resolve();
    });
    readLoop(conn, (chunk) => {
      if (t0 === 0) t0 = now();
      parser.push(chunk);
    }).then(resolve);
  });
  await done;
  const secs = (now() - t0) / 1000;
  if (bytes !== messages * payload) throw new Error(`W3 got ${bytes} bytes`);
  report({ mibPerSec: bytes / (1024 * 1024) / secs });
}

/**
 * W4: once all 64 clients are connected, send 10,000 messages to the group.
 * Each message is framed once, into a batch that every connection writes. A
 * client acknowledges with one frame when it has all of them; the clock stops
 * at the last acknowledgement.
 */
async function fanOut(): Promise<void> {
  const { clients, messages, payload } = SIZES.W4;
  const writers: FrameWriter[] = [];
  let acks = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  await accept(clients, (conn) => {
    writers.push(new FrameWriter(conn));
    const parser = new FrameParser(() => {
      if (++acks === clients) resolve();
    });
    readLoop(conn, (chunk) => parser.push(chunk));
  });
  const fan = new FanOutWriter(writers);
  const body = new Uint8Array(payload).fill(0x46);
  const t0 = now();
  for (let i = 0; i < messages; i++) {
    body[0] = i & 0xff;
    // Bounded memory: a slow reader holds the sender back.
    if (!fan.send(body)) await fan.drained();
  }
  await done;
  const secs = (now() - t0) / 1000;
  report({ deliveriesPerSec: clients * messages / secs });
}

/**
 * W5: 2,000 clients connect and say hello (name + group). A join is counted
 * when the hello is parsed and the client is in the name and group indexes.
 * Clock: first accept to last join. Memory: RSS growth after settling.
 */
async function connections(): Promise<void> {
  const { clients } = SIZES.W5;
  const decoder = new TextDecoder();
  const byName = new Map<string, Deno.Conn>();
  const byGroup = new Map<string, Set<Deno.Conn>>();
  let joins = 0;
  let t0 = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const rss0 = await settledRss();
  console.log(JSON.stringify({ port: (listener.addr as Deno.NetAddr).port }));
  await accept(clients, (conn) => {
    if (t0 === 0) t0 = now();
    const parser = new FrameParser((bytes, start, end) => {
      const hello = decoder.decode(bytes.subarray(start, end));
      const sep = hello.indexOf("\n");
      const name = hello.slice(0, sep);
      const group = hello.slice(sep + 1);
      byName.set(name, conn);
      let members = byGroup.get(group);
      if (members === undefined) byGroup.set(group, members = new Set());
      members.add(conn);
      if (++joins === clients) resolve();
    });
    readLoop(conn, (chunk) => parser.push(chunk));
  });
  await done;
  const secs = (now() - t0) / 1000;
  const rss1 = await settledRss();
  if (byName.size !== clients) throw new Error(`W5 names ${byName.size}`);
  report({ seconds: secs, kibPerConn: (rss1 - rss0) / 1024 / clients });
}

if (workload !== "W5") {
  // W5 prints its port only after sampling the idle memory.
  console.log(JSON.stringify({ port: (listener.addr as Deno.NetAddr).port }));
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
closeAll();
Deno.exit(0);
