/**
 * Integration tests of HiSockClient over real sockets on 127.0.0.1: every
 * public method and reserved event of the client, against our server and
 * against a hand-written server (a plain TCP socket) for the wire details.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type ClientInfo,
  ClientNotFound,
  type ClientOptions,
  connect,
  ConnectionClosed,
  HandlerError,
  type HiSockError,
  MalformedHeader,
  ProtocolError,
  ServerNotRunning,
  startServer,
  TypeCastError,
} from "./mod.ts";
import {
  asciiFrame,
  concat,
  HOST,
  join,
  RawServer,
  record,
  rejectsWithin,
  scoped,
  serve,
  sleep,
  text,
  until,
  WAIT_MS,
  withTimeout,
} from "./test_util.ts";

describe("connect", () => {
  test(
    "connects at [host, port] and { hostname, port }, says hello with its name and group",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const joins = record<[ClientInfo]>(server, "join");
      const [, port] = server.getAddr();
      const a = scope.add(await connect([HOST, port], { name: "a", group: "g" }));
      const b = scope.add(await connect({ hostname: HOST, port }));
      assert.equal(a.name, "a");
      assert.equal(a.group, "g");
      assert.equal(b.name, null);
      assert.equal(b.group, null);
      assert.equal(a.addr[0], HOST);
      assert.ok(a.addr[1] > 0 && a.addr[1] !== port && a.addr[1] !== b.addr[1]);
      const joined = await joins.take(2, "two joins");
      const byPort = new Map(joined.map(([info]) => [info.ip[1], info]));
      assert.deepEqual(byPort.get(a.addr[1]), {
        ip: [HOST, a.addr[1]],
        ipstr: `${HOST}:${a.addr[1]}`,
        name: "a",
        group: "g",
      });
      assert.equal(byPort.get(b.addr[1])?.name, null);
      assert.equal(byPort.get(b.addr[1])?.group, null);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "a malformed address, name or option is refused, without leaving a connection behind",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { helloTimeout: 300 });
      const [, port] = server.getAddr();
      const badAddresses: unknown[] = [
        [HOST],
        [HOST, 70000],
        [HOST, -1],
        [HOST, "1"],
        { hostname: HOST },
        { hostname: "", port },
        `${HOST}:${port}`,
        null,
      ];
      for (const addr of badAddresses) {
        // deno-lint-ignore no-explicit-any
        await assert.rejects(connect(addr as any), TypeError, `connect(${JSON.stringify(addr)})`);
      }
      const badNames: ClientOptions[] = [
        // deno-lint-ignore no-explicit-any
        { name: 5 as any },
        // deno-lint-ignore no-explicit-any
        { group: {} as any },
      ];
      for (const options of badNames) {
        await assert.rejects(connect([HOST, port], options), TypeError);
      }
      const badOptions: ClientOptions[] = [
        { headerLen: 0 },
        { maxMessageSize: -5 },
        // deno-lint-ignore no-explicit-any
        { header: "hex" as any },
        // deno-lint-ignore no-explicit-any
        { dialect: "v9" as any },
        // deno-lint-ignore no-explicit-any
        { dispatch: "later" as any },
      ];
      for (const options of badOptions) {
        await assert.rejects(
          connect([HOST, port], options),
          RangeError,
          `connect with ${JSON.stringify(options)}`,
        );
      }
      // Had a refused connect left its socket open, the server would report
      // a connection that never said hello.
      await sleep(500);
      assert.equal(errors.size, 0, `no errors: ${errors.all.map(([e]) => e.message)}`);
      assert.deepEqual(server.getAllClients(), []);
    }),
  );

  test(
    "a port nobody listens on is ServerNotRunning",
    scoped(async () => {
      const server = await startServer([HOST, 0]);
      const addr = server.getAddr();
      await server.close();
      for (const target of [addr, { hostname: addr[0], port: addr[1] }]) {
        await rejectsWithin(
          connect(target),
          (error: unknown) =>
            error instanceof ServerNotRunning && error.code === "SERVER_NOT_RUNNING" &&
            error.message.includes(`${HOST}:${addr[1]}`),
          "ServerNotRunning",
        );
      }
    }),
  );
});

describe("sending and receiving", () => {
  test(
    "send, rawSend, command handlers, * and off",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const got = record<[ClientInfo, string | null, string]>(server, "*", "str");
      server.on("echo", "str", (client, value) => server.sendClient(client, "echo", value));
      const client = await join(scope, server, { name: "c" });
      const clientErrors = record<[HiSockError]>(client, "error");
      const echoes = record<[string]>(client, "echo", "str");
      const stars = record<[string | null, Uint8Array]>(client, "*");

      client.send("hello", "there");
      client.send("empty");
      client.rawSend("raw text");
      client.rawSend(new Uint8Array([0, 1, 0x7f]));
      const seen = (await got.take(4, "what the server got")).map(([, command, value]) => [
        command,
        value,
      ]);
      assert.deepEqual(seen, [
        ["hello", "there"],
        ["empty", ""],
        [null, "raw text"],
        [null, "\u0000\u0001\u007f"],
      ]);

      client.send("echo", "ping");
      assert.deepEqual(await echoes.next("the echo"), ["ping"]);
      // off: the command now goes to `*`.
      const extra: string[] = [];
      const second = (value: string) => extra.push(value);
      client.on("echo", "str", second);
      client.send("echo", "two handlers");
      assert.deepEqual(await echoes.next("the echo to the first handler"), ["two handlers"]);
      await until(() => extra.length === 1, "the second handler");
      assert.equal(client.off("echo", second), client);
      client.send("echo", "one handler");
      assert.deepEqual(await echoes.next("the echo to the remaining handler"), ["one handler"]);
      client.off("echo");
      client.send("echo", "no handler");
      const [command, content] = await stars.next("the echo to *");
      assert.deepEqual([command, text(content)], ["echo", "no handler"]);
      assert.deepEqual(extra, ["two handlers"]);
      // Raw messages reach `*` with command null when nobody waits in recvRaw().
      server.sendClientRaw("c", "raw down");
      const [rawCommand, rawContent] = await stars.next("raw to *");
      assert.deepEqual([rawCommand, text(rawContent)], [null, "raw down"]);
      assert.equal(echoes.size, 0);
      assert.equal(errors.size + clientErrors.size, 0);
    }),
  );

  test(
    "recvRaw: a waiter gets the next raw message; otherwise it is kept for a later call",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const client = await join(scope, server, { name: "r", maxPendingRaw: 3 });
      const clientErrors = record<[HiSockError]>(client, "error");
      const marks = record<[Uint8Array]>(client, "mark");

      // Waiter first.
      const first = client.recvRaw();
      const second = client.recvRaw();
      server.sendClientRaw("r", "one");
      server.sendClientRaw("r", new Uint8Array([0, 255]));
      assert.equal(text(await withTimeout(first, WAIT_MS, "first raw")), "one");
      assert.deepEqual([...await withTimeout(second, WAIT_MS, "second raw")], [0, 255]);

      // Message first: kept until asked for, in order.
      server.sendClientRaw("r", "kept 1");
      server.sendClientRaw("r", "kept 2");
      server.sendClient("r", "mark");
      await marks.next("the mark after the raws");
      assert.equal(text(await withTimeout(client.recvRaw(), 100, "kept 1")), "kept 1");
      assert.equal(text(await withTimeout(client.recvRaw(), 100, "kept 2")), "kept 2");

      // Commands never reach recvRaw.
      const pending = client.recvRaw();
      server.sendClient("r", "mark", "a command");
      await marks.next("a command while recvRaw waits");
      server.sendClientRaw("r", "raw after the command");
      assert.equal(text(await withTimeout(pending, WAIT_MS, "raw")), "raw after the command");

      // A waiter takes precedence over `*`; without one, `*` takes it and nothing is kept.
      const stars = record<[string | null, Uint8Array]>(client, "*");
      const waiting = client.recvRaw();
      server.sendClientRaw("r", "to the waiter");
      server.sendClientRaw("r", "to the star");
      assert.equal(text(await withTimeout(waiting, WAIT_MS, "the waiter")), "to the waiter");
      assert.equal(text((await stars.next("the star"))[1]), "to the star");
      client.off("*");

      // Past maxPendingRaw the oldest is dropped, with an error event each.
      for (let i = 1; i <= 5; i++) server.sendClientRaw("r", `overflow ${i}`);
      server.sendClient("r", "mark");
      await marks.next("the mark after the overflow");
      const overflows = await clientErrors.take(2, "two overflow errors");
      for (const [error] of overflows) assert.equal(error.code, "RAW_OVERFLOW");
      for (const i of [3, 4, 5]) {
        assert.equal(text(await withTimeout(client.recvRaw(), 100, "kept")), `overflow ${i}`);
      }
      assert.equal(errors.size + clientErrors.size, 0);
    }),
  );

  test(
    "getClient over $GETCLT$: by name, ip:port and [ip, port]; ClientNotFound otherwise",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const asker = await join(scope, server, { name: "asker" });
      const target = await join(scope, server, { name: "tärget", group: "g" });
      const expected = server.getClient("tärget");
      assert.deepEqual(await withTimeout(asker.getClient("tärget"), WAIT_MS, "by name"), expected);
      assert.deepEqual(
        await withTimeout(asker.getClient(`${HOST}:${target.addr[1]}`), WAIT_MS, "by ipstr"),
        expected,
      );
      assert.deepEqual(
        await withTimeout(asker.getClient([HOST, target.addr[1]]), WAIT_MS, "by pair"),
        expected,
      );
      // Its own info, too.
      assert.equal(
        (await withTimeout(asker.getClient("asker"), WAIT_MS, "self")).ip[1],
        asker.addr[1],
      );

      for (const ref of ["nobody", `${HOST}:1`, `${HOST}:99999`]) {
        await rejectsWithin(
          asker.getClient(ref),
          (error: unknown) => error instanceof ClientNotFound && error.client === ref,
          `getClient(${ref})`,
        );
      }
      // Several at once are answered in order.
      const results = await withTimeout(
        Promise.allSettled([
          asker.getClient("tärget"),
          asker.getClient("ghost"),
          asker.getClient("asker"),
        ]),
        WAIT_MS,
        "three lookups",
      );
      assert.equal(results[0].status === "fulfilled" && results[0].value.name, "tärget");
      assert.ok(results[1].status === "rejected" && results[1].reason instanceof ClientNotFound);
      assert.equal(results[2].status === "fulfilled" && results[2].value.name, "asker");
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "content from the server that fails its cast, or a handler that fails, is an error event",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const client = await join(scope, server, { name: "c" });
      const clientErrors = record<[HiSockError]>(client, "error");
      const ints = record<[number]>(client, "num", "int");
      const boom = new Error("client handler boom");
      client.on("throws", () => {
        throw boom;
      });
      client.on("rejects", async () => {
        await sleep(1);
        throw new TypeError("async boom");
      });

      server.sendClient("c", "num", "abc");
      const [castError] = await clientErrors.next("the cast error");
      assert.ok(castError instanceof TypeCastError, `got ${castError}`);
      assert.equal(castError.castType, "int");
      server.sendClient("c", "throws");
      const [thrown] = await clientErrors.next("the handler error");
      assert.ok(thrown instanceof HandlerError, `got ${thrown}`);
      assert.equal(thrown.event, "throws");
      assert.equal(thrown.cause, boom);
      server.sendClient("c", "rejects");
      const [rejected] = await clientErrors.next("the rejection");
      assert.ok(rejected instanceof HandlerError, `got ${rejected}`);
      assert.equal(rejected.event, "rejects");
      assert.ok(rejected.cause instanceof TypeError);

      server.sendClient("c", "num", 5);
      assert.deepEqual(await ints.next("a good int after the failures"), [5]);
      assert.equal(ints.size, 0);
      assert.equal(clientErrors.size + errors.size, 0);
    }),
  );

  test(
    "changeName and changeGroup update the getters and the server",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const client = await join(scope, server, { name: "old", group: "g1" });
      const renames = record<[ClientInfo, string | null, string | null]>(server, "name_change");
      const regroups = record<[ClientInfo, string | null, string | null]>(server, "group_change");
      client.changeName("new");
      client.changeGroup("g2");
      assert.equal(client.name, "new");
      assert.equal(client.group, "g2");
      assert.deepEqual((await renames.next("the rename")).slice(1), ["old", "new"]);
      assert.deepEqual((await regroups.next("the regroup")).slice(1), ["g1", "g2"]);
      assert.deepEqual(server.getClient("new").group, "g2");
      // deno-lint-ignore no-explicit-any
      assert.throws(() => client.changeName(null as any), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => client.changeGroup(3 as any), TypeError);
      assert.equal(client.name, "new");
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "bufferedAmount counts what is queued until the network takes it",
    scoped(async (scope) => {
      const { server } = await serve(scope);
      const got = record<[ClientInfo, Uint8Array]>(server, "bulk");
      const client = await join(scope, server, { name: "b" });
      await until(() => client.bufferedAmount === 0, "the hello to leave");
      client.send("bulk", new Uint8Array(1024 * 1024));
      assert.ok(client.bufferedAmount > 1024 * 1024);
      assert.equal((await got.next("the bulk message"))[1].length, 1024 * 1024);
      await until(() => client.bufferedAmount === 0, "the queue to empty");
    }),
  );
});

describe("client.update()", () => {
  test(
    "immediate dispatch: non-blocking returns at once; blocking waits for a handled event",
    scoped(async (scope) => {
      const { server } = await serve(scope);
      const quick = await join(scope, server, { name: "quick", blocking: false });
      assert.equal(await withTimeout(quick.update(), 500, "non-blocking update"), 0);

      const client = await join(scope, server, { name: "slow" });
      const got: number[] = [];
      client.on("tick", "int", (n) => got.push(n));
      let done = false;
      const updating = client.update().then((count) => {
        done = true;
        return count;
      });
      await sleep(50);
      assert.equal(done, false, "a blocking update waits while nothing happens");
      server.sendClient("slow", "tick", 1);
      assert.equal(await withTimeout(updating, WAIT_MS, "blocking update"), 0);
      assert.deepEqual(got, [1], "the handler ran before update() resolved");

      const waiting = client.update();
      await client.close();
      assert.equal(await withTimeout(waiting, WAIT_MS, "update() ending at close"), 0);
      assert.equal(await withTimeout(client.update(), WAIT_MS, "update() after close"), 0);
    }),
  );

  test(
    "manual dispatch: events wait for update(), blocking and non-blocking",
    scoped(async (scope) => {
      const { server } = await serve(scope);
      for (const blocking of [false, true]) {
        const name = `manual-${blocking}`;
        const client = scope.add(
          await connect(server.getAddr(), { name, dispatch: "manual", blocking }),
        );
        const seen: string[] = [];
        client.on("client_connect", (info) => seen.push(`connect:${info.name}`));
        client.on("tick", "int", (n) => seen.push(`tick:${n}`));
        client.on("force_disconnect", () => seen.push("bye"));
        await until(() => server.getAllClients("name").includes(name), "the join");
        server.sendClient(name, "tick", 1);
        server.sendClient(name, "tick", 2);
        await sleep(50);
        assert.equal(seen.length, 0, "nothing runs before update()");
        let ran = 0;
        const deadline = Date.now() + WAIT_MS;
        while (seen.length < 3 && Date.now() < deadline) {
          ran += await withTimeout(client.update(), WAIT_MS, "a manual update");
          if (!blocking) await sleep(5);
        }
        assert.equal(ran, 3);
        assert.deepEqual(seen, [`connect:${name}`, "tick:1", "tick:2"]);
        if (blocking) {
          let done = false;
          const updating = client.update().then((count) => {
            done = true;
            return count;
          });
          await sleep(50);
          assert.equal(done, false);
          server.sendClient(name, "tick", 3);
          assert.equal(await withTimeout(updating, WAIT_MS, "blocking manual update"), 1);
          assert.equal(seen.at(-1), "tick:3");
        } else {
          assert.equal(await withTimeout(client.update(), 500, "an empty update"), 0);
        }
        // force_disconnect is queued too, and still runs after the close.
        await server.disconnectClient(name);
        await withTimeout(client.closed, WAIT_MS, "the disconnect");
        assert.equal(seen.includes("bye"), false);
        assert.equal(await withTimeout(client.update(), WAIT_MS, "the last update"), 1);
        assert.equal(seen.at(-1), "bye");
      }
    }),
  );
});

describe("client events and closing", () => {
  test(
    "client_connect, client_disconnect and force_disconnect",
    scoped(async (scope) => {
      const { server } = await serve(scope);
      const watcher = scope.add(await connect(server.getAddr(), { name: "watcher" }));
      const connects = record<[ClientInfo]>(watcher, "client_connect");
      const disconnects = record<[ClientInfo]>(watcher, "client_disconnect");
      const kicked = record<[]>(watcher, "force_disconnect");
      assert.equal((await connects.next("watcher itself"))[0].name, "watcher");
      const other = await join(scope, server, { name: "other", group: "x" });
      const [otherInfo] = await connects.next("the other");
      assert.deepEqual(otherInfo, server.getClient("other"));
      await other.close();
      assert.deepEqual((await disconnects.next("the other leaving"))[0], otherInfo);
      await server.disconnectClient("watcher");
      await kicked.next("force_disconnect");
      await withTimeout(watcher.closed, WAIT_MS, "watcher closed");
      assert.deepEqual(kicked.all, [[]]);
      assert.equal(disconnects.size + connects.size, 0);
    }),
  );

  test(
    "close(): the server gets leave; afterwards every operation is refused",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      const client = await join(scope, server, { name: "bye" });
      const info = server.getClient("bye");
      const pendingRaw = client.recvRaw();
      const closing = client.close();
      assert.equal(client.close(), closing, "close() twice gives the same promise");
      await withTimeout(closing, WAIT_MS, "client.close()");
      await withTimeout(client.closed, WAIT_MS, "closed");
      await rejectsWithin(pendingRaw, ConnectionClosed, "a pending recvRaw");
      assert.deepEqual((await leaves.next("the leave"))[0], info);
      assert.deepEqual(server.getAllClients(), []);

      assert.throws(() => client.send("x"), ConnectionClosed);
      assert.throws(() => client.rawSend("x"), ConnectionClosed);
      assert.throws(() => client.changeName("x"), ConnectionClosed);
      assert.throws(() => client.changeGroup("x"), ConnectionClosed);
      await assert.rejects(async () => await client.getClient("x"), ConnectionClosed);
      await rejectsWithin(client.recvRaw(), ConnectionClosed, "recvRaw after close");
      assert.equal(errors.size, 0);
    }),
  );
});

describe("against a hand-written server", () => {
  test(
    "the hello on the wire; keepalives answered; nothing dispatched after $DISCONN$",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const client = scope.add(await connect([HOST, raw.port], { name: "zoë 🦊", group: null }));
      const errors = record<[HiSockError]>(client, "error");
      const notes = record<[string]>(client, "note", "str");
      const kicked = record<[]>(client, "force_disconnect");
      const peer = await raw.peers.next("the client's connection");
      const hello = asciiFrame('$CLTHELLO${"name": "zo\\u00eb \\ud83e\\udd8a", "group": null}');
      await until(() => peer.received.length >= hello.length, "the hello");
      assert.equal(text(peer.received), text(hello));

      await peer.write(asciiFrame("$KEEPALIVE$"));
      const ack = asciiFrame("$KEEPACK$");
      await until(() => peer.received.length >= hello.length + ack.length, "the keepalive ack");
      assert.equal(text(peer.received), text(concat(hello, ack)));

      // One write: a note, the disconnect, then a note that must not be handled.
      await peer.write(concat(
        asciiFrame("$CMD$note$MSG$before"),
        asciiFrame("$DISCONN$"),
        asciiFrame("$CMD$note$MSG$after"),
      ));
      await kicked.next("force_disconnect");
      await withTimeout(client.closed, WAIT_MS, "the client to close");
      assert.deepEqual(notes.all, [["before"]]);
      await withTimeout(peer.ended, WAIT_MS, "the socket to close");
      assert.equal(text(peer.received), text(concat(hello, ack)), "nothing more was sent");
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "pending lookups and recvRaw calls reject with ConnectionClosed when the server vanishes",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const client = scope.add(await connect([HOST, raw.port], { name: "c" }));
      const peer = await raw.peers.next("the client's connection");
      const lookup = client.getClient("someone");
      const rawMessage = client.recvRaw();
      await until(() => text(peer.received).includes("$GETCLT$someone"), "the lookup");
      peer.socket.destroy();
      await rejectsWithin(lookup, ConnectionClosed, "the lookup");
      await rejectsWithin(rawMessage, ConnectionClosed, "recvRaw");
      await withTimeout(client.closed, WAIT_MS, "closed");
    }),
  );

  test(
    "announcements are parsed for their handlers only: a bad one is an error there, unread elsewhere",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const listening = scope.add(await connect([HOST, raw.port], { name: "listening" }));
      const deaf = scope.add(await connect([HOST, raw.port], { name: "deaf" }));
      const joins = record<[ClientInfo]>(listening, "client_connect");
      const listeningErrors = record<[HiSockError]>(listening, "error");
      const deafErrors = record<[HiSockError]>(deaf, "error");
      const deafNotes = record<[string]>(deaf, "note", "str");
      const listeningPeer = await raw.peers.next("the listening client's connection");
      const deafPeer = await raw.peers.next("the deaf client's connection");
      const good = asciiFrame('$CLTCONN${"name": "bob", "group": null, "ip": ["1.2.3.4", 5]}');
      const bad = asciiFrame("$CLTCONN${not json");
      await listeningPeer.write(concat(good, bad));
      const [bob] = await joins.next("the good announcement");
      assert.equal(bob.name, "bob");
      const [error] = await listeningErrors.next("the bad announcement");
      assert.ok(error instanceof ProtocolError, `got ${error}`);
      // Nobody listens on the other client: both pass unread, and it goes on.
      await deafPeer.write(concat(good, bad, asciiFrame("$CMD$note$MSG$still here")));
      assert.deepEqual(await deafNotes.next("the note after them"), ["still here"]);
      assert.equal(deafErrors.size, 0);
    }),
  );

  test(
    "a malformed header from the server is MalformedHeader on `error`, and the client closes",
    scoped(async (scope) => {
      const raw = scope.add(await RawServer.listen());
      const client = scope.add(await connect([HOST, raw.port], { name: "c" }));
      const errors = record<[HiSockError]>(client, "error");
      const peer = await raw.peers.next("the client's connection");
      await peer.write("1_0             0123456789");
      const [error] = await errors.next("MalformedHeader");
      assert.ok(error instanceof MalformedHeader, `got ${error}`);
      assert.equal(text(error.header), "1_0             ");
      await withTimeout(client.closed, WAIT_MS, "the client to close");
      await withTimeout(peer.ended, WAIT_MS, "the socket to close");
    }),
  );
});

describe("lent bytes and low-water drains", () => {
  test(
    '"view" lends a large payload without a copy; "bytes" gets a copy that stays intact',
    scoped(async (scope) => {
      const { server } = await serve(scope, { maxMessageSize: 8 * 1024 * 1024 });
      const views: Uint8Array[] = [];
      const snapshots: Uint8Array[] = [];
      const kept: Uint8Array[] = [];
      server.on("bulk", "view", (_client, view) => {
        views.push(view);
        snapshots.push(view.slice());
      });
      server.on("bulk", "bytes", (_client, bytes) => kept.push(bytes));
      const client = await join(scope, server, { name: "bulk" });
      const first = new Uint8Array(1024 * 1024).fill(1);
      const second = new Uint8Array(1024 * 1024).fill(2);
      client.send("bulk", first);
      client.send("bulk", second);
      await until(() => kept.length === 2, "both bulk messages");
      // What each handler saw while it ran was the message.
      assert.deepEqual(snapshots[0], first);
      assert.deepEqual(snapshots[1], second);
      // The kept copies are still the messages; the lent buffer was reused,
      // so the first view now shows the second message.
      assert.deepEqual(kept[0], first);
      assert.deepEqual(kept[1], second);
      assert.equal(views[0].buffer, views[1].buffer, "one assembly buffer, lent twice");
      assert.equal(views[0][0], 2);
    }),
  );

  test(
    'in manual dispatch "view" handlers get a copy, since they run after the buffer is reused',
    scoped(async (scope) => {
      const { server } = await serve(scope, {
        dispatch: "manual",
        blocking: false,
        maxMessageSize: 8 * 1024 * 1024,
      });
      const views: Uint8Array[] = [];
      server.on("bulk", "view", (_client, view) => views.push(view));
      const client = await join(scope, server, { name: "manual" });
      client.send("bulk", new Uint8Array(512 * 1024).fill(7));
      client.send("bulk", new Uint8Array(512 * 1024).fill(9));
      for (let tick = 0; tick < 1000 && views.length < 2; tick++) {
        await server.run();
        await sleep(5);
      }
      assert.equal(views[0][0], 7);
      assert.equal(views[1][0], 9);
      assert.notEqual(views[0].buffer, views[1].buffer);
    }),
  );

  test(
    "drain(below) resolves once the queue is at or under the mark, drain() once it is empty",
    scoped(async (scope) => {
      const { server } = await serve(scope, { maxMessageSize: 8 * 1024 * 1024 });
      let received = 0;
      server.on("bulk", "view", (_client, view) => received += view.length);
      const client = await join(scope, server, { name: "drainer" });
      const payload = new Uint8Array(1024 * 1024);
      for (let i = 0; i < 8; i++) client.send("bulk", payload);
      assert.ok(client.bufferedAmount > 4 * 1024 * 1024, "queued before any write completed");
      await withTimeout(client.drain(2 * 1024 * 1024), 10_000, "drain to 2 MiB");
      assert.ok(client.bufferedAmount <= 2 * 1024 * 1024, `${client.bufferedAmount} queued`);
      await withTimeout(client.drain(), 10_000, "drain to empty");
      assert.equal(client.bufferedAmount, 0);
      await until(() => received === 8 * payload.length, "every byte at the server");
    }),
  );
});
