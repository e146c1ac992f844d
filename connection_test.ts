/**
 * The write path of a connection over an in-memory transport that takes its
 * time, so that sealing, pooling and reuse of output buffers can be checked
 * byte for byte: whatever is queued must leave intact and in order, however
 * the writes interleave with new sends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection, SharedFrames } from "./connection.ts";
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
  test(
    `broadcasts queued by reference interleave with private frames, intact and in order${
      pipelines ? ", several writes in flight" : ""
    }`,
    () => broadcastsInterleave(pipelines),
  );
}

async function broadcastsInterleave(pipelines: boolean): Promise<void> {
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
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const payloadOf = (size: number, mark: number) => {
    const payload = new Uint8Array(size);
    for (let j = 0; j < size; j++) payload[j] = (mark + j * 31) & 0xff;
    return payload;
  };
  for (let round = 0; round < 30; round++) {
    for (let i = 0; i < 300; i++) {
      const size = next() < 0.01 ? Math.floor(next() * 200_000) : Math.floor(next() * 200);
      const payload = payloadOf(size, round * 1000 + i);
      if (next() < 0.7) {
        // A broadcast to everyone: one encoding, a view queued on each.
        const frames = shared.encode((out) => out.frame(payload));
        for (const peer of peers) {
          peer.connection.sendFrames(frames);
          peer.sent.push(payload);
        }
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
}
