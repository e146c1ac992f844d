/**
 * Hardening features, one by one: memory-safe receive, backpressure and the
 * queue cap, manual-dispatch backpressure, keepalive, authentication and
 * graceful shutdown. Real sockets on 127.0.0.1; every wait bounded.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthenticationFailed,
  type ClientInfo,
  connect,
  ConnectionClosed,
  encodeFrame,
  FrameDecoder,
  Framing,
  KeepaliveTimeout,
  ProtocolError,
  QueueFull,
  SlowConsumer,
  startServer,
} from "./mod.ts";
import {
  asciiFrame,
  assertSameBytes,
  concat,
  HOST,
  join,
  pattern,
  RawPeer,
  RawServer,
  record,
  scoped,
  serve,
  sleep,
  text,
  until,
  WAIT_MS,
  withTimeout,
} from "./test_util.ts";
import { helloFrame, joinedAt, rawJoin } from "./attack_util.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("memory-safe receive (FrameDecoder)", () => {
  test("a header claiming much more than has arrived allocates only what arrived", () => {
    const framing = new Framing({ maxMessageSize: 16 * MiB });
    const got: Uint8Array[] = [];
    const decoder = new FrameDecoder(
      framing,
      (bytes, start, end) => got.push(bytes.subarray(start, end)),
    );
    const header = new Uint8Array(16);
    framing.writeHeader(header, 0, 16 * MiB);
    decoder.push(concat(header, new Uint8Array(100)), false);
    // The direct target is the unfilled part of the payload's buffer: small.
    const room = decoder.directTarget(1)!;
    assert.ok(room.length <= 64 * KiB, `buffer of ${room.length + 100} bytes for 100 received`);
    // Trickling grows it in proportion to what came, never past twice that (+64 KiB).
    let received = 100;
    for (let i = 0; i < 200; i++) {
      decoder.push(new Uint8Array(1000), false);
      received += 1000;
      const capacity = received + decoder.directTarget(1)!.length;
      assert.ok(capacity <= 2 * received + 64 * KiB, `${capacity} bytes for ${received}`);
    }
    assert.equal(got.length, 0);
  });

  test("within the credit the buffer is allocated whole; split anywhere, payloads are exact", () => {
    const framing = new Framing({ maxMessageSize: 4 * MiB });
    const sizes = [0, 1, 100, 64 * KiB - 1, 64 * KiB + 1, 300 * KiB, 3 * MiB];
    const frames = sizes.map((size, i) => encodeFrame(pattern(size, i + 1), framing));
    const stream = concat(...frames);
    for (const step of [1, 7, 4096, 65_537, 1 << 20]) {
      const got: Uint8Array[] = [];
      const decoder = new FrameDecoder(framing, (bytes, start, end, owned) => {
        got.push(owned ? bytes.subarray(start, end) : bytes.slice(start, end));
      });
      let offset = 0;
      while (offset < stream.length) {
        // Alternate plain pushes and direct reads, as a transport would.
        const direct = decoder.directTarget(64 * KiB);
        if (direct !== null && offset % 2 === 0) {
          const count = Math.min(direct.length, step, stream.length - offset);
          direct.set(stream.subarray(offset, offset + count));
          decoder.commitDirect(count);
          offset += count;
        } else {
          const end = Math.min(stream.length, offset + step);
          decoder.push(stream.subarray(offset, end), false);
          offset = end;
        }
      }
      assert.equal(got.length, sizes.length, `step ${step}`);
      got.forEach((payload, i) => {
        assertSameBytes(payload, pattern(sizes[i], i + 1), `step ${step}, frame ${i}`);
      });
    }
    // A small frame announced first is allocated whole at once.
    const decoder = new FrameDecoder(framing, () => {});
    const header = new Uint8Array(16);
    framing.writeHeader(header, 0, 60 * KiB);
    decoder.push(header, false);
    assert.equal(decoder.directTarget(1)!.length, 60 * KiB);
  });
});

describe("backpressure", () => {
  test(
    "sends return false at the high-water mark and true again after drain()",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { highWaterMark: 64 * KiB });
      const slow = await rawJoin(scope, server, "slow", false);
      const big = new Uint8Array(16 * KiB);
      const results: boolean[] = [];
      for (let i = 0; i < 8; i++) results.push(server.sendClient("slow", "bulk", big));
      assert.equal(results[0], true, "the first 16 KiB are under 64 KiB");
      assert.equal(results.at(-1), false, "128 KiB queued is over the mark");
      assert.ok(server.bufferedAmount("slow") >= 64 * KiB);
      slow.socket.resume();
      await withTimeout(server.drain("slow"), WAIT_MS, "the drain");
      assert.equal(server.bufferedAmount("slow"), 0);
      assert.equal(server.sendClient("slow", "bulk", big), true);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "broadcasts in a loop report the mark exactly when a recipient reaches it, and stop at the cap",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {
        highWaterMark: 16 * KiB,
        maxQueuedBytes: 48 * KiB,
        maxMessageSize: 4 * KiB,
        slowClientPolicy: "throw",
        announcePresence: false,
      });
      const slow = await rawJoin(scope, server, "slow", false);
      const slower = await rawJoin(scope, server, "slower", false, "g");
      // slower starts fuller, so it meets the mark and the cap first. From
      // here on nothing awaits: no write ends, and most broadcasts to all
      // lengthen a run that both hold rather than being queued on each.
      for (let i = 0; i < 6; i++) server.sendGroup("g", "pad", new Uint8Array(KiB));
      const payload = new Uint8Array(KiB);
      const queued = () => [server.bufferedAmount("slow"), server.bufferedAmount("slower")];
      /** Per recipient, the broadcasts it was skipped in: its queue was full. */
      const skipped = [0, 0];
      const firstSkip = [-1, -1];
      for (let i = 0; i < 80; i++) {
        const before = queued();
        const writable = server.sendAllClients("bulk", payload);
        const after = queued();
        assert.equal(writable, after.every((n) => n < 16 * KiB), `send ${i}: ${after}`);
        after.forEach((n, k) => {
          assert.ok(n <= 48 * KiB, `send ${i}: ${after} past the cap`);
          if (n === before[k]) {
            skipped[k]++;
            if (firstSkip[k] < 0) firstSkip[k] = i;
          } else assert.equal(n - before[k], after[0] - before[0], "the same frame to both");
        });
      }
      assert.ok(firstSkip[1] >= 0 && firstSkip[0] > firstSkip[1], `first skips at ${firstSkip}`);
      const reported = await errors.take(skipped[0] + skipped[1], "a QueueFull per skip");
      const names = reported.map(([error, who]) => {
        assert.ok(error instanceof QueueFull, `got ${error}`);
        return who?.name;
      });
      assert.equal(names.filter((name) => name === "slow").length, skipped[0]);
      assert.equal(names.filter((name) => name === "slower").length, skipped[1]);
      for (const peer of [slow, slower]) peer.socket.resume();
    }),
  );

  test(
    'maxQueuedBytes, "disconnect": the reader that does not read is dropped; others unaffected',
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {
        highWaterMark: 64 * KiB,
        maxQueuedBytes: 512 * KiB,
        maxMessageSize: 64 * KiB,
      });
      const reader = await join(scope, server, { name: "reader" });
      const got = record<[Uint8Array]>(reader, "bulk");
      const slow = await rawJoin(scope, server, "slow", false);
      const leaves = record<[ClientInfo]>(server, "leave");
      const payload = pattern(32 * KiB);
      let sent = 0;
      // Bounded: the kernel buffers a few MiB at most, then the cap is hit.
      for (let round = 0; round < 400 && joinedAt(server, slow.addr[1]); round++) {
        server.sendAllClients("bulk", payload);
        sent++;
        for (const info of server.getAllClients()) {
          assert.ok(server.bufferedAmount(info) <= 512 * KiB, "never past the cap");
        }
        await server.drain("reader");
      }
      // A paused socket does not see the close: watch the server instead.
      await until(() => !joinedAt(server, slow.addr[1]), "the slow reader to be dropped");
      const [error, who] = await errors.next("the slow consumer");
      assert.ok(error instanceof SlowConsumer, `got ${error}`);
      assert.equal(error.limit, 512 * KiB);
      assert.equal(who?.name, "slow");
      assert.equal((await leaves.next("slow's leave"))[0].name, "slow");
      const all = await got.take(sent, "every bulk message at the reader");
      assertSameBytes(all.at(-1)![0], payload, "the last bulk message");
      assert.deepEqual(server.getAllClients("name"), ["reader"]);
    }),
  );

  test(
    '"throw": a send to a full queue throws QueueFull and queues nothing; broadcasts skip and report',
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {
        highWaterMark: 64 * KiB,
        maxQueuedBytes: 256 * KiB,
        maxMessageSize: 64 * KiB,
        slowClientPolicy: "throw",
      });
      const reader = await join(scope, server, { name: "reader" });
      const got = record<[number]>(reader, "n", "int");
      const slow = await rawJoin(scope, server, "slow", false);
      const payload = new Uint8Array(60 * KiB);
      /** Sends to "slow" until its queue is full; returns what was thrown. */
      const fill = async () => {
        for (let i = 0; i < 400; i++) {
          try {
            server.sendClient("slow", "bulk", payload);
          } catch (error) {
            return error;
          }
          if (i % 8 === 7) await sleep(1);
        }
        return null;
      };
      const thrown = await fill();
      assert.ok(thrown instanceof QueueFull, `got ${thrown}`);
      const before = server.bufferedAmount("slow");
      assert.throws(() => server.sendClient("slow", "bulk", payload), QueueFull);
      assert.equal(server.bufferedAmount("slow"), before, "nothing queued");
      assert.ok(before <= 256 * KiB);

      // A broadcast reaches the reader, skips the full one, and reports it;
      // it does not throw midway.
      /** Fills "slow" up synchronously, so nothing drains before the next send. */
      const fillNow = () => {
        for (let i = 0; i < 400; i++) {
          try {
            server.sendClient("slow", "bulk", payload);
          } catch (error) {
            return error;
          }
        }
        return null;
      };
      for (let n = 0; n < 5; n++) {
        // The kernel may have taken some meanwhile: fill it up again. An
        // await lets finished writes shrink the queue, hence the second,
        // synchronous fill right before the broadcast.
        assert.ok(await fill() instanceof QueueFull);
        assert.ok(fillNow() instanceof QueueFull);
        assert.equal(server.sendAllClients("pad", payload), false, "a recipient was full");
        server.sendAllClients("n", n);
        await server.drain("reader");
      }
      assert.deepEqual((await got.take(5, "the broadcasts")).map(([n]) => n), [0, 1, 2, 3, 4]);
      assert.equal(slow.isEnded, false, "still connected");
      assert.ok(server.bufferedAmount("slow") <= 256 * KiB);
      const reported = await errors.take(5, "a QueueFull per skipped broadcast");
      for (const [error, who] of reported) {
        assert.ok(error instanceof QueueFull, `got ${error}`);
        assert.equal(who?.name, "slow");
      }
    }),
  );

  test(
    "client side: a server that reads nothing meets the cap (throw, then disconnect)",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const payload = new Uint8Array(60 * KiB);
      const options = {
        highWaterMark: 64 * KiB,
        maxQueuedBytes: 256 * KiB,
        maxMessageSize: 64 * KiB,
      };

      const thrower = scope.add(
        await connect([HOST, raw.port], { ...options, slowClientPolicy: "throw" }),
      );
      (await raw.peers.next("the thrower's connection")).socket.pause();
      let thrown: unknown = null;
      for (let i = 0; i < 400 && thrown === null; i++) {
        try {
          thrower.send("bulk", payload);
        } catch (error) {
          thrown = error;
        }
        if (i % 8 === 7) await sleep(1);
      }
      assert.ok(thrown instanceof QueueFull, `got ${thrown}`);
      assert.ok(thrower.bufferedAmount <= 256 * KiB);
      // Renames go through the same cap: small as they are, they meet it too,
      // and a refused one leaves the name as it was.
      let renamed: unknown = null;
      let last = thrower.name;
      for (let i = 0; i < 20_000 && renamed === null; i++) {
        try {
          thrower.changeName(`name-${i}`);
          last = `name-${i}`;
        } catch (error) {
          renamed = error;
        }
      }
      assert.ok(renamed instanceof QueueFull, `got ${renamed}`);
      assert.equal(thrower.name, last);
      assert.ok(thrower.bufferedAmount <= 256 * KiB);

      const dropper = scope.add(await connect([HOST, raw.port], options));
      (await raw.peers.next("the dropper's connection")).socket.pause();
      const errors = record<[unknown]>(dropper, "error");
      let closed = false;
      dropper.closed.then(() => closed = true);
      for (let i = 0; i < 400 && !closed; i++) {
        try {
          dropper.send("bulk", payload);
        } catch (error) {
          // Once dropped, it is closed for sends at once.
          assert.ok(error instanceof ConnectionClosed, `got ${error}`);
          break;
        }
        if (i % 8 === 7) await sleep(1);
      }
      await withTimeout(dropper.closed, WAIT_MS, "the dropper to close");
      const [error] = await errors.next("the slow consumer");
      assert.ok(error instanceof SlowConsumer, `got ${error}`);
    }),
  );

  test(
    "manual dispatch: reading pauses past maxPendingEvents; nothing is lost, order kept",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {
        dispatch: "manual",
        blocking: false,
        maxPendingEvents: 20,
      });
      const seen: number[] = [];
      server.on("n", "int", (_client, n) => seen.push(n));
      const client = await join(scope, server, { name: "flood" });
      await server.run(); // the join
      const total = 20_000;
      for (let n = 0; n < total; n++) client.send("n", n);
      await withTimeout(client.drain(), WAIT_MS, "the flood to leave");
      await sleep(200);
      const first = await server.run();
      assert.ok(first < total / 2, `reading paused: ${first} events queued of ${total}`);
      for (let i = 0; i < 500 && seen.length < total; i++) {
        await server.run();
        await sleep(2);
      }
      assert.equal(seen.length, total);
      seen.forEach((n, i) => assert.equal(n, i));
      assert.equal(errors.size, 0);
    }),
  );
});

describe("keepalive", () => {
  test(
    "healthy clients, busy or silent, survive many intervals; pings are answered",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { keepalive: { interval: 100, timeout: 200 } });
      const leaves = record<[ClientInfo]>(server, "leave");
      const silent = await join(scope, server, { name: "silent" });
      const busy = await join(scope, server, { name: "busy" });
      const echoes = record<[number]>(busy, "n", "int");
      server.on("n", "int", (client, n) => server.sendClient(client, "n", n));
      // A raw peer that answers every ping by hand, as a Python client does.
      const raw = await rawJoin(scope, server, "raw");
      let answered = 0;
      raw.socket.on("data", () => {
        const pings = text(raw.received).split("$KEEPALIVE$").length - 1;
        while (answered < pings) {
          answered++;
          raw.socket.write(asciiFrame("$KEEPACK$"));
        }
      });
      for (let n = 0; n < 60; n++) {
        busy.send("n", n);
        await sleep(25);
      }
      // 1.5 s: 15 intervals.
      assert.deepEqual((await echoes.take(60, "the echoes")).map(([n]) => n), [
        ...Array(60).keys(),
      ]);
      assert.ok(answered >= 3, `the raw peer was pinged ${answered} times`);
      assert.equal(leaves.size, 0, "nobody was dropped");
      assert.equal(errors.size, 0);
      assert.deepEqual(server.getAllClients("name").sort(), ["busy", "raw", "silent"]);
      assert.equal(silent.bufferedAmount, 0);
    }),
  );

  test(
    "a peer that stops answering, or never reads, is dropped with KeepaliveTimeout",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { keepalive: { interval: 50, timeout: 50 } });
      const healthy = await join(scope, server, { name: "healthy" });
      const mute = await rawJoin(scope, server, "mute");
      const deaf = await rawJoin(scope, server, "deaf", false);
      const started = Date.now();
      await withTimeout(mute.ended, WAIT_MS, "the mute peer to be dropped");
      // A paused socket does not see the close: watch the server instead.
      await until(() => !joinedAt(server, deaf.addr[1]), "the deaf peer to be dropped");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 50, `dropped after ${elapsed} ms, not before interval + timeout`);
      const dropped = await errors.take(2, "the two timeouts");
      for (const [error] of dropped) assert.ok(error instanceof KeepaliveTimeout, `got ${error}`);
      assert.deepEqual(dropped.map(([, who]) => who?.name).sort(), ["deaf", "mute"]);
      assert.ok(text(mute.received).includes("$KEEPALIVE$"), "the mute peer was pinged");
      assert.deepEqual(server.getAllClients("name"), ["healthy"]);
      assert.equal(healthy.bufferedAmount, 0);
    }),
  );

  test(
    "keepalive: false sends no ping; v2 pings by default only after the default 30 s",
    scoped(async (scope) => {
      const { server } = await serve(scope, { keepalive: false });
      const raw = await rawJoin(scope, server, "quiet");
      await sleep(150);
      assert.equal(text(raw.received).includes("$KEEPALIVE$"), false);
      assert.equal(raw.isEnded, false);
    }),
  );

  test(
    "client: $KEEPALIVE$ is answered with $KEEPACK$; deadAfter closes on a silent server",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const client = scope.add(await connect([HOST, raw.port], { keepalive: { deadAfter: 300 } }));
      const errors = record<[unknown]>(client, "error");
      const peer = await raw.peers.next("the connection");
      await until(() => text(peer.received).includes("$CLTHELLO$"), "the hello");
      // Pings keep it alive past deadAfter, and each is answered.
      for (let i = 0; i < 10; i++) {
        await peer.write(asciiFrame("$KEEPALIVE$"));
        await sleep(50);
      }
      await until(
        () => text(peer.received).split("$KEEPACK$").length - 1 === 10,
        "ten answers",
      );
      assert.equal(errors.size, 0);
      // Then silence: the client gives up.
      const started = Date.now();
      await withTimeout(client.closed, WAIT_MS, "the client to give up");
      assert.ok(Date.now() - started >= 200, "not before deadAfter");
      const [error] = await errors.next("the timeout");
      assert.ok(error instanceof KeepaliveTimeout, `got ${error}`);
    }),
  );
});

describe("authentication", () => {
  test(
    "authenticate sees name, group, extra fields and address; true admits, false or a reason refuses",
    scoped(async (scope) => {
      const requests: unknown[] = [];
      const { server, errors } = await serve(scope, {
        authenticate: (hello) => {
          requests.push(hello);
          if (hello.fields.token === "good") return true;
          return hello.fields.token === undefined ? false : "bad token";
        },
      });
      const joins = record<[ClientInfo]>(server, "join");
      const alice = await join(scope, server, { name: "alice", hello: { token: "good" } });
      assert.equal((await joins.next("alice's join"))[0].name, "alice");
      assert.deepEqual(requests[0], {
        name: "alice",
        group: null,
        fields: { name: "alice", group: null, token: "good" },
        address: alice.addr,
      });

      for (const [token, reason] of [["bad", "bad token"], [undefined, "refused"]] as const) {
        const mallory = scope.add(
          await connect(server.getAddr(), { name: "mallory", hello: token ? { token } : {} }),
        );
        const told = record<[]>(mallory, "force_disconnect");
        await withTimeout(mallory.closed, WAIT_MS, "mallory to be closed");
        await told.next("$DISCONN$ before the close");
        const [error, who] = await errors.next("the refusal");
        assert.ok(error instanceof AuthenticationFailed, `got ${error}`);
        assert.equal(error.reason, reason);
        assert.equal(error.clientName, "mallory");
        assert.deepEqual(error.address, mallory.addr);
        assert.equal(who, null);
      }
      assert.equal(joins.size, 0);
      assert.deepEqual(server.getAllClients("name"), ["alice"]);
    }),
  );

  test(
    "an async authenticate: later frames wait, in order, and are handled after join",
    scoped(async (scope) => {
      const events: string[] = [];
      const { server, errors } = await serve(scope, {
        authenticate: async (hello) => {
          await sleep(150);
          return hello.fields.token === "t";
        },
      });
      server.on("join", (client) => events.push(`join ${client.name}`));
      server.on("n", "int", (_client, n) => events.push(`n ${n}`));
      const client = scope.add(
        await connect(server.getAddr(), { name: "a", hello: { token: "t" } }),
      );
      // Sent at once, before the verdict; 2 MiB of filler so that reading must pause.
      for (let n = 0; n < 200; n++) client.send("n", n);
      client.send("filler", new Uint8Array(2 * MiB));
      for (let n = 200; n < 400; n++) client.send("n", n);
      await until(() => events.length === 401, "the join and 400 messages");
      assert.equal(events[0], "join a");
      events.slice(1).forEach((event, i) => assert.equal(event, `n ${i}`));
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "authenticate that throws, rejects or never settles refuses the client",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {
        helloTimeout: 300,
        authenticate: (hello) => {
          if (hello.name === "throw") throw new Error("boom");
          if (hello.name === "reject") return Promise.reject(new Error("no"));
          return new Promise<boolean>(() => {});
        },
      });
      for (const name of ["throw", "reject", "hang"]) {
        const client = scope.add(await connect(server.getAddr(), { name }));
        await withTimeout(client.closed, WAIT_MS, `${name} to be closed`);
        const [error] = await errors.next(`${name}'s refusal`);
        assert.ok(error instanceof AuthenticationFailed, `got ${error}`);
        assert.equal(error.clientName, name);
      }
      assert.equal(server.getAllClients().length, 0);
    }),
  );

  test(
    "uniqueNames: a duplicate hello is told $DISCONN$ before the close",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { uniqueNames: true });
      await join(scope, server, { name: "solo" });
      const raw = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await raw.write(helloFrame("solo"));
      await withTimeout(raw.ended, WAIT_MS, "the duplicate to be closed");
      assert.equal(text(raw.received), text(asciiFrame("$DISCONN$")));
      const [error] = await errors.next("the refusal");
      assert.ok(error instanceof ProtocolError);
      assert.equal(joinedAt(server, raw.addr[1]), false);
    }),
  );
});

describe("graceful shutdown", () => {
  test(
    "close() flushes, tells every client, and resolves when all sockets closed",
    scoped(async (scope) => {
      const server = await startServer([HOST, 0]);
      const clients = await Promise.all(
        [0, 1, 2].map((i) => join(scope, server, { name: `c${i}` })),
      );
      const inboxes = clients.map((client) => record<[Uint8Array]>(client, "bulk"));
      const told = clients.map((client) => record<[]>(client, "force_disconnect"));
      const payload = pattern(2 * MiB);
      server.sendAllClients("bulk", payload);
      await withTimeout(server.close(), WAIT_MS, "close()");
      for (let i = 0; i < 3; i++) {
        const [got] = await inboxes[i].next(`c${i}'s bulk`);
        assertSameBytes(got, payload, `c${i}'s bulk`);
        await told[i].next(`c${i}'s $DISCONN$`);
        await withTimeout(clients[i].closed, WAIT_MS, `c${i} closed`);
      }
      await assert.rejects(connect(server.getAddr()));
    }),
  );

  test(
    "close({ timeout }) cuts a peer that never reads instead of hanging",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, {});
      const reader = await join(scope, server, { name: "reader" });
      await rawJoin(scope, server, "deaf", false);
      const big = new Uint8Array(8 * MiB);
      server.sendClient("deaf", "bulk", big);
      await sleep(50);
      assert.ok(server.bufferedAmount("deaf") > 0, "the kernel cannot take 8 MiB at once");
      const started = Date.now();
      await withTimeout(server.close({ timeout: 200 }), WAIT_MS, "close({ timeout: 200 })");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150, `closed after ${elapsed} ms`);
      await withTimeout(reader.closed, WAIT_MS, "the reader closed");
      await until(() => errors.size > 0, "the cut to be reported");
      const cut = errors.all.filter(([error]) => error instanceof ConnectionClosed);
      assert.deepEqual(cut.map(([, who]) => who?.name), ["deaf"]);
    }),
  );
});
