/**
 * The write path of a connection over an in-memory transport that takes its
 * time, so that sealing, pooling and reuse of output buffers can be checked
 * byte for byte: whatever is queued must leave intact and in order, however
 * the writes interleave with new sends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection, SharedFrames, SharedRun } from "./connection.ts";
import { FrameDecoder, Framing } from "./framing.ts";
import type { ByteSink, TransportConn, WriteListener } from "./transport.ts";

/**
 * A transport whose writes complete after a delay, in order, copying the
 * bytes only then. With `pipelinesWrites` several may be in flight;
 * without, a second write before the first ended breaks the seam's rule.
 */
class SlowTransport implements TransportConn {
  readonly remoteAddr = { hostname: "127.0.0.1", port: 1 };
  readonly localAddr = { hostname: "127.0.0.1", port: 2 };
  readonly written: Uint8Array[] = [];
  writes = 0;
  inFlight = 0;
  mostInFlight = 0;
  constructor(readonly pipelinesWrites = false) {}
  start(_sink: ByteSink): void {}
  write(bytes: Uint8Array, listener: WriteListener): void {
    this.writes++;
    if (this.inFlight > 0 && !this.pipelinesWrites) {
      throw new Error("a write while one is in flight");
    }
    this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
    // The caller must leave the bytes alone until told: read them late.
    setTimeout(() => {
      this.written.push(bytes.slice());
      this.inFlight--;
      listener.onWritten();
    }, 1);
  }
  pause(): void {}
  resume(): void {}
  close(): void {}
}

function decodeAll(framing: Framing, parts: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const decoder = new FrameDecoder(
    framing,
    (bytes, start, end) => out.push(bytes.slice(start, end)),
  );
  for (const part of parts) decoder.push(part, false);
  return out;
}

for (const pipelines of [false, true]) {
  test(
    `bursts of frames of every size leave intact and in order across sealed batches${
      pipelines ? ", several writes in flight" : ""
    }`,
    () => burstsLeaveInOrder(pipelines),
  );
}

async function burstsLeaveInOrder(pipelines: boolean): Promise<void> {
  const framing = new Framing({ maxMessageSize: 4 * 1024 * 1024 });
  const transport = new SlowTransport(pipelines);
  const connection = new Connection(transport, framing, {
    onFrame: () => {},
    onClose: () => {},
  });
  const sent: Uint8Array[] = [];
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 200; i++) {
      const size = next() < 0.02 ? Math.floor(next() * 1024 * 1024) : Math.floor(next() * 300);
      const payload = new Uint8Array(size);
      for (let j = 0; j < size; j += 97) payload[j] = (round + i + j) & 0xff;
      sent.push(payload);
      connection.send((out) => out.frame(payload));
    }
    // Let some writes complete between bursts, so buffers are recycled and
    // refilled while others are still queued.
    await new Promise((resolve) => setTimeout(resolve, next() * 5));
    await connection.drain(8 * 1024 * 1024);
  }
  await connection.drain();
  assert.equal(connection.bufferedAmount, 0);
  const received = decodeAll(framing, transport.written);
  assert.equal(received.length, sent.length);
  received.forEach((payload, i) => assert.deepEqual(payload, sent[i], `frame ${i}`));
  assert.ok(transport.writes > 20, `batches were sealed and written apart (${transport.writes})`);
  // A connection's own frames leave one write at a time, pipelining or not.
  assert.equal(transport.mostInFlight, 1);
}

test("bufferedAmount counts queued, sealed and in-flight bytes; drain(below) waits for the mark", async () => {
  const framing = new Framing();
  const transport = new SlowTransport();
  const connection = new Connection(
    transport,
    framing,
    {
      onFrame: () => {},
      onClose: () => {},
    },
    undefined,
    { highWaterMark: 100_000 },
  );
  const payload = new Uint8Array(10_000);
  let writable = true;
  for (let i = 0; i < 30; i++) writable = connection.send((out) => out.frame(payload));
  assert.equal(connection.bufferedAmount, 30 * (10_000 + 16));
  assert.equal(writable, false, "over the high-water mark");
  await connection.drain(150_000);
  assert.ok(connection.bufferedAmount <= 150_000);
  await connection.drain();
  assert.equal(connection.bufferedAmount, 0);
  assert.equal(decodeAll(framing, transport.written).length, 30);
});

for (const pipelines of [false, true]) {
  for (const runs of [false, true]) {
    test(
      `broadcasts queued by reference interleave with private frames, intact and in order${
        pipelines ? ", several writes in flight" : ""
      }${runs ? ", in runs that grow" : ""}`,
      () => broadcastsInterleave(pipelines, runs),
    );
  }
}

async function broadcastsInterleave(pipelines: boolean, runs: boolean): Promise<void> {
  const framing = new Framing({ maxMessageSize: 1024 * 1024 });
  const shared = new SharedFrames(framing);
  const peers = [0, 1, 2].map(() => {
    const transport = new SlowTransport(pipelines);
    const connection = new Connection(transport, framing, {
      onFrame: () => {},
      onClose: () => {},
    });
    return { transport, connection, sent: [] as Uint8Array[] };
  });
  let run: SharedRun | null = null;
  let extended = 0;
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const payloadOf = (size: number, mark: number) => {
    const payload = new Uint8Array(size);
    for (let j = 0; j < size; j++) payload[j] = (mark + j * 31) & 0xff;
    return payload;
  };
  for (let round = 0; round < 30; round++) {
    for (let i = 0; i < 300; i++) {
      // Flushes due at the end of a tick run now and then.
      if (next() < 0.05) await Promise.resolve();
      const size = next() < 0.01 ? Math.floor(next() * 200_000) : Math.floor(next() * 200);
      const payload = payloadOf(size, round * 1000 + i);
      // With runs, private frames are rarer: each one stops the run.
      if (next() < (runs ? 0.95 : 0.7)) {
        // A broadcast to everyone: one encoding, a view queued on each, or
        // the newest run lengthened for all of them at once.
        const frames = shared.encode((out) => out.frame(payload));
        if (run !== null && run.extend(frames)) extended++;
        else {
          run = runs ? new SharedRun(frames) : null;
          for (const peer of peers) peer.connection.sendFrames(frames, true, run);
        }
        for (const peer of peers) peer.sent.push(payload);
      } else {
        // A private frame to one peer, between the broadcasts.
        const peer = peers[Math.floor(next() * peers.length)];
        peer.connection.send((out) => out.frame(payload));
        peer.sent.push(payload);
      }
    }
    // Writes complete (and buffers are recycled into the pool and reused
    // by private sends) while other views of shared buffers wait.
    await new Promise((resolve) => setTimeout(resolve, next() * 4));
  }
  for (const { connection, transport, sent } of peers) {
    await connection.drain();
    const received = decodeAll(framing, transport.written);
    assert.equal(received.length, sent.length);
    received.forEach((payload, i) => assert.deepEqual(payload, sent[i], `frame ${i}`));
    // Consecutive broadcasts left together: far fewer writes than frames.
    assert.ok(transport.writes < sent.length / 4, `${transport.writes} writes`);
    if (!pipelines) assert.equal(transport.mostInFlight, 1);
  }
  if (pipelines) {
    assert.ok(
      peers.some(({ transport }) => transport.mostInFlight > 1),
      "runs left while others flew",
    );
  }
  if (runs) assert.ok(extended > 100, `only ${extended} broadcasts lengthened a run`);
}

/** Connections whose writes never end, to watch their queues. */
function stalledPeers(count: number, limits: { highWaterMark: number; maxQueuedBytes: number }) {
  // Small frames only, so that a connection's own frames go straight into
  // its buffer (it is roomy) even with these small limits.
  const framing = new Framing({ maxMessageSize: 512 });
  return {
    framing,
    connections: Array.from({ length: count }, () =>
      new Connection(
        { ...new SlowTransport(), write() {} } as unknown as TransportConn,
        framing,
        { onFrame: () => {}, onClose: () => {} },
        undefined,
        limits,
      )),
  };
}

test("a broadcast run grows for every holder, until one queues something after it", () => {
  const { framing, connections: [a, b, c] } = stalledPeers(3, {
    highWaterMark: 1000,
    maxQueuedBytes: 2000,
  });
  const shared = new SharedFrames(framing);
  const payload = new Uint8Array(30);
  const frames = () => shared.encode((out) => out.frame(payload));
  const first = frames();
  const size = first.bytes.length;
  const run = new SharedRun(first);
  for (const connection of [a, b, c]) connection.sendFrames(first, true, run);
  assert.equal(run.extend(frames()), true);
  assert.equal(run.extend(frames()), true);
  for (const connection of [a, b, c]) assert.equal(connection.bufferedAmount, 3 * size);

  // A frame of a's own follows the run: it may not grow for a alone.
  a.send((out) => out.frame(payload));
  assert.equal(run.open, false);
  assert.equal(run.extend(frames()), false, "closed");
  assert.equal(b.bufferedAmount, 3 * size);
  assert.equal(a.bufferedAmount, 4 * size);

  // A recipient that copies the frames (its own wait in its buffer) closes it.
  const next = frames();
  const copied = new SharedRun(next);
  for (const connection of [a, b, c]) connection.sendFrames(next, true, copied);
  assert.equal(copied.open, false, "a copied them after its own");
  for (const connection of [b, c]) assert.equal(connection.bufferedAmount, 4 * size);

  // A run queued for writing is fixed where it ends.
  const later = frames();
  const fixed = new SharedRun(later);
  for (const connection of [b, c]) connection.sendFrames(later, true, fixed);
  assert.equal(fixed.open, true);
  void b.close();
  assert.equal(fixed.open, false, "a closing recipient closes it");
  assert.equal(fixed.extend(frames()), false);
  assert.equal(c.bufferedAmount, 5 * size);
});

test("a run reports the high-water mark and stops at the cap of its fullest holder", async () => {
  const { framing, connections: [a, b] } = stalledPeers(2, {
    highWaterMark: 1000,
    maxQueuedBytes: 2000,
  });
  const shared = new SharedFrames(framing);
  const frames = () => shared.encode((out) => out.frame(new Uint8Array(84)));
  const first = frames();
  assert.equal(first.bytes.length, 100, "a 16-byte header and 84");
  // b is fuller: 300 bytes of its own wait.
  b.send((out) => out.frame(new Uint8Array(284)));
  const run = new SharedRun(first);
  assert.equal(a.sendFrames(first, true, run), true);
  assert.equal(b.sendFrames(first, true, run), true);
  assert.equal(run.open, false, "b copied the frames after its own");
  // The flushes start writes that never end: 100 and 400 bytes in flight.
  await Promise.resolve();

  const again = frames();
  const grown = new SharedRun(again);
  for (const connection of [a, b]) connection.sendFrames(again, true, grown);
  assert.equal(grown.open, true, "both hold it by reference");
  assert.equal(b.bufferedAmount, 500);
  const results: boolean[] = [];
  while (grown.extend(frames())) results.push(grown.writable);
  // b reaches its mark of 1000 after 5 more, and its cap of 2000 after 15.
  assert.deepEqual(results, [...Array(4).fill(true), ...Array(11).fill(false)]);
  assert.equal(b.bufferedAmount, 2000);
  assert.equal(a.bufferedAmount, 1700);
});
