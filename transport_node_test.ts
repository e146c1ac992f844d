/**
 * Tests of the `node:net` transport. They use `node:test` and
 * `node:assert/strict` only, so the same file runs under `deno test` (whose
 * `node:net` runs the transport), `node --test` and `bun test` (both against
 * the built npm package).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { connect, type HiSockClient } from "./client.ts";
import type { ClientInfo } from "./client_info.ts";
import { ServerNotRunning } from "./errors.ts";
import { type HiSockServer, startServer } from "./server.ts";
import { defaultTransport } from "./runtime.ts";
import type { ByteSink, Transport, TransportConn } from "./transport.ts";
import { nodeTransport } from "./transport_node.ts";
import { assertSameBytes } from "./test_util.ts";

const transport = nodeTransport;

/** Rejects when `promise` takes longer than `ms`, so no test can hang. */
async function within<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise and its resolver, for waiting on handlers. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

/** Resolves once `count` calls to the returned callback have collected their values. */
function collect<T>(count: number): { done: Promise<T[]>; add: (value: T) => void } {
  const values: T[] = [];
  const { promise, resolve } = deferred<T[]>();
  return {
    done: promise,
    add(value) {
      values.push(value);
      if (values.length === count) resolve(values);
    },
  };
}

/** Runs `body` with a server on the node transport, closing everything after. */
async function withServer(
  body: (server: HiSockServer, clients: HiSockClient[]) => Promise<void>,
): Promise<void> {
  const server = await startServer(["127.0.0.1", 0], { transport });
  const clients: HiSockClient[] = [];
  try {
    await body(server, clients);
  } finally {
    await within(Promise.all(clients.map((client) => client.close())), "clients to close");
    await within(server.close(), "the server to close");
  }
}

/** Connects a client and waits until the server has seen its hello. */
async function join(
  server: HiSockServer,
  clients: HiSockClient[],
  name: string,
  group: string | null = null,
): Promise<HiSockClient> {
  const joined = deferred<void>();
  const onJoin = (info: ClientInfo) => {
    if (info.name === name) joined.resolve();
  };
  server.on("join", onJoin);
  const client = await connect(server.getAddr(), { name, group, transport });
  clients.push(client);
  await within(joined.promise, `${name} to join`);
  server.off("join", onJoin);
  return client;
}

test("node transport: listen on port 0 binds a real port", async () => {
  const listener = await transport.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.equal(listener.addr.hostname, "127.0.0.1");
    assert.ok(listener.addr.port > 0);
  } finally {
    listener.close();
    listener.close();
  }
});

test("node transport: connect/hello/join, with the client's name, group and address", async () => {
  await withServer(async (server, clients) => {
    const joined = deferred<ClientInfo>();
    server.on("join", (info) => joined.resolve(info));
    const client = await connect(server.getAddr(), { name: "alice", group: "red", transport });
    clients.push(client);
    const info = await within(joined.promise, "the join");
    assert.equal(info.name, "alice");
    assert.equal(info.group, "red");
    assert.deepEqual([...info.ip], client.addr);
    assert.deepEqual(server.getAllClients("name"), ["alice"]);
    assert.equal(server.getClient("alice").ipstr, info.ipstr);
  });
});

test("node transport: commands both ways, with typed content", async () => {
  await withServer(async (server, clients) => {
    server.on("ping", "str", (client, text) => server.sendClient(client, "pong", `${text}!`));
    server.on("add", "json", (client, value) => {
      const { a, b } = value as { a: number; b: number };
      server.sendClient(client, "sum", a + b);
    });
    const client = await join(server, clients, "bob");
    const pong = deferred<string>();
    const sum = deferred<number>();
    client.on("pong", "str", pong.resolve);
    client.on("sum", "int", sum.resolve);
    client.send("ping", "hello");
    client.send("add", { a: 2, b: 40 });
    assert.equal(await within(pong.promise, "pong"), "hello!");
    assert.equal(await within(sum.promise, "sum"), 42);
  });
});

test("node transport: many commands in a burst arrive in order", async () => {
  await withServer(async (server, clients) => {
    const count = 2000;
    const got = collect<number>(count);
    server.on("n", "int", (_client, n) => got.add(n));
    const client = await join(server, clients, "burst");
    for (let i = 0; i < count; i++) client.send("n", i);
    const values = await within(got.done, "the burst");
    assert.deepEqual(values, Array.from({ length: count }, (_, i) => i));
  });
});

test("node transport: a 4 MiB payload crosses intact", async () => {
  await withServer(async (server, clients) => {
    const big = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    const received = deferred<Uint8Array>();
    server.on("blob", (client, bytes) => {
      received.resolve(bytes);
      server.sendClient(client, "blob_back", bytes);
    });
    const client = await join(server, clients, "bulk");
    const echoed = deferred<Uint8Array>();
    client.on("blob_back", echoed.resolve);
    client.send("blob", big);
    assert.deepEqual(await within(received.promise, "the blob"), big);
    assert.deepEqual(await within(echoed.promise, "the echo"), big);
  });
});

test("node transport: raw messages both ways are plain Uint8Arrays", async () => {
  await withServer(async (server, clients) => {
    const raw = deferred<[string | null, Uint8Array]>();
    server.on("*", (_client, command, content) => raw.resolve([command, content]));
    const client = await join(server, clients, "carol");
    client.rawSend(new Uint8Array([1, 2, 3]));
    const [command, content] = await within(raw.promise, "the raw message");
    assert.equal(command, null);
    assert.deepEqual(content, new Uint8Array([1, 2, 3]));
    // Not a Buffer: handlers see the same type on every runtime.
    assert.equal(Object.getPrototypeOf(content), Uint8Array.prototype);
    server.sendClientRaw("carol", "raw text");
    const back = await within(client.recvRaw(), "recvRaw");
    assert.equal(new TextDecoder().decode(back), "raw text");
    assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
  });
});

test("node transport: group sends reach the group only; broadcasts reach all", async () => {
  await withServer(async (server, clients) => {
    const red1 = await join(server, clients, "r1", "red");
    const red2 = await join(server, clients, "r2", "red");
    const blue = await join(server, clients, "b1", "blue");
    const heard: string[] = [];
    const team = collect<string>(2);
    const all = collect<string>(3);
    for (const client of [red1, red2, blue]) {
      client.on("team", "str", (text) => {
        heard.push(`${client.name}:${text}`);
        team.add(text);
      });
      client.on("all", "str", all.add);
    }
    assert.deepEqual(server.getGroup("red").map((info) => info.name), ["r1", "r2"]);
    server.sendGroup("red", "team", "attack");
    server.sendAllClients("all", "tick");
    await within(team.done, "the group send");
    assert.deepEqual(await within(all.done, "the broadcast"), ["tick", "tick", "tick"]);
    assert.deepEqual(heard.sort(), ["r1:attack", "r2:attack"]);
  });
});

test("node transport: a refused connection rejects with ServerNotRunning", async () => {
  // A port that was just free: bind it, note it, release it.
  const probe = await transport.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = probe.addr;
  probe.close();
  await assert.rejects(
    () => within(connect(["127.0.0.1", port], { transport }), "the refusal"),
    (error: unknown) => {
      assert.ok(error instanceof ServerNotRunning);
      assert.equal(error.code, "SERVER_NOT_RUNNING");
      return true;
    },
  );
});

test("node transport: client close is a leave; server close ends the clients", async () => {
  const server = await startServer(["127.0.0.1", 0], { transport });
  try {
    const left = deferred<ClientInfo>();
    server.on("leave", left.resolve);
    const clients: HiSockClient[] = [];
    const leaver = await join(server, clients, "leaver");
    const stayer = await join(server, clients, "stayer");
    await within(leaver.close(), "the client to close");
    assert.equal((await within(left.promise, "the leave")).name, "leaver");
    const dropped = deferred<void>();
    stayer.on("force_disconnect", dropped.resolve);
    await within(server.close(), "the server to close");
    await within(dropped.promise, "force_disconnect");
    await within(stayer.closed, "the client to see the close");
  } finally {
    await server.close();
  }
});

/** A sink that records what the transport hands it. */
function recordingSink(): ByteSink & { bytes: number; ended: Promise<unknown>; ends: number } {
  const ended = deferred<unknown>();
  const sink = {
    bytes: 0,
    ends: 0,
    ended: ended.promise,
    onData(chunk: Uint8Array, _owned: boolean) {
      sink.bytes += chunk.length;
    },
    onEnd(error?: unknown) {
      sink.ends++;
      ended.resolve(error);
    },
  };
  return sink;
}

test("node transport: pause holds data back, resume delivers it, close ends once", async () => {
  const listener = await transport.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = deferred<TransportConn>();
  listener.start(accepted.resolve, (error) => assert.fail(String(error)));
  const client = await transport.connect(listener.addr);
  const server = await within(accepted.promise, "the accept");
  try {
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    assert.equal(client.remoteAddr.port, listener.addr.port);
    // An accepted socket's own address is read when first asked for.
    assert.equal(server.localAddr.port, listener.addr.port);
    assert.equal(server.localAddr.hostname, "127.0.0.1");
    const sink = recordingSink();
    server.pause();
    server.start(sink);
    await writeAll(client, new Uint8Array(1000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sink.bytes, 0, "no data while paused");
    server.resume();
    for (let i = 0; i < 100 && sink.bytes < 1000; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(sink.bytes, 1000);
    const clientSink = recordingSink();
    client.start(clientSink);
    server.close();
    server.close();
    assert.equal(await within(sink.ended, "the server end"), undefined);
    // The peer sees the close as a clean end of stream too.
    assert.equal(await within(clientSink.ended, "the client end"), undefined);
    assert.equal(sink.ends, 1);
    await assert.rejects(() => writeAll(server, new Uint8Array(1)));
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});

test("node transport: addresses are read when asked for, and still there after close()", async () => {
  const pair = await rawPair();
  const listenerPort = pair.client.remoteAddr.port;
  // Nobody asked for the client's own address before it closed.
  pair.client.close();
  pair.server.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
  try {
    assert.equal(pair.client.localAddr.hostname, "127.0.0.1");
    assert.ok(pair.client.localAddr.port > 0);
    assert.equal(pair.server.remoteAddr.port, pair.client.localAddr.port);
    assert.equal(pair.client.remoteAddr.port, listenerPort);
    assert.equal(pair.server.localAddr.port, listenerPort);
  } finally {
    pair.close();
  }
});

/** A connected pair of raw transport connections (the client's, the server's). */
async function rawPair(
  over: Transport = transport,
): Promise<{ client: TransportConn; server: TransportConn; close(): void }> {
  const listener = await over.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = deferred<TransportConn>();
  listener.start(accepted.resolve, (error) => assert.fail(String(error)));
  const client = await over.connect(listener.addr);
  const server = await within(accepted.promise, "the accept");
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
      listener.close();
    },
  };
}

/**
 * Writes `bytes` through the seam and resolves when the listener hears that
 * they were taken (rejects when it hears of a failure). Fails the test if the
 * listener is told anything from inside write(), or more than once.
 */
function writeAll(conn: TransportConn, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    let inside = true;
    let told = 0;
    const hear = (settle: () => void) => {
      if (inside) reject(new Error("the write listener was told from inside write()"));
      else if (++told > 1) reject(new Error("the write listener was told twice"));
      else settle();
    };
    conn.write(bytes, {
      onWritten: () => hear(resolve),
      onWriteFailed: (error) => hear(() => reject(error)),
    });
    inside = false;
  });
}

/** That `received` is `parts`, one after another. */
function assertParts(received: Uint8Array, parts: Uint8Array[]): void {
  let at = 0;
  for (const [i, part] of parts.entries()) {
    assertSameBytes(received.subarray(at, at + part.length), part, `part ${i}`);
    at += part.length;
  }
  assert.equal(at, received.length, "nothing more");
}

/** `length` bytes of a pattern that a shifted or repeated chunk would not match. */
function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >> 11) + seed) & 0xff;
  return bytes;
}

/**
 * A sink that keeps a copy of every byte (lent chunks are reused after
 * onData returns) and, once `directAfter` bytes have come, offers
 * `directSize` bytes to read into, as a decoder assembling a payload does.
 */
function copyingSink(total: number, directAfter = Infinity, directSize = 0) {
  const received = new Uint8Array(total);
  const done = deferred<void>();
  let fill = 0;
  let direct: Uint8Array | null = null;
  const sink = {
    directBytes: 0,
    received,
    /** How many bytes have come so far. */
    get bytes(): number {
      return fill;
    },
    done: done.promise,
    onData(chunk: Uint8Array, _owned: boolean) {
      assert.equal(direct, null, "onData while a direct target was out");
      received.set(chunk, fill);
      fill += chunk.length;
      if (fill === total) done.resolve();
    },
    directTarget(minimum: number): Uint8Array | null {
      if (fill < directAfter || fill >= directAfter + directSize) return null;
      const room = directAfter + directSize - fill;
      if (room < minimum) return null;
      direct = received.subarray(fill, fill + room);
      return direct;
    },
    commitDirect(count: number) {
      assert.notEqual(direct, null, "commitDirect without a target");
      assert.ok(count <= direct!.length);
      direct = null;
      fill += count;
      sink.directBytes += count;
      if (fill === total) done.resolve();
    },
    onEnd() {},
  };
  return sink;
}

test("node transport: bytes sent before start() are kept, in order", async () => {
  const pair = await rawPair();
  try {
    const sent = pattern(300_000, 7);
    await writeAll(pair.server, sent);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const sink = copyingSink(sent.length);
    pair.client.start(sink);
    await within(sink.done, "the early bytes");
    assert.deepEqual(sink.received, sent);
  } finally {
    pair.close();
  }
});

test("node transport: a client reads large payloads straight into the sink's target", async () => {
  const pair = await rawPair();
  try {
    // 1000 bytes through onData, then a 3 MiB "payload" offered as a direct
    // target, then the rest through onData again.
    const sent = pattern(1000 + 3 * 1024 * 1024 + 5000, 3);
    const sink = copyingSink(sent.length, 1000, 3 * 1024 * 1024);
    pair.client.start(sink);
    // In pieces, so that the first read cannot take more than the 1000 bytes.
    await writeAll(pair.server, sent.subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await writeAll(pair.server, sent.subarray(1000));
    await within(sink.done, "all the bytes");
    assert.deepEqual(sink.received, sent);
    // Node's client sockets read into caller memory; Bun's go through 'data'.
    if (typeof process.versions.bun !== "string") {
      assert.ok(sink.directBytes > 0, "nothing was read in place");
    }
  } finally {
    pair.close();
  }
});

test("node transport: clients reading at once keep their own bytes", async () => {
  // Every client socket of the process reads into one buffer; what a handler
  // keeps must be a copy, or the next read of any connection overwrites it.
  await withServer(async (server, clients) => {
    const count = 6;
    const messages = 200;
    const expected = (client: number, k: number) =>
      pattern(1 + (k * 397 + client * 101) % 5000, client * 7 + k);
    const kept: Uint8Array[][] = [];
    const done: Promise<Uint8Array[]>[] = [];
    for (let i = 0; i < count; i++) {
      const client = await join(server, clients, `reader-${i}`);
      const got = collect<Uint8Array>(messages);
      client.on("part", "bytes", got.add);
      done.push(got.done);
    }
    // Interleaved, so that the client process reads from every socket in turn.
    for (let k = 0; k < messages; k++) {
      for (let i = 0; i < count; i++) server.sendClient(`reader-${i}`, "part", expected(i, k));
      if (k % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    kept.push(...await within(Promise.all(done), "every part"));
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < messages; k++) {
        assertSameBytes(kept[i][k], expected(i, k), `client ${i}, part ${k}`);
      }
    }
  });
});

test("node transport: a client's pause holds data back until resume", async () => {
  const pair = await rawPair();
  try {
    const sent = pattern(200_000, 5);
    const sink = copyingSink(sent.length);
    pair.client.pause();
    pair.client.start(sink);
    await writeAll(pair.server, sent.subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sink.bytes, 0, "data while paused");
    pair.client.resume();
    await writeAll(pair.server, sent.subarray(1000));
    await within(sink.done, "the bytes after resume");
    assert.deepEqual(sink.received, sent);
  } finally {
    pair.close();
  }
});

// The seam's write contract, on node:net and on the runtime's own transport
// (Deno's when run by `deno test`; the same node:net one on Node and Bun).
for (const [label, over] of new Map([["node:net", transport], ["default", defaultTransport]])) {
  if (label === "default" && over === transport) continue;
  test(`${label} transport: a write ends only once the bytes may be reused`, async () => {
    await writeEndsWhenTaken(over);
  });
}

test("node:net transport: writes in flight together end in order, each once, only once taken", async () => {
  const pair = await rawPair();
  try {
    assert.equal(pair.server.pipelinesWrites, true);
    // Eight 4 MiB writes while the peer reads nothing: more than the socket
    // buffers hold, so the later ones must wait for the peer.
    const parts = Array.from({ length: 8 }, (_, i) => pattern(4 * 1024 * 1024, i + 1));
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const sink = copyingSink(total);
    pair.client.pause();
    pair.client.start(sink);
    const ended: number[] = [];
    const ends = parts.map((part, i) =>
      writeAll(pair.server, part).then(() => {
        ended.push(i);
        part.fill(0xee); // the caller owns it again
      })
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(ended.length < parts.length, `all ${ended.length} ended while the peer read nothing`);
    pair.client.resume();
    await within(Promise.all(ends), "the writes", 20_000);
    assert.deepEqual(ended, [0, 1, 2, 3, 4, 5, 6, 7], "in the order they were started");
    await within(sink.done, "the bytes", 20_000);
    const expected = Array.from({ length: 8 }, (_, i) => pattern(4 * 1024 * 1024, i + 1));
    assertParts(sink.received, expected);
  } finally {
    pair.close();
  }
});

test("node:net transport: a write started as another is told of ends in order, once taken", async () => {
  // A connection's onWritten starts its next write at once, from inside the
  // transport telling it; the writes told of by that nested call must not
  // make the outer one tell of the new write before the socket took it.
  const pair = await rawPair();
  try {
    const parts = Array.from({ length: 4 }, (_, i) => pattern(4 * 1024 * 1024, i + 1));
    // More than the socket buffers take at once, so that Node still holds
    // most of it for a while after write() returns.
    const extra = pattern(32 * 1024 * 1024, 9);
    const expected = [...parts, extra].map((part) => part.slice());
    const sink = copyingSink(expected.reduce((sum, part) => sum + part.length, 0));
    pair.client.pause();
    pair.client.start(sink);
    const ended: string[] = [];
    let extraEnded: Promise<void> | undefined;
    const ends = parts.map((part, i) =>
      new Promise<void>((resolve, reject) => {
        pair.server.write(part, {
          onWritten: () => {
            ended.push(`${i}`);
            part.fill(0xee); // the caller owns it again
            if (i === 0) {
              extraEnded = writeAll(pair.server, extra).then(() => {
                ended.push("extra");
                extra.fill(0xee);
              });
            }
            resolve();
          },
          onWriteFailed: reject,
        });
      })
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(ended, [], "nothing ended while the peer read nothing");
    pair.client.resume();
    await within(Promise.all(ends), "the writes", 20_000);
    await within(extraEnded!, "the write started from a listener", 20_000);
    assert.deepEqual(ended, ["0", "1", "2", "3", "extra"]);
    await within(sink.done, "the bytes", 20_000);
    assertParts(sink.received, expected);
  } finally {
    pair.close();
  }
});

async function writeEndsWhenTaken(over: Transport): Promise<void> {
  const pair = await rawPair(over);
  try {
    // More than the loopback socket buffers hold: while the peer reads
    // nothing, Node still holds (a view of) these bytes.
    const size = 32 * 1024 * 1024;
    for (const [writer, reader] of [[pair.client, pair.server], [pair.server, pair.client]]) {
      const bytes = pattern(size, 11);
      const expected = bytes.slice();
      const sink = copyingSink(size);
      reader.pause();
      reader.start(sink);
      let settled = false;
      const written = writeAll(writer, bytes).then(() => settled = true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(settled, false, "write settled while the peer read nothing");
      reader.resume();
      await within(written, "the write", 10_000);
      // The caller owns the bytes again: scribbling on them must not change
      // what the peer receives.
      bytes.fill(0xee);
      await within(sink.done, "the bytes", 10_000);
      assert.deepEqual(sink.received, expected);
    }
  } finally {
    pair.close();
  }
}

// A test CA and a certificate it signed for localhost and 127.0.0.1, valid
// until 2126. Test-only keys: they protect nothing.
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBmjCCAT+gAwIBAgIUVE4Y9usRDg7VpCHneI8zZOF1AwQwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOaGlzb2NrIHRlc3QgQ0EwIBcNMjYxMTI1MTAzMDI0WhgPMjEy
NjExMDExMDMwMjRaMBkxFzAVBgNVBAMMDmhpc29jayB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEZge4xkFUcVwp2eHNgpjOCmWd0FnQ6+IBdW0E6vty
pHbQ6d9r4/RfVm5/A2GyIY4Oru5hm5oJW5SeFt1eCp0xeqNjMGEwHQYDVR0OBBYE
FHvk6TaSbbwb3RGzm2rTWY+6uH0+MB8GA1UdIwQYMBaAFHvk6TaSbbwb3RGzm2rT
WY+6uH0+MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49
BAMCA0kAMEYCIQD/LvUjTlkt+83ODcSG9HVGAVGWgUWSCoyK8Mp7qICmSwIhAJPs
yWBNIiLVECSwAfgU2iKdRFyal4dVOENZeI/xEjQc
-----END CERTIFICATE-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBxDCCAWqgAwIBAgIUdALb+mpRGFwA5IYe14HxwtRhQZIwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOaGlzb2NrIHRlc3QgQ0EwIBcNMjYxMTI1MTAzMDI0WhgPMjEy
NjExMDExMDMwMjRaMBQxEjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABDjRXmI0rDwKaarrQ+YXlKPDLxFi8hTKhW0yS+zPAE7SNZ+D
Z/06Y+LHWnFNVRpmI4GNnb9Gjw7qOXSUsces6nCjgZIwgY8wGgYDVR0RBBMwEYIJ
bG9jYWxob3N0hwR/AAABMAwGA1UdEwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUH
AwEwDgYDVR0PAQH/BAQDAgeAMB0GA1UdDgQWBBQG9XANRifl/1yHiDcbDwOE+V9N
NzAfBgNVHSMEGDAWgBR75Ok2km28G90Rs5tq01mPurh9PjAKBggqhkjOPQQDAgNI
ADBFAiEA27xn1JkNz8bv4r1IMI4dedrkDIuKQ308INXpIdsL9VgCID5rf+2yQgIy
psHBWw164CDqyUE64+KyZBHGzuPmK6P8
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUc44ako812eQVg/r
rgC8ioTRcFZciE1L2u6tQuqlU2yhRANCAAQ40V5iNKw8Cmmq60PmF5Sjwy8RYvIU
yoVtMkvszwBO0jWfg2f9OmPix1pxTVUaZiOBjZ2/Ro8O6jl0lLHHrOpw
-----END PRIVATE KEY-----
`;

test("node transport: TLS with an extra CA and a host name to verify", async () => {
  const server = await startServer(["127.0.0.1", 0], {
    transport,
    tls: { cert: TEST_CERT, key: TEST_KEY },
  });
  server.on("ping", "str", (client, text) => server.sendClient(client, "pong", text));
  const errors: unknown[] = [];
  server.on("error", (error) => errors.push(error));
  try {
    for (const tls of [{ ca: TEST_CA, hostname: "localhost" }, { caCerts: [TEST_CA] }]) {
      const client = await within(
        connect(server.getAddr(), { name: "secure", transport, tls }),
        "the TLS connect",
      );
      const pong = deferred<string>();
      client.on("pong", "str", pong.resolve);
      client.send("ping", "over tls");
      assert.equal(await within(pong.promise, "pong over TLS"), "over tls");
      await within(client.close(), "the TLS client to close");
    }
    // Without the CA the certificate is not trusted.
    await assert.rejects(() =>
      within(connect(server.getAddr(), { transport, tls: {} }), "the refused handshake")
    );
    // With the CA but the wrong name it is not accepted either.
    await assert.rejects(() =>
      within(
        connect(server.getAddr(), { transport, tls: { ca: TEST_CA, hostname: "example.com" } }),
        "the refused name",
      )
    );
  } finally {
    await within(server.close(), "the TLS server to close");
  }
});
