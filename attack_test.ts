/**
 * Attacks over real sockets on 127.0.0.1. Each runs while a healthy client
 * keeps sending and receiving; its traffic is checked message by message (no
 * loss, in order) once the attack is over. Every wait is bounded.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  type ClientInfo,
  ConnectionClosed,
  HiSockError,
  MalformedHeader,
  MessageTooLarge,
  ProtocolError,
  SlowConsumer,
} from "./mod.ts";
import {
  asciiFrame,
  concat,
  join,
  pattern,
  RawPeer,
  record,
  scoped,
  serve,
  sleep,
  until,
  WAIT_MS,
  withTimeout,
} from "./test_util.ts";
import {
  bufferMemory,
  helloFrame,
  joinedAt,
  rawJoin,
  settleMemory,
  startHealthy,
} from "./attack_util.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("attacks, each while a healthy client talks", () => {
  test(
    "slowloris before the hello (one byte a second): dropped at helloTimeout",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { helloTimeout: 1_500 });
      const healthy = await startHealthy(scope, server);
      const hello = helloFrame("slow");
      const peers = await Promise.all(
        Array.from(
          { length: 20 },
          async () => scope.add(await RawPeer.connect(server.getAddr()[1])),
        ),
      );
      const started = Date.now();
      // One byte a second each, until the server hangs up (bounded by 5 bytes).
      for (let i = 0; i < 5 && peers.some((peer) => !peer.isEnded); i++) {
        for (const peer of peers) if (!peer.isEnded) peer.socket.write(hello.subarray(i, i + 1));
        await Promise.race([sleep(1_000), Promise.all(peers.map((peer) => peer.ended))]);
      }
      await withTimeout(Promise.all(peers.map((peer) => peer.ended)), WAIT_MS, "the drops");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1_300 && elapsed < 4_000, `dropped after ${elapsed} ms`);
      const drops = await errors.take(20, "a ProtocolError per slow peer");
      for (const [error, who] of drops) {
        assert.ok(error instanceof ProtocolError, `got ${error}`);
        assert.match(error.message, /hello/);
        assert.equal(who, null);
      }
      await healthy.stop();
    }, 20_000),
  );

  test(
    "slowloris after the hello: 30 peers claim 16 MiB frames and trickle; memory follows what arrived",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {});
      const healthy = await startHealthy(scope, server);
      const peers = [];
      for (let i = 0; i < 30; i++) peers.push(await rawJoin(scope, server, `trickle-${i}`));
      await settleMemory();
      const before = bufferMemory();
      const header = new TextEncoder().encode(String(16 * MiB).padEnd(16, " "));
      await Promise.all(peers.map((peer) => peer.write(header)));
      // 1.5 s of one byte per 100 ms from each.
      for (let i = 0; i < 15; i++) {
        await Promise.all(peers.map((peer) => peer.write(new Uint8Array([i]))));
        await sleep(100);
      }
      const grown = bufferMemory() - before;
      // Allocated whole, 30 claims would hold 480 MiB; they hold ~30 × 64 KiB.
      assert.ok(grown < 64 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB`);
      assert.equal(server.getAllClients().length, 31, "nobody was dropped yet");
      await healthy.stop();
      // Hanging up mid-frame is reported for each.
      await Promise.all(peers.map((peer) => peer.close()));
      const ends = await errors.take(30, "a mid-frame close per peer");
      for (const [error] of ends) assert.ok(error instanceof ConnectionClosed, `got ${error}`);
    }, 20_000),
  );

  test(
    "a header claiming 10^15 bytes: MessageTooLarge, dropped before any allocation",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {});
      const healthy = await startHealthy(scope, server);
      const peer = await rawJoin(scope, server, "huge");
      const before = bufferMemory();
      await peer.write("1000000000000000");
      await withTimeout(peer.ended, WAIT_MS, "the drop");
      const [error, who] = await errors.next("the refusal");
      assert.ok(error instanceof MessageTooLarge, `got ${error}`);
      assert.equal(who?.name, "huge");
      assert.ok(bufferMemory() - before < 16 * MiB, "no buffer for the claim");
      await sleep(100);
      await healthy.stop();
    }),
  );

  test(
    "garbage after a valid hello (random bytes, an HTTP request, a TLS hello): dropped",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {});
      const healthy = await startHealthy(scope, server);
      const garbage = [
        pattern(64 * KiB, 7),
        new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
        concat(asciiFrame("$CMD$ok$MSG$fine"), new TextEncoder().encode("12x4            ")),
        asciiFrame("$CLTCONN${}"),
      ];
      for (const [i, bytes] of garbage.entries()) {
        const peer = await rawJoin(scope, server, `garbage-${i}`);
        await peer.write(bytes);
        await withTimeout(peer.ended, WAIT_MS, `garbage ${i} to be dropped`);
        const [error, who] = await errors.next(`garbage ${i}'s error`);
        assert.ok(
          error instanceof MalformedHeader || error instanceof ProtocolError ||
            error instanceof MessageTooLarge,
          `garbage ${i}: got ${error}`,
        );
        assert.equal(who?.name, `garbage-${i}`);
      }
      await healthy.stop();
    }),
  );

  test(
    "a client that never reads while 1,000 broadcasts go out: memory bounded, it is dropped",
    scoped(async (scope) => {
      const cap = 1 * MiB;
      const { server, errors } = await serve(scope, {
        highWaterMark: 256 * KiB,
        maxQueuedBytes: cap,
        maxMessageSize: 64 * KiB,
      });
      const healthy = await startHealthy(scope, server);
      const readers = await Promise.all(
        [0, 1].map((i) => join(scope, server, { name: `reader-${i}` })),
      );
      const seen = readers.map(() => [] as number[]);
      readers.forEach((reader, i) => {
        reader.on("tick", (content) => {
          seen[i].push(new DataView(content.buffer, content.byteOffset).getUint32(0));
        });
      });
      const slow = await rawJoin(scope, server, "slow", false);
      const leaves = record<[ClientInfo]>(server, "leave");
      await settleMemory();
      const before = bufferMemory();
      let peak = 0;
      const payload = pattern(16 * KiB);
      for (let n = 0; n < 1_000; n++) {
        new DataView(payload.buffer).setUint32(0, n);
        server.sendAllClients("tick", payload);
        if (joinedAt(server, slow.addr[1])) {
          assert.ok(server.bufferedAmount("slow") <= cap, "the slow queue stays under the cap");
        }
        if (n % 16 === 15) {
          // Readers that keep up are waited for, as a producer should.
          await Promise.all(
            [...readers, healthy.client].map((reader) => server.drain(reader.addr)),
          );
        }
        if (n % 100 === 99) {
          await settleMemory();
          peak = Math.max(peak, bufferMemory() - before);
        }
      }
      await until(() => seen.every((list) => list.length === 1_000), "every broadcast read");
      for (const list of seen) list.forEach((n, i) => assert.equal(n, i, "in order, none lost"));
      assert.equal((await leaves.next("the slow client's leave"))[0].name, "slow");
      const slowErrors = errors.all.filter(([, who]) => who?.name === "slow");
      assert.equal(slowErrors.length, 1);
      assert.ok(slowErrors[0][0] instanceof SlowConsumer, `got ${slowErrors[0][0]}`);
      // Without the cap the slow client alone would hold ~16 MiB, less what
      // the kernel buffers; with it, a MiB (its writer's buffer, up to twice).
      assert.ok(peak < 6 * MiB, `buffers peaked at +${(peak / MiB).toFixed(1)} MiB`);
      await healthy.stop();
    }, 30_000),
  );

  test(
    "500 clients connect and vanish at once",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { announcePresence: true });
      const healthy = await startHealthy(scope, server);
      const port = server.getAddr()[1];
      const hello = helloFrame("ghost");
      const sockets = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          withTimeout(
            new Promise<net.Socket>((resolve, reject) => {
              const socket = net.connect({ host: "127.0.0.1", port });
              socket.on("error", () => {});
              socket.once("error", reject);
              socket.once("connect", () => {
                // A third says hello, a third half of one, a third nothing.
                if (i % 3 === 0) socket.write(hello);
                if (i % 3 === 1) socket.write(hello.subarray(0, 20));
                resolve(socket);
              });
            }),
            WAIT_MS,
            `connection ${i}`,
          )),
      );
      await until(() => server.getAllClients().length >= 1 + 167, "the ghosts' joins", 10_000);
      for (const socket of sockets) socket.destroy();
      await until(
        () => server.getAllClients().length === 1,
        "every ghost gone",
        10_000,
      );
      assert.deepEqual(server.getAllClients("name"), [healthy.client.name]);
      for (const [error] of errors.all) {
        assert.ok(error instanceof HiSockError, `got ${error}`);
      }
      await healthy.stop();
    }, 30_000),
  );

  test(
    "a peer killed mid-frame: ConnectionClosed for it, nothing dispatched, others carry on",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {});
      const healthy = await startHealthy(scope, server);
      const got = record(server, "half");
      const peer = await rawJoin(scope, server, "killed");
      const frame = asciiFrame(
        concat(new TextEncoder().encode("$CMD$half$MSG$"), pattern(200 * KiB)),
      );
      await peer.write(frame.subarray(0, 100 * KiB));
      await sleep(50);
      peer.socket.destroy();
      const [error, who] = await errors.next("the mid-frame close");
      assert.ok(error instanceof ConnectionClosed, `got ${error}`);
      assert.equal(who?.name, "killed");
      await got.expectNone(50, "a half frame dispatched");
      await healthy.stop();
    }),
  );
});
