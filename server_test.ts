/**
 * Integration tests of HiSockServer over real sockets on 127.0.0.1: every
 * public method, every reserved event, limits, broken peers and shutdown.
 */

import { execFileSync } from "node:child_process";
import process from "node:process";
import { describe, test } from "node:test";
import { nodeTransport } from "./transport_node.ts";
import { defaultTransport } from "./runtime.ts";
import type { Transport, TransportConn } from "./transport.ts";
import { PRESENCE_DELAY_MAX_MS, PRESENCE_DELAY_MS, presenceDelay } from "./server.ts";
import assert from "node:assert/strict";
import {
  type ClientInfo,
  ClientNotFound,
  connect,
  ConnectionClosed,
  DEFAULT_BACKLOG,
  GroupNotFound,
  HandlerError,
  type HiSockClient,
  type HiSockError,
  type HiSockServer,
  MalformedHeader,
  MessageTooLarge,
  ProtocolError,
  ServerNotRunning,
  type ServerOptions,
  startServer,
  TypeCastError,
} from "./mod.ts";
import {
  asciiFrame,
  assertSameBytes,
  bytesOf,
  concat,
  HOST,
  Inbox,
  isJoined,
  join,
  pattern,
  RawPeer,
  record,
  type Scope,
  scoped,
  serve,
  sleep,
  text,
  until,
  WAIT_MS,
  withTimeout,
} from "./test_util.ts";

/** The info the server has for a client, looked up by its address. */
function infoOf(server: HiSockServer, client: HiSockClient): ClientInfo {
  return server.getClient(client.addr);
}

/** Whether the tests run on Bun (whose node:net differs where said). */
const ON_BUN = typeof process.versions.bun === "string";

/** The transports run by the tests that concern them: node:net, and the runtime's own where it differs. */
const TRANSPORTS: [string, Transport][] = defaultTransport === nodeTransport
  ? [["node:net", nodeTransport]]
  : [["node:net", nodeTransport], ["default", defaultTransport]];

describe("startServer", () => {
  test(
    "listens at [host, port] and { hostname, port }; port 0 gives the real port",
    scoped(async (scope) => {
      const a = scope.add(await startServer([HOST, 0]));
      const [host, port] = a.getAddr();
      assert.equal(host, HOST);
      assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `real port, got ${port}`);
      const b = scope.add(await startServer({ hostname: HOST, port: 0 }));
      assert.equal(b.getAddr()[0], HOST);
      assert.notEqual(b.getAddr()[1], port);

      // Both really accept, at the port they report.
      const ca = await join(scope, a, { name: "at-a" });
      const cb = scope.add(
        await connect({ hostname: HOST, port: b.getAddr()[1] }, { name: "at-b" }),
      );
      await until(() => isJoined(b, cb), "the join at b");
      assert.deepEqual(a.getAllClients("name"), ["at-a"]);
      assert.deepEqual(b.getAllClients("name"), ["at-b"]);
      assert.equal(infoOf(a, ca).name, "at-a");

      assert.equal(a.closed, false);
      const closing = a.close();
      assert.equal(a.closed, true);
      assert.equal(a.close(), closing, "close() twice gives the same promise");
      await withTimeout(closing, WAIT_MS, "a.close()");
    }),
  );

  test(
    "a malformed address or option is refused",
    scoped(async () => {
      const bad: unknown[] = [
        [HOST],
        [HOST, 0, 1],
        [HOST, -1],
        [HOST, 65536],
        [HOST, 1.5],
        [HOST, "80"],
        ["", 0],
        [0, 0],
        { hostname: HOST },
        { hostname: "", port: 0 },
        `${HOST}:0`,
        null,
        undefined,
        42,
      ];
      for (const addr of bad) {
        await assert.rejects(
          // deno-lint-ignore no-explicit-any
          startServer(addr as any),
          TypeError,
          `startServer(${JSON.stringify(addr)})`,
        );
      }
      const badOptions: ServerOptions[] = [
        { maxConnections: -1 },
        { maxConnections: 1.5 },
        { headerLen: 0 },
        { headerLen: 65 },
        // deno-lint-ignore no-explicit-any
        { header: "hex" as any },
        { maxMessageSize: -1 },
        // deno-lint-ignore no-explicit-any
        { dispatch: "later" as any },
        // deno-lint-ignore no-explicit-any
        { dialect: "v9" as any },
        { backlog: 0 },
        { backlog: 1.5 },
        { backlog: 70_000 },
      ];
      for (const options of badOptions) {
        await assert.rejects(
          startServer([HOST, 0], options),
          RangeError,
          `startServer with ${JSON.stringify(options)}`,
        );
      }
    }),
  );

  for (const [label, transport] of TRANSPORTS) {
    test(
      `the listen backlog is the one asked for, ${DEFAULT_BACKLOG} by default (${label} transport)`,
      scoped(async (scope) => {
        // The kernel's own record of the listening socket: ss shows the
        // backlog as Send-Q, capped at net.core.somaxconn.
        const ss = listenQueueLimit;
        if (ss(0) === undefined) {
          console.warn("SKIPPED: the backlog check needs Linux and ss (iproute2)");
          return;
        }
        // The OS's cap, net.core.somaxconn: what the largest backlog becomes.
        const widest = scope.add(await startServer([HOST, 0], { backlog: 65535, transport }));
        const cap = ss(widest.getAddr()[1])!;
        const custom = scope.add(await startServer([HOST, 0], { backlog: 77, transport }));
        const plain = scope.add(await startServer([HOST, 0], { transport }));
        if (ON_BUN) {
          // Bun's node:net listens with 512 whatever it is asked (1.4.5), as
          // the README says; this fails once Bun honours the option.
          assert.deepEqual([cap, ss(custom.getAddr()[1]), ss(plain.getAddr()[1])], [512, 512, 512]);
          return;
        }
        assert.ok(cap >= 77, `somaxconn ${cap}`);
        assert.equal(ss(custom.getAddr()[1]), Math.min(77, cap));
        assert.equal(ss(plain.getAddr()[1]), Math.min(DEFAULT_BACKLOG, cap));
      }),
    );
  }

  test(
    "maxConnections is a real cap: the next client gets force_disconnect, the others carry on",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { maxConnections: 2 });
      const joins = record<[ClientInfo]>(server, "join");
      const echo = (client: ClientInfo, value: string) => server.sendClient(client, "echo", value);
      server.on("echo", "str", echo);

      const a = await join(scope, server, { name: "a" });
      const b = await join(scope, server, { name: "b" });
      const aEcho = record<[string]>(a, "echo", "str");
      const bEcho = record<[string]>(b, "echo", "str");

      for (let round = 0; round < 2; round++) {
        const extra = scope.add(await connect(server.getAddr(), { name: `extra${round}` }));
        const kicked = record<[]>(extra, "force_disconnect");
        await kicked.next("force_disconnect of the client past the cap");
        await withTimeout(extra.closed, WAIT_MS, "the extra client to be closed");
        assert.throws(() => extra.send("echo", "x"), ConnectionClosed);
      }
      assert.deepEqual(joins.all.map(([info]) => info.name), ["a", "b"]);
      assert.deepEqual(server.getAllClients("name"), ["a", "b"]);

      a.send("echo", "from a");
      b.send("echo", "from b");
      assert.deepEqual(await aEcho.next("echo to a"), ["from a"]);
      assert.deepEqual(await bEcho.next("echo to b"), ["from b"]);

      // The cap counts open connections: once a leaves there is room again.
      await a.close();
      await until(() => server.getAllClients().length === 1, "a's leave");
      const c = await join(scope, server, { name: "c" });
      const cEcho = record<[string]>(c, "echo", "str");
      c.send("echo", "from c");
      assert.deepEqual(await cEcho.next("echo to c"), ["from c"]);
      assert.deepEqual(server.getAllClients("name"), ["b", "c"]);
      assert.equal(errors.size, 0, `no errors: ${errors.all.map(([e]) => e.message)}`);
    }),
  );

  for (
    const framing of [
      { headerLen: 8 },
      { headerLen: 32 },
      { header: "binary", headerLen: 4 },
      { header: "binary" },
    ] as const
  ) {
    test(
      `framing ${JSON.stringify(framing)} works end to end`,
      scoped(async (scope) => {
        const { server, errors } = await serve(scope, framing);
        const got = record<[ClientInfo, Uint8Array]>(server, "blob");
        server.on("blob", (client, content) => server.sendClient(client, "blob", content));
        const client = await join(scope, server, { ...framing, name: "framed" });
        const back = record<[Uint8Array]>(client, "blob");
        const small = bytesOf("tiny");
        const large = pattern(300_000, 7);
        client.send("blob", small);
        client.send("blob", large);
        assertSameBytes((await got.next("small at server"))[1], small, "small at server");
        assertSameBytes((await got.next("large at server"))[1], large, "large at server");
        assertSameBytes((await back.next("small back"))[0], small, "small back");
        assertSameBytes((await back.next("large back"))[0], large, "large back");

        // On the wire: a hand-made frame with this header is understood, and
        // what the server sends uses it too.
        const headerLen = framing.headerLen ?? 16;
        const frameOf = (payload: string) => {
          const body = bytesOf(payload);
          if (framing.header !== "binary") return asciiFrame(body, headerLen);
          const header = new Uint8Array(headerLen);
          new DataView(header.buffer).setUint32(headerLen - 4, body.length);
          return concat(header, body);
        };
        const raw = scope.add(await RawPeer.connect(server.getAddr()[1]));
        await raw.write(frameOf('$CLTHELLO${"name": "raw", "group": null}'));
        await raw.write(frameOf("$CMD$blob$MSG$hand-made"));
        const [info, content] = await got.next("the hand-made frame");
        assert.equal(info.name, "raw");
        assert.equal(text(content), "hand-made");
        const expected = concat(
          // $CLTCONN$ for raw itself (v2 announces a join to the joiner too), then the echo.
          frameOf(
            '$CLTCONN${"ip": ["' + HOST + '", ' + raw.addr[1] + '], "name": "raw", "group": null}',
          ),
          frameOf("$CMD$blob$MSG$hand-made"),
        );
        await until(() => raw.received.length >= expected.length, "the echo to the raw peer");
        assertSameBytes(raw.received, expected, "bytes the raw peer got");
        assert.equal(errors.size, 0);
      }),
    );
  }

  test(
    "maxMessageSize: refused on send before queueing, and on receive from the header",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { maxMessageSize: 1000 });
      const leaves = record<[ClientInfo]>(server, "leave");
      const got = record<[ClientInfo, string]>(server, "note", "str");
      server.on("note", "str", (client, note) => server.sendClient(client, "note", note));

      // A client with the same limit refuses to send more, and nothing is queued.
      const polite = await join(scope, server, { name: "polite", maxMessageSize: 1000 });
      const politeNotes = record<[string]>(polite, "note", "str");
      assert.throws(
        () => polite.send("note", "x".repeat(1000)),
        (error: unknown) =>
          error instanceof MessageTooLarge && error.limit === 1000 &&
          error.size === 1000 + "$CMD$note$MSG$".length,
      );
      assert.equal(polite.bufferedAmount, 0);
      polite.send("note", "fits");
      assert.deepEqual((await got.next("fits"))[1], "fits");

      // The server refuses to send more, and the connection stays usable.
      assert.throws(() => server.sendClient("polite", "note", "y".repeat(2000)), MessageTooLarge);
      assert.throws(() => server.sendAllClients("note", "y".repeat(2000)), MessageTooLarge);
      server.sendClient("polite", "note", "after");
      assert.deepEqual(await politeNotes.next("note after refusal"), ["fits"]);
      assert.deepEqual(await politeNotes.next("note after refusal"), ["after"]);

      // A client with a larger limit gets dropped by the server on receipt.
      const greedy = await join(scope, server, { name: "greedy" });
      greedy.send("note", "z".repeat(5000));
      const [error, who] = await errors.next("MessageTooLarge at the server");
      assert.ok(error instanceof MessageTooLarge, `got ${error}`);
      assert.equal(error.limit, 1000);
      assert.equal(error.size, 5000 + "$CMD$note$MSG$".length);
      assert.equal(who?.name, "greedy");
      await withTimeout(greedy.closed, WAIT_MS, "greedy to be dropped");
      assert.equal((await leaves.next("greedy's leave"))[0].name, "greedy");
      assert.equal(got.size, 0, "the oversized note reached no handler");

      polite.send("note", "still here");
      assert.deepEqual((await got.next("still here"))[1], "still here");
      assert.equal(errors.size, 0);
    }),
  );
});

/**
 * The runtime's transport, but the `stall`-th connection it accepts (from 1)
 * never finishes a write, so what is queued for that client only grows.
 */
function stallingTransport(stall: number): Transport {
  let accepted = 0;
  return {
    connect: (options) => defaultTransport.connect(options),
    async listen(options) {
      const listener = await defaultTransport.listen(options);
      return {
        get addr() {
          return listener.addr;
        },
        start: (onConn, onError) =>
          listener.start((conn) => onConn(++accepted === stall ? stalled(conn) : conn), onError),
        close: () => listener.close(),
      };
    },
  };
}

/** `conn`, but its writes are taken and never end (and, without `pipelinesWrites`, one at a time). */
function stalled(conn: TransportConn): TransportConn {
  return {
    remoteAddr: conn.remoteAddr,
    get localAddr() {
      return conn.localAddr;
    },
    start: (sink) => conn.start(sink),
    write: () => {}, // taken, never written, never ended
    pause: () => conn.pause(),
    resume: () => conn.resume(),
    close: () => conn.close(),
  };
}

describe("clients, groups and events", () => {
  test(
    "a client whose queue fills with announcements is dropped from the walk; the others get every one",
    scoped(async (scope) => {
      // One announcement is some 90 bytes: the stalled client's queue passes
      // the cap within a few joins, while the others' empty between joins.
      const { server, errors } = await serve(scope, {
        transport: stallingTransport(2),
        maxQueuedBytes: 400,
      });
      const names = ["a", "stalled", "b", "c", "d", "e", "f", "g"];
      const joined = new Map<string, string[]>();
      const left = new Map<string, string[]>();
      // Who was there when the stalled client left: they must hear of it.
      let presentAtLeave: (string | null)[] = [];
      server.on("leave", () => presentAtLeave = server.getAllClients("name"));
      let stalledClient: HiSockClient | undefined;
      for (const name of names) {
        const client = scope.add(await connect(server.getAddr(), { name }));
        if (name === "stalled") stalledClient = client;
        else {
          joined.set(name, []);
          left.set(name, []);
          client.on("client_connect", (info: ClientInfo) => joined.get(name)!.push(info.name!));
          client.on("client_disconnect", (info: ClientInfo) => left.get(name)!.push(info.name!));
        }
        await until(() => isJoined(server, client), `the join of ${name}`);
        // Every client still served hears of this join before the next.
        await until(
          () => name === "stalled" || [...joined.values()].every((seen) => seen.includes(name)),
          `the join of ${name}, announced to all`,
        );
      }
      await withTimeout(stalledClient!.closed, WAIT_MS, "the stalled client dropped");
      const [[error, about]] = await errors.take(1, "the stalled client's error");
      assert.equal(error.name, "SlowConsumer");
      assert.equal(about?.name, "stalled");
      assert.ok(presentAtLeave.length >= 3, `clients there at the leave: ${presentAtLeave}`);
      await until(
        () => presentAtLeave.every((name) => left.get(name!)!.length === 1),
        "the stalled client's leave, announced to those there",
      );
      for (const [name, seen] of joined) {
        // Each heard every join from its own on (the stalled one's too, for "a").
        assert.deepEqual(seen, names.slice(names.indexOf(name)), `the joins ${name} heard`);
        const expected = presentAtLeave.includes(name) ? ["stalled"] : [];
        assert.deepEqual(left.get(name), expected, `the leaves ${name} heard`);
      }
      assert.equal(errors.size, 0, `no other error: ${errors.all.map(([e]) => e.message)}`);
      assert.deepEqual(server.getAllClients("name"), names.filter((n) => n !== "stalled"));
    }),
  );

  for (const [label, transport] of TRANSPORTS) {
    test(
      `held presence announcements arrive, in order with what follows them (${label} transport)`,
      scoped(async (scope) => {
        await heldPresenceInOrder(scope, transport);
      }),
    );
  }

  test("announcements wait 10 ms, longer the more connections a flush writes to, at most 100", () => {
    assert.equal(presenceDelay(0), PRESENCE_DELAY_MS);
    assert.equal(presenceDelay(1), 10);
    assert.equal(presenceDelay(400), 10);
    assert.equal(presenceDelay(1000), 25);
    assert.equal(presenceDelay(2000), 50);
    assert.equal(presenceDelay(100_000), PRESENCE_DELAY_MAX_MS);
    let last = 0;
    for (let n = 0; n <= 5000; n += 50) {
      assert.ok(presenceDelay(n) >= last, `never shorter for more connections (${n})`);
      last = presenceDelay(n);
    }
  });

  async function heldPresenceInOrder(scope: Scope, transport: Transport): Promise<void> {
    // The server holds announcements a moment (PRESENCE_DELAY_MS); a
    // message sent meanwhile must not overtake them.
    const { server, errors } = await serve(scope, { transport });
    server.on("join", (info: ClientInfo) => {
      if (info.name !== "first") server.sendClient("first", "after", info.name ?? "");
    });
    const first = scope.add(await connect(server.getAddr(), { name: "first" }));
    const order = new Inbox<string>();
    first.on("client_connect", (info: ClientInfo) => order.push(`join ${info.name}`));
    first.on("after", "str", (name: string) => order.push(`after ${name}`));
    assert.equal(await order.next("first's own join"), "join first");
    for (const name of ["b", "c", "d"]) {
      scope.add(await connect(server.getAddr(), { name }));
    }
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await order.next(`event ${i}`));
    assert.deepEqual(seen, ["join b", "after b", "join c", "after c", "join d", "after d"]);
    // With nothing sent after it, a held announcement still leaves.
    const quiet = new Inbox<string>();
    const watcher = scope.add(await connect(server.getAddr(), { name: "watcher" }));
    watcher.on("client_connect", (info: ClientInfo) => quiet.push(info.name ?? ""));
    assert.equal(await quiet.next("the watcher's own join"), "watcher");
    server.off("join");
    scope.add(await connect(server.getAddr(), { name: "late" }));
    assert.equal(await quiet.next("the late join"), "late");
    assert.equal(errors.size, 0, `no errors: ${errors.all.map(([e]) => e.message)}`);
  }

  test(
    "join, leave, message, * and presence announcements with their arguments",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const joins = record<[ClientInfo]>(server, "join");
      const leaves = record<[ClientInfo]>(server, "leave");
      const messages = record<[ClientInfo, string, Uint8Array]>(server, "message");
      const stars = record<[ClientInfo, string | null, Uint8Array]>(server, "*");
      const greets = record<[ClientInfo, string]>(server, "greet", "str");

      const alice = scope.add(await connect(server.getAddr(), { name: "alice", group: "red" }));
      const aliceSees = record<[ClientInfo]>(alice, "client_connect");
      const aliceGone = record<[ClientInfo]>(alice, "client_disconnect");
      const [aliceInfo] = await joins.next("alice's join");
      assert.deepEqual(aliceInfo, {
        ip: [HOST, alice.addr[1]],
        ipstr: `${HOST}:${alice.addr[1]}`,
        name: "alice",
        group: "red",
      });
      // v2 announces a join to the joiner too.
      assert.deepEqual((await aliceSees.next("alice sees herself"))[0], aliceInfo);

      const bob = scope.add(await connect(server.getAddr(), { name: "bob", group: "blue" }));
      const bobSees = record<[ClientInfo]>(bob, "client_connect");
      const [bobInfo] = await joins.next("bob's join");
      assert.equal(bobInfo.name, "bob");
      assert.equal(bobInfo.group, "blue");
      assert.deepEqual((await aliceSees.next("alice sees bob"))[0], bobInfo);
      assert.deepEqual((await bobSees.next("bob sees himself"))[0], bobInfo);

      // No name, no group.
      const anon = scope.add(await connect(server.getAddr()));
      const anonGone = record<[ClientInfo]>(anon, "client_disconnect");
      const [anonInfo] = await joins.next("anon's join");
      assert.equal(anonInfo.name, null);
      assert.equal(anonInfo.group, null);
      assert.equal(anonInfo.ip[1], anon.addr[1]);
      assert.deepEqual((await aliceSees.next("alice sees anon"))[0], anonInfo);
      assert.deepEqual((await bobSees.next("bob sees anon"))[0], anonInfo);
      assert.deepEqual(server.getAllClients("name"), ["alice", "bob", null]);
      assert.deepEqual(server.getAllClients("group"), ["red", "blue", null]);

      // A command with a handler: the handler, then `message`; `*` not.
      alice.send("greet", "hi");
      assert.deepEqual(await greets.next("greet"), [aliceInfo, "hi"]);
      const [mClient, mCommand, mContent] = await messages.next("message for greet");
      assert.deepEqual([mClient, mCommand, text(mContent)], [aliceInfo, "greet", "hi"]);

      // A command without a handler: `*` and `message`.
      anon.send("shout", "HEY");
      const [sClient, sCommand, sContent] = await stars.next("* for shout");
      assert.deepEqual([sClient, sCommand, text(sContent)], [anonInfo, "shout", "HEY"]);
      const [m2Client, m2Command] = await messages.next("message for shout");
      assert.deepEqual([m2Client, m2Command], [anonInfo, "shout"]);

      // A raw message: `*` with command null, and not `message`.
      bob.rawSend(new Uint8Array([0, 1, 2, 255]));
      const [rClient, rCommand, rContent] = await stars.next("* for raw");
      assert.deepEqual([rClient, rCommand, [...rContent]], [bobInfo, null, [0, 1, 2, 255]]);
      // A command named like a reserved event reaches command handlers only.
      bob.send("join", "sneaky");
      const [, fakeJoin] = await stars.next("* for a command named join");
      assert.equal(fakeJoin, "join");
      await messages.next("message for the command named join");
      assert.equal(joins.size, 0, "no join event from a command");
      assert.equal(messages.size, 0, "raw messages are not `message`");

      // Leaving: `leave` on the server, client_disconnect on the others.
      await bob.close();
      assert.deepEqual((await leaves.next("bob's leave"))[0], bobInfo);
      assert.deepEqual((await aliceGone.next("alice sees bob leave"))[0], bobInfo);
      assert.deepEqual((await anonGone.next("anon sees bob leave"))[0], bobInfo);
      assert.deepEqual(server.getAllClients("name"), ["alice", null]);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "renames and regroups fire name_change / group_change and update every lookup",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const names = record<[ClientInfo, string | null, string | null]>(server, "name_change");
      const groups = record<[ClientInfo, string | null, string | null]>(server, "group_change");
      const alice = await join(scope, server, { name: "alice", group: "red" });
      const watcher = await join(scope, server, { name: "watcher", group: "red" });
      const aliceGot = record<[string]>(alice, "note", "str");

      const before = server.getClient("alice");
      alice.changeName("alicia");
      assert.equal(alice.name, "alicia");
      const [renamed, oldName, newName] = await names.next("name_change");
      assert.deepEqual([renamed.name, oldName, newName], ["alicia", "alice", "alicia"]);
      assert.equal(renamed.ip[1], alice.addr[1]);
      assert.throws(() => server.getClient("alice"), ClientNotFound);
      assert.equal(server.getClient("alicia").ip[1], alice.addr[1]);
      assert.throws(() => server.sendClient("alice", "note", "x"), ClientNotFound);
      server.sendClient("alicia", "note", "to alicia");
      assert.deepEqual(await aliceGot.next("note by the new name"), ["to alicia"]);
      // A client info finds its client by address, the current one and one
      // from before the rename alike.
      server.sendClient(renamed, "note", "by current info");
      server.sendClient(before, "note", "by old info");
      assert.deepEqual(await aliceGot.take(2, "notes by info"), [["by current info"], [
        "by old info",
      ]]);

      alice.changeGroup("green");
      assert.equal(alice.group, "green");
      const [regrouped, oldGroup, newGroup] = await groups.next("group_change");
      assert.deepEqual([regrouped.group, oldGroup, newGroup], ["green", "red", "green"]);
      assert.equal(regrouped.name, "alicia");
      assert.deepEqual(server.getGroup("red").map((info) => info.name), ["watcher"]);
      assert.deepEqual(server.getGroup("green").map((info) => info.name), ["alicia"]);
      watcher.changeGroup("green");
      await groups.next("watcher's group_change");
      assert.throws(() => server.getGroup("red"), GroupNotFound);
      assert.deepEqual(server.getGroup("green").map((info) => info.name), ["alicia", "watcher"]);

      // Renaming to the same name is no change; the other client's lookup sees it too.
      alice.changeName("alicia");
      assert.deepEqual((await watcher.getClient("alicia")).group, "green");
      assert.equal(names.size, 0, "no name_change for the same name");
      await assert.rejects(
        withTimeout(watcher.getClient("alice"), WAIT_MS, "lookup"),
        ClientNotFound,
      );
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "non-ASCII names and groups round-trip through hello, presence, lookups and renames",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const joins = record<[ClientInfo]>(server, "join");
      const zoe = scope.add(await connect(server.getAddr(), { name: "zoë", group: "日本" }));
      const zoeSees = record<[ClientInfo]>(zoe, "client_connect");
      const zoeNotes = record<[string]>(zoe, "note", "str");
      assert.equal((await joins.next("zoë's join"))[0].name, "zoë");
      const fox = scope.add(await connect(server.getAddr(), { name: "🦊 fox", group: "群組 ✓" }));
      const [foxInfo] = await joins.next("fox's join");
      assert.deepEqual([foxInfo.name, foxInfo.group], ["🦊 fox", "群組 ✓"]);
      await zoeSees.next("zoë sees herself");
      const [seen] = await zoeSees.next("zoë sees the fox");
      assert.deepEqual([seen.name, seen.group], ["🦊 fox", "群組 ✓"]);

      assert.equal(server.getClient("zoë").ip[1], zoe.addr[1]);
      assert.equal(server.getGroup("日本")[0].name, "zoë");
      assert.equal((await fox.getClient("zoë")).group, "日本");
      server.sendGroup("日本", "note", "こんにちは");
      assert.deepEqual(await zoeNotes.next("a note to 日本"), ["こんにちは"]);

      const renames = record<[ClientInfo, string | null, string | null]>(server, "name_change");
      zoe.changeName("Ñandú 🎉");
      zoe.changeGroup("Ελλάδα");
      const [, before, after] = await renames.next("the non-ASCII rename");
      assert.deepEqual([before, after], ["zoë", "Ñandú 🎉"]);
      await until(() => server.getClient("Ñandú 🎉").group === "Ελλάδα", "the regroup");
      assert.throws(() => server.getClient("zoë"), ClientNotFound);
      assert.throws(() => server.getGroup("日本"), GroupNotFound);
      const looked = await fox.getClient("Ñandú 🎉");
      assert.deepEqual([looked.name, looked.group], ["Ñandú 🎉", "Ελλάδα"]);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "duplicate names: a lookup finds the client that has held the name longest",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const first = await join(scope, server, { name: "dup" });
      const second = await join(scope, server, { name: "dup" });
      const firstGot = record<[string]>(first, "who", "str");
      const secondGot = record<[string]>(second, "who", "str");
      assert.deepEqual(server.getAllClients("name"), ["dup", "dup"]);
      assert.equal(server.getClient("dup").ip[1], first.addr[1]);
      server.sendClient("dup", "who", "1");
      assert.deepEqual(await firstGot.next("by name to the first"), ["1"]);

      // The first gives the name up: the second now holds it longest.
      first.changeName("other");
      await until(() => server.getClient("dup").ip[1] === second.addr[1], "the lookup to move");
      // Taking it back makes the first the newer holder.
      first.changeName("dup");
      await until(() => server.getAllClients("name").every((name) => name === "dup"), "rename");
      assert.equal(server.getClient("dup").ip[1], second.addr[1]);
      server.sendClient("dup", "who", "2");
      assert.deepEqual(await secondGot.next("by name to the second"), ["2"]);
      assert.equal((await first.getClient("dup")).ip[1], second.addr[1]);

      await second.close();
      await until(() => server.getAllClients().length === 1, "the second's leave");
      assert.equal(server.getClient("dup").ip[1], first.addr[1]);
      server.sendClient("dup", "who", "3");
      assert.deepEqual(await firstGot.next("by name to the first again"), ["3"]);
      assert.equal(firstGot.size + secondGot.size, 0);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "uniqueNames: a duplicate hello is refused, and so is a rename to a taken name",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { uniqueNames: true });
      const joins = record<[ClientInfo]>(server, "join");
      const solo = await join(scope, server, { name: "solo" });
      await joins.next("solo's join");

      const copycat = scope.add(await connect(server.getAddr(), { name: "solo" }));
      await withTimeout(copycat.closed, WAIT_MS, "the copycat to be closed");
      const [refusal, refusedWho] = await errors.next("the refusal");
      assert.ok(refusal instanceof ProtocolError, `got ${refusal}`);
      assert.match(refusal.message, /solo/);
      assert.equal(refusedWho, null);
      assert.equal(joins.size, 0);

      const other = await join(scope, server, { name: "other" });
      const renames = record<[ClientInfo, string | null, string | null]>(server, "name_change");
      other.changeName("solo");
      const [renameRefusal, renamer] = await errors.next("the rename refusal");
      assert.ok(renameRefusal instanceof ProtocolError, `got ${renameRefusal}`);
      assert.equal(renamer?.name, "other");
      assert.equal(server.getClient("solo").ip[1], solo.addr[1]);
      assert.equal(server.getClient("other").ip[1], other.addr[1]);
      // Still connected, and a free name is fine.
      other.changeName("free");
      assert.deepEqual((await renames.next("a free rename")).slice(1), ["other", "free"]);
      assert.equal(server.getClient("free").ip[1], other.addr[1]);
      assert.deepEqual(server.getAllClients("name"), ["solo", "free"]);
      assert.equal(errors.size, 0);
    }),
  );
});

describe("typed handlers", () => {
  const big = 2n ** 80n + 7n;
  /** [declared type, content sent, value expected]. */
  const cases: Array<[string, unknown, unknown]> = [
    ["bytes", new Uint8Array([0, 255, 1, 128]), new Uint8Array([0, 255, 1, 128])],
    ["bytes", "hé", new TextEncoder().encode("hé")],
    ["bytes", null, new Uint8Array(0)],
    ["str", "zoë ✓ 🦊", "zoë ✓ 🦊"],
    ["str", new TextEncoder().encode("from bytes"), "from bytes"],
    ["str", 42, "42"],
    ["str", 2.5, "2.5"],
    ["str", [1, "a"], '[1, "a"]'],
    ["str", null, ""],
    ["int", 42, 42],
    ["int", -7, -7],
    ["int", "123", 123],
    ["int", 5n, 5],
    ["int", null, 0],
    ["bigint", big, big],
    ["bigint", -big, -big],
    ["bigint", 42, 42n],
    ["bigint", "-9", -9n],
    ["float", 3.25, 3.25],
    ["float", -1e-7, -1e-7],
    ["float", 7, 7],
    ["float", "2.5", 2.5],
    ["float", Infinity, Infinity],
    ["float", -Infinity, -Infinity],
    ["float", NaN, NaN],
    ["bool", true, true],
    ["bool", false, false],
    ["bool", null, false],
    ["bool", "true", true],
    ["bool", "0", false],
    ["json", { a: [1, "x", null, true], b: { c: "zoë" } }, {
      a: [1, "x", null, true],
      b: { c: "zoë" },
    }],
    ["json", [1, 2.5, [3]], [1, 2.5, [3]]],
    ["json", [], []],
    ["json", {}, {}],
    ["json", null, null],
    ["json", 5, 5],
    ["json", '"quoted"', "quoted"],
  ];

  test(
    "every cast type, with content of every kind, client to server",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const inboxes = new Map<string, Inbox<[ClientInfo, unknown]>>();
      for (const type of new Set(cases.map(([type]) => type))) {
        inboxes.set(type, record(server, `t_${type}`, type));
      }
      const client = await join(scope, server, { name: "typer" });
      // deno-lint-ignore no-explicit-any
      for (const [type, content] of cases) client.send(`t_${type}`, content as any);
      for (const [type, content, expected] of cases) {
        const [who, value] = await inboxes.get(type)!.next(`${type} of ${String(content)}`);
        assert.equal(who.name, "typer");
        assert.deepEqual(value, expected, `${type} of ${String(content)}`);
      }
      assert.equal(errors.size, 0, `no errors: ${errors.all.map(([e]) => e.message)}`);
    }),
  );

  test(
    "handlers get as many arguments as they declare (as in Python hisock); a declared type always gets content",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const seen: Record<string, unknown[][]> = {};
      const note = (key: string, args: unknown[]) => (seen[key] ??= []).push(args);
      server.on("c", function (_client: ClientInfo) {
        note("server (client)", [...arguments]);
      });
      server.on("c", function (_client: ClientInfo, _content: Uint8Array) {
        note("server (client, content)", [...arguments]);
      });
      server.on("c", (...args: unknown[]) => note("server (...args)", args));
      server.on("c", "str", (...args: unknown[]) => note("server str (...args)", args));
      server.on("message", function (_client: ClientInfo, _command: string) {
        note("server message (client, command)", [...arguments]);
      });
      // A content that "int" cannot read: a handler that does not take it
      // must not see a cast, nor an error.
      server.on("n", (_client: ClientInfo) => note("server n (client)", []));
      const client = await join(scope, server, { name: "arity" });
      const got = new Inbox<unknown[]>();
      client.on("s", function () {
        got.push(["client ()", arguments.length]);
      });
      client.on("s", function (_content: Uint8Array) {
        got.push(["client (content)", ...arguments]);
      });
      client.send("c", "hi");
      client.send("n", "not a number");
      await until(() => seen["server n (client)"]?.length === 1, "the n handler");
      const hi = new TextEncoder().encode("hi");
      const info = server.getClient("arity");
      assert.deepEqual(seen["server (client)"], [[info]]);
      assert.deepEqual(seen["server (client, content)"], [[info, hi]]);
      assert.deepEqual(seen["server (...args)"], [[info]]);
      assert.deepEqual(seen["server str (...args)"], [[info, "hi"]]);
      assert.deepEqual(seen["server message (client, command)"], [[info, "c"], [info, "n"]]);
      server.sendClient("arity", "s", "yo");
      assert.deepEqual(await got.next("client ()"), ["client ()", 0]);
      assert.deepEqual(await got.next("client (content)"), [
        "client (content)",
        new TextEncoder().encode("yo"),
      ]);
      assert.equal(errors.size, 0, `no errors: ${errors.all.map(([e]) => e.message)}`);
    }),
  );

  test(
    "every cast type, server to client, and typed message / * handlers",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const client = await join(scope, server, { name: "typed" });
      const clientErrors = record<[HiSockError]>(client, "error");
      const inboxes = new Map<string, Inbox<[unknown]>>();
      for (const type of new Set(cases.map(([type]) => type))) {
        inboxes.set(type, record(client, `t_${type}`, type));
      }
      // deno-lint-ignore no-explicit-any
      for (const [type, content] of cases) server.sendClient("typed", `t_${type}`, content as any);
      for (const [type, content, expected] of cases) {
        const [value] = await inboxes.get(type)!.next(`${type} of ${String(content)}`);
        assert.deepEqual(value, expected, `${type} of ${String(content)} at the client`);
      }

      const messages = record<[ClientInfo, string, unknown]>(server, "message", "json");
      const stars = record<[ClientInfo, string | null, unknown]>(server, "*", "str");
      client.send("anything", { n: 1 });
      client.rawSend("raw text");
      const [, command, json] = await messages.next("typed message");
      assert.deepEqual([command, json], ["anything", { n: 1 }]);
      assert.deepEqual((await stars.next("typed * for a command")).slice(1), [
        "anything",
        '{"n": 1}',
      ]);
      assert.deepEqual((await stars.next("typed * for raw")).slice(1), [null, "raw text"]);
      assert.equal(errors.size + clientErrors.size, 0);
    }),
  );

  test(
    "a failed cast is a TypeCastError on `error`; the server keeps serving",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const bad: Array<[string, unknown]> = [
        ["int", "abc"],
        ["int", "1.5"],
        ["int", "99999999999999999999"],
        ["bigint", "1e3"],
        ["float", "abc"],
        ["bool", "maybe"],
        ["json", "{bad"],
        ["json", "plain text"],
        ["str", new Uint8Array([0xff, 0xfe])],
      ];
      const inboxes = new Map<string, Inbox<[ClientInfo, unknown]>>();
      for (const type of new Set(bad.map(([type]) => type))) {
        inboxes.set(type, record(server, `t_${type}`, type));
      }
      const client = await join(scope, server, { name: "sloppy" });
      for (const [type, content] of bad) {
        // deno-lint-ignore no-explicit-any
        client.send(`t_${type}`, content as any);
        const [error, who] = await errors.next(`the cast error of ${type}`);
        assert.ok(error instanceof TypeCastError, `${type}: got ${error}`);
        assert.equal(error.castType, type);
        assert.equal(error.code, "TYPE_CAST");
        assert.equal(who?.name, "sloppy");
      }
      // Nothing reached a handler, and the connection still serves.
      for (const inbox of inboxes.values()) assert.equal(inbox.size, 0);
      client.send("t_int", 5);
      assert.deepEqual((await inboxes.get("int")!.next("a good int"))[1], 5);
      assert.equal(server.getAllClients().length, 1);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "a handler that throws or rejects is a HandlerError on `error`; the connection continues",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const boom = new Error("kaboom");
      server.on("throws", () => {
        throw boom;
      });
      server.on("rejects", async () => {
        await sleep(1);
        throw new RangeError("async kaboom");
      });
      server.on("join", (client) => {
        if (client.name === "bad-join") throw new Error("join handler failed");
      });
      const oks = record<[ClientInfo, string]>(server, "ok", "str");
      const client = await join(scope, server, { name: "victim" });

      client.send("throws");
      const [thrown, who] = await errors.next("the thrown error");
      assert.ok(thrown instanceof HandlerError, `got ${thrown}`);
      assert.equal(thrown.event, "throws");
      assert.equal(thrown.cause, boom);
      assert.equal(who?.name, "victim");

      client.send("rejects");
      const [rejected, who2] = await errors.next("the rejection");
      assert.ok(rejected instanceof HandlerError, `got ${rejected}`);
      assert.equal(rejected.event, "rejects");
      assert.ok(rejected.cause instanceof RangeError);
      assert.equal(who2?.name, "victim");

      await join(scope, server, { name: "bad-join" });
      const [joinError, who3] = await errors.next("the join handler's error");
      assert.ok(joinError instanceof HandlerError);
      assert.equal(joinError.event, "join");
      assert.equal(who3?.name, "bad-join");

      client.send("ok", "still alive");
      assert.deepEqual((await oks.next("ok after the failures"))[1], "still alive");
      assert.deepEqual(server.getAllClients("name"), ["victim", "bad-join"]);
      assert.equal(errors.size, 0);
    }),
  );
});

describe("sends and lookups", () => {
  /** Three clients that record everything they get, in order, through `*`. */
  async function threeClients(scope: Scope) {
    const { server, errors } = await serve(scope, { announcePresence: false });
    const make = async (name: string, group: string) => {
      const client = await join(scope, server, { name, group });
      const got = new Inbox<string>();
      client.on("*", "str", (command, content) => got.push(`${command}:${content}`));
      return { client, got };
    };
    const a = await make("alice", "red");
    const b = await make("bob", "red");
    const c = await make("carol", "blue");
    return { server, errors, a, b, c };
  }

  test(
    "sendClient by name, ip:port, [ip, port] and ClientInfo; the raw and group and all forms",
    scoped(async (scope) => {
      const { server, errors, a, b, c } = await threeClients(scope);
      server.sendClient("alice", "m", "by name");
      server.sendClient(`${HOST}:${b.client.addr[1]}`, "m", "by ipstr");
      server.sendClient([HOST, c.client.addr[1]], "m", "by pair");
      server.sendClient(server.getClient("alice"), "m", "by info");
      server.sendClientRaw("bob", "raw to bob");
      server.sendClientRaw(c.client.addr, new Uint8Array([0x68, 0x69]));
      server.sendGroup("red", "m", "to red");
      server.sendGroupRaw("blue", "raw to blue");
      server.sendAllClients("m", "to all");
      server.sendAllClientsRaw("raw to all");
      server.sendAllClients("end");
      const expected = {
        a: ["m:by name", "m:by info", "m:to red", "m:to all", "null:raw to all", "end:"],
        b: ["m:by ipstr", "null:raw to bob", "m:to red", "m:to all", "null:raw to all", "end:"],
        c: ["m:by pair", "null:hi", "null:raw to blue", "m:to all", "null:raw to all", "end:"],
      };
      for (const [key, peer] of Object.entries({ a, b, c })) {
        const list = expected[key as keyof typeof expected];
        assert.deepEqual(await peer.got.take(list.length, `what ${key} got`), list);
      }
      await Promise.all([a, b, c].map(({ got }) => got.expectNone(30, "nothing more")));
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "sends to a group in a loop keep every client's order with private sends, other groups and a regroup",
    scoped(async (scope) => {
      const { server, errors, a, b, c } = await threeClients(scope);
      const expected: Record<"a" | "b" | "c", string[]> = { a: [], b: [], c: [] };
      /** One loop of sends, no await: broadcasts to a group lengthen one run. */
      const burst = (round: number, red: ("a" | "b" | "c")[]) => {
        for (let i = 0; i < 300; i++) {
          server.sendGroup("red", "m", `${round} red ${i}`);
          for (const key of red) expected[key].push(`m:${round} red ${i}`);
          if (i % 50 === 7) {
            server.sendClient("bob", "m", `${round} bob ${i}`);
            expected.b.push(`m:${round} bob ${i}`);
          }
          if (i % 60 === 11) {
            server.sendAllClients("m", `${round} all ${i}`);
            for (const key of ["a", "b", "c"] as const) expected[key].push(`m:${round} all ${i}`);
          }
          if (i % 70 === 13 && !red.includes("c")) {
            server.sendGroup("blue", "m", `${round} blue ${i}`);
            expected.c.push(`m:${round} blue ${i}`);
          }
        }
      };
      burst(0, ["a", "b"]);
      await sleep(1);
      burst(1, ["a", "b"]);
      const moved = record<[ClientInfo, string | null, string | null]>(server, "group_change");
      c.client.changeGroup("red");
      await moved.next("carol's move to red");
      burst(2, ["a", "b", "c"]);
      for (const [key, peer] of Object.entries({ a, b, c })) {
        const list = expected[key as keyof typeof expected];
        assert.deepEqual(await peer.got.take(list.length, `what ${key} got`), list);
      }
      await Promise.all([a, b, c].map(({ got }) => got.expectNone(30, "nothing more")));
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "unknown clients and groups, and malformed references, are refused",
    scoped(async (scope) => {
      const { server, a, c } = await threeClients(scope);
      const port = a.client.addr[1];
      // The info of a client that has left names no one any more.
      const gone = server.getClient("carol");
      await c.client.close();
      await until(() => !server.getAllClients("name").includes("carol"), "carol left");
      const missing: unknown[] = ["nobody", `${HOST}:1`, [HOST, 1], ["10.0.0.1", port], gone];
      for (const ref of missing) {
        const label = JSON.stringify(ref);
        // deno-lint-ignore no-explicit-any
        const r = ref as any;
        assert.throws(() => server.sendClient(r, "m", "x"), ClientNotFound, `sendClient ${label}`);
        assert.throws(() => server.sendClientRaw(r, "x"), ClientNotFound, `sendClientRaw ${label}`);
        assert.throws(() => server.getClient(r), ClientNotFound, `getClient ${label}`);
        assert.throws(() => server.disconnectClient(r), ClientNotFound, `disconnect ${label}`);
        assert.throws(() => server.bufferedAmount(r), ClientNotFound, `bufferedAmount ${label}`);
        assert.throws(() => server.drain(r), ClientNotFound, `drain ${label}`);
      }
      assert.throws(
        () => server.sendClient("nobody", "m"),
        (error: unknown) => error instanceof ClientNotFound && error.client === "nobody",
      );
      for (const group of ["green", "RED", ""]) {
        assert.throws(() => server.sendGroup(group, "m", "x"), GroupNotFound, `sendGroup ${group}`);
        assert.throws(() => server.sendGroupRaw(group, "x"), GroupNotFound, `raw ${group}`);
        assert.throws(() => server.getGroup(group), GroupNotFound, `getGroup ${group}`);
      }
      assert.throws(
        () => server.getGroup("green"),
        (error: unknown) => error instanceof GroupNotFound && error.group === "green",
      );
      const malformed: unknown[] = [
        "",
        `${HOST}:70000`,
        [HOST],
        [HOST, port, 1],
        [HOST, "80"],
        [HOST, -1],
        [42, port],
        42,
        null,
        undefined,
        { name: "alice" },
      ];
      for (const ref of malformed) {
        const label = String(JSON.stringify(ref));
        // deno-lint-ignore no-explicit-any
        const r = ref as any;
        assert.throws(() => server.sendClient(r, "m", "x"), TypeError, `sendClient ${label}`);
        assert.throws(() => server.sendClientRaw(r, "x"), TypeError, `sendClientRaw ${label}`);
        assert.throws(() => server.getClient(r), TypeError, `getClient ${label}`);
      }
      // deno-lint-ignore no-explicit-any
      assert.throws(() => server.sendGroup(null as any, "m"), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => server.getGroup(7 as any), TypeError);
      // Nothing was sent by the refused calls.
      a.client.on("*", () => assert.fail("a refused send was delivered"));
      await sleep(30);
    }),
  );

  test(
    "getClient, getGroup and getAllClients in every form",
    scoped(async (scope) => {
      const { server, a, b, c } = await threeClients(scope);
      const anon = await join(scope, server, {});
      const alice = server.getClient("alice");
      assert.deepEqual(alice, {
        ip: [HOST, a.client.addr[1]],
        ipstr: `${HOST}:${a.client.addr[1]}`,
        name: "alice",
        group: "red",
      });
      assert.deepEqual(server.getClient(alice.ipstr), alice);
      assert.deepEqual(server.getClient([HOST, a.client.addr[1]]), alice);
      assert.deepEqual(server.getClient(alice), alice);
      assert.equal(server.getClient(anon.addr).name, null);

      assert.deepEqual(server.getGroup("red").map((info) => info.name), ["alice", "bob"]);
      assert.deepEqual(server.getGroup("blue").map((info) => info.ip[1]), [c.client.addr[1]]);

      const all = server.getAllClients();
      assert.deepEqual(all.map((info) => info.name), ["alice", "bob", "carol", null]);
      assert.deepEqual(server.getAllClients("ip"), [
        [HOST, a.client.addr[1]],
        [HOST, b.client.addr[1]],
        [HOST, c.client.addr[1]],
        [HOST, anon.addr[1]],
      ]);
      assert.deepEqual(server.getAllClients("name"), ["alice", "bob", "carol", null]);
      assert.deepEqual(server.getAllClients("group"), ["red", "red", "blue", null]);
      assert.deepEqual(
        server.getAllClients((info) => info.group === "red").map((info) => info.name),
        ["alice", "bob"],
      );
      assert.deepEqual(server.getAllClients(() => false), []);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => server.getAllClients("socket" as any), TypeError);

      await b.client.close();
      await until(() => server.getAllClients().length === 3, "bob's leave");
      assert.deepEqual(server.getAllClients("name"), ["alice", "carol", null]);
      assert.throws(() => server.getClient("bob"), ClientNotFound);
      assert.deepEqual(server.getGroup("red").map((info) => info.name), ["alice"]);
    }),
  );

  test(
    "bufferedAmount and drain; off removes one handler or all of them",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const client = await join(scope, server, { name: "sink" });
      const blobs = record<[Uint8Array]>(client, "blob");
      const payload = pattern(2 * 1024 * 1024, 3);
      // Its own join announcement waits a moment (PRESENCE_DELAY_MS), counted.
      await withTimeout(server.drain("sink"), WAIT_MS, "the announcement to leave");
      assert.equal(server.bufferedAmount("sink"), 0);
      server.sendClient("sink", "blob", payload);
      assert.ok(server.bufferedAmount("sink") >= payload.length, "queued bytes are counted");
      await withTimeout(server.drain("sink"), WAIT_MS, "drain");
      assert.equal(server.bufferedAmount("sink"), 0);
      assertSameBytes((await blobs.next("the blob"))[0], payload, "the drained blob");

      const calls: string[] = [];
      const one = () => calls.push("one");
      const two = () => calls.push("two");
      const stars = record<[ClientInfo, string | null, Uint8Array]>(server, "*");
      server.on("cmd", one).on("cmd", two);
      client.send("cmd");
      await until(() => calls.length === 2, "both handlers");
      server.off("cmd", one);
      client.send("cmd");
      await until(() => calls.length === 3, "the remaining handler");
      assert.deepEqual(calls, ["one", "two", "two"]);
      server.off("cmd");
      client.send("cmd");
      assert.equal((await stars.next("cmd now unhandled"))[1], "cmd");
      assert.deepEqual(calls, ["one", "two", "two"]);
      // off on an event, and chaining.
      const joins: string[] = [];
      const onJoin = (info: ClientInfo) => joins.push(info.name ?? "");
      assert.equal(server.on("join", onJoin).off("join", onJoin), server);
      await join(scope, server, { name: "late" });
      assert.deepEqual(joins, []);
      assert.equal(errors.size, 0);
    }),
  );
});

describe("server.run()", () => {
  test(
    "immediate dispatch: non-blocking returns at once; blocking waits for a handled event",
    scoped(async (scope) => {
      const quick = await serve(scope, { blocking: false });
      assert.equal(await withTimeout(quick.server.run(), 500, "non-blocking run"), 0);

      const { server } = await serve(scope);
      const handled: string[] = [];
      server.on("tick", "str", (_, value) => handled.push(value));
      const client = await join(scope, server, { name: "ticker" });
      let done = false;
      const running = server.run().then((count) => {
        done = true;
        return count;
      });
      await sleep(50);
      assert.equal(done, false, "blocking run waits while nothing happens");
      client.send("tick", "1");
      assert.equal(await withTimeout(running, WAIT_MS, "blocking run"), 0);
      assert.deepEqual(handled, ["1"], "the handler ran before run() resolved");
      const afterClose = server.run();
      await server.close();
      assert.equal(await withTimeout(afterClose, WAIT_MS, "run() ending at close"), 0);
      assert.equal(await withTimeout(server.run(), WAIT_MS, "run() after close"), 0);
    }),
  );

  test(
    "manual dispatch: events wait for run(), blocking and non-blocking",
    scoped(async (scope) => {
      for (const blocking of [false, true]) {
        const { server, errors } = await serve(scope, { dispatch: "manual", blocking });
        const seen: string[] = [];
        server.on("join", (info) => seen.push(`join:${info.name}`));
        server.on("tick", "int", (info, n) => seen.push(`${info.name}:${n}`));
        server.on("leave", (info) => seen.push(`leave:${info.name}`));
        if (!blocking) assert.equal(await withTimeout(server.run(), 500, "empty run"), 0);

        const client = await join(scope, server, { name: `m${blocking}` });
        client.send("tick", 1);
        client.send("tick", 2);
        client.send("tick", 3);
        await sleep(50);
        assert.equal(seen.length, 0, "nothing runs before run()");
        let ran = 0;
        const deadline = Date.now() + WAIT_MS;
        while (seen.length < 4 && Date.now() < deadline) {
          ran += await withTimeout(server.run(), WAIT_MS, "a manual run");
          if (!blocking) await sleep(5);
        }
        assert.equal(ran, 4);
        assert.deepEqual(seen, [
          `join:m${blocking}`,
          `m${blocking}:1`,
          `m${blocking}:2`,
          `m${blocking}:3`,
        ]);

        if (blocking) {
          // A blocking run waits for the next queued event, then runs it.
          let done = false;
          const running = server.run().then((count) => {
            done = true;
            return count;
          });
          await sleep(50);
          assert.equal(done, false);
          client.send("tick", 4);
          assert.equal(await withTimeout(running, WAIT_MS, "blocking manual run"), 1);
          assert.equal(seen.at(-1), `m${blocking}:4`);
        }
        await client.close();
        await until(() => server.getAllClients().length === 0, "the leave to be registered");
        assert.equal(
          seen.some((entry) => entry.startsWith("leave")),
          false,
          "leave waits for run() too",
        );
        assert.equal(await withTimeout(server.run(), WAIT_MS, "the leave run"), 1);
        assert.equal(seen.at(-1), `leave:m${blocking}`);
        assert.equal(errors.size, 0);
        await server.close();
      }
    }),
  );
});

describe("big, many and broken", () => {
  test(
    "a 64 MiB message arrives whole and byte-exact, both directions",
    scoped(async (scope) => {
      const size = 64 * 1024 * 1024;
      const limit = size + 1024;
      const { server, errors } = await serve(scope, { maxMessageSize: limit });
      const up = record<[ClientInfo, Uint8Array]>(server, "big");
      const client = await join(scope, server, { name: "bulk", maxMessageSize: limit });
      const down = record<[Uint8Array]>(client, "big");
      const toServer = pattern(size, 11);
      client.send("big", toServer);
      assertSameBytes((await up.next("64 MiB at the server", 30_000))[1], toServer, "up");
      const toClient = pattern(size, 12);
      server.sendClient("bulk", "big", toClient);
      assertSameBytes((await down.next("64 MiB at the client", 30_000))[0], toClient, "down");
      assert.equal(errors.size, 0);
    }, 45_000),
  );

  test(
    "10,000 messages arrive in order, both directions",
    scoped(async (scope) => {
      const count = 10_000;
      const { server, errors } = await serve(scope);
      const up: number[] = [];
      server.on("seq", "int", (_, n) => up.push(n));
      const client = await join(scope, server, { name: "seq" });
      const down: number[] = [];
      client.on("seq", "int", (n) => down.push(n));
      for (let i = 0; i < count; i++) client.send("seq", i);
      for (let i = 0; i < count; i++) server.sendClient("seq", "seq", i);
      await until(() => up.length === count && down.length === count, "10,000 each way", 20_000);
      const inOrder = (list: number[]) => list.every((n, i) => n === i);
      assert.ok(inOrder(up), "client to server in order");
      assert.ok(inOrder(down), "server to client in order");
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "a client vanishing mid-frame is dropped; two others carry on, message by message",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      server.on("echo", "str", (client, value) => server.sendClient(client, "echo", value));
      const a = await join(scope, server, { name: "a" });
      const b = await join(scope, server, { name: "b" });
      const aEcho = record<[string]>(a, "echo", "str");
      const bEcho = record<[string]>(b, "echo", "str");
      const ping = async (round: number) => {
        a.send("echo", `a${round}`);
        b.send("echo", `b${round}`);
        assert.deepEqual(await aEcho.next(`a's echo ${round}`), [`a${round}`]);
        assert.deepEqual(await bEcho.next(`b's echo ${round}`), [`b${round}`]);
      };
      for (let round = 0; round < 5; round++) await ping(round);

      const raw = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await raw.write(asciiFrame('$CLTHELLO${"name": "ghost", "group": "g"}'));
      await until(() => server.getAllClients("name").includes("ghost"), "the ghost's join");
      await ping(5);
      // Half a frame: a header announcing 100 bytes, and 10 of them.
      await raw.write(concat(bytesOf("100".padEnd(16, " ")), bytesOf("$CMD$echo$")));
      await ping(6);
      raw.socket.destroy();
      await withTimeout(raw.ended, WAIT_MS, "the raw socket to close");

      const [gone] = await leaves.next("the ghost's leave");
      assert.equal(gone.name, "ghost");
      const [error, who] = await errors.next("the mid-frame error");
      assert.ok(error instanceof ConnectionClosed, `got ${error}`);
      assert.equal(who?.name, "ghost");
      for (let round = 7; round < 12; round++) await ping(round);
      assert.deepEqual(server.getAllClients("name"), ["a", "b"]);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "a raw peer sending a malformed header is dropped with MalformedHeader; others unaffected",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      server.on("echo", "str", (client, value) => server.sendClient(client, "echo", value));
      const good = await join(scope, server, { name: "good" });
      const goodEcho = record<[string]>(good, "echo", "str");

      // After its hello.
      const raw = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await raw.write(asciiFrame('$CLTHELLO${"name": "evil", "group": null}'));
      await until(() => server.getAllClients("name").includes("evil"), "evil's join");
      good.send("echo", "before");
      assert.deepEqual(await goodEcho.next("echo before"), ["before"]);
      await raw.write("12x             $CMD$echo$MSG$x");
      await withTimeout(raw.ended, WAIT_MS, "evil to be dropped");
      const [error, who] = await errors.next("MalformedHeader");
      assert.ok(error instanceof MalformedHeader, `got ${error}`);
      assert.equal(error.code, "MALFORMED_HEADER");
      assert.equal(text(error.header), "12x             ");
      assert.equal(who?.name, "evil");
      assert.equal((await leaves.next("evil's leave"))[0].name, "evil");

      // Before any hello: the error has no client, and there is no leave.
      const early = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await early.write("+5              hello");
      await withTimeout(early.ended, WAIT_MS, "the early peer to be dropped");
      const [earlyError, earlyWho] = await errors.next("the early MalformedHeader");
      assert.ok(earlyError instanceof MalformedHeader, `got ${earlyError}`);
      assert.equal(earlyWho, null);

      good.send("echo", "after");
      assert.deepEqual(await goodEcho.next("echo after"), ["after"]);
      assert.deepEqual(server.getAllClients("name"), ["good"]);
      await leaves.expectNone(20, "no leave for a peer that never joined");
      assert.equal(errors.size, 0);
    }),
  );
});

describe("protocol violations", () => {
  test(
    "a connection that never says hello is dropped after helloTimeout",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { helloTimeout: 100 });
      const joins = record<[ClientInfo]>(server, "join");
      const silent = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await withTimeout(silent.ended, WAIT_MS, "the silent peer to be dropped");
      const [error, who] = await errors.next("the hello timeout");
      assert.ok(error instanceof ProtocolError, `got ${error}`);
      assert.match(error.message, /hello/);
      assert.equal(who, null);
      // A client that does say hello in time stays.
      const client = await join(scope, server, { name: "prompt" });
      await sleep(200);
      assert.equal(client.bufferedAmount, 0);
      assert.deepEqual(server.getAllClients("name"), ["prompt"]);
      assert.equal(joins.size, 1);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "every silent connection gets its whole helloTimeout, whenever it came",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope, { helloTimeout: 300 });
      const port = server.getAddr()[1];
      const lifetime = async (peer: RawPeer) => {
        const start = Date.now();
        await withTimeout(peer.ended, WAIT_MS, "a silent peer to be dropped");
        return Date.now() - start;
      };
      const first = scope.add(await RawPeer.connect(port));
      const firstLife = lifetime(first);
      await sleep(150);
      const second = scope.add(await RawPeer.connect(port));
      const secondLife = lifetime(second);
      // One that says hello meanwhile is not dropped with them.
      const client = await join(scope, server, { name: "prompt" });
      const [a, b] = await Promise.all([firstLife, secondLife]);
      // Timers may round a millisecond or two down; never a whole wait.
      assert.ok(a >= 290, `the first lived ${a} ms`);
      assert.ok(b >= 290, `the second lived ${b} ms, not cut short by the first's timer`);
      for (let i = 0; i < 2; i++) {
        const [error] = await errors.next("a hello timeout");
        assert.ok(error instanceof ProtocolError && /hello/.test(error.message), `got ${error}`);
      }
      await sleep(100);
      assert.deepEqual(server.getAllClients("name"), ["prompt"]);
      assert.equal(client.bufferedAmount, 0);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "a first frame that is not a hello, or a word only a server may send, drops the client",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      const noHello = scope.add(await RawPeer.connect(server.getAddr()[1]));
      await noHello.write(asciiFrame("$CMD$greet$MSG$hi"));
      await withTimeout(noHello.ended, WAIT_MS, "the peer without a hello to be dropped");
      const [first, firstWho] = await errors.next("the missing hello");
      assert.ok(first instanceof ProtocolError, `got ${first}`);
      assert.equal(firstWho, null);

      const bystander = await join(scope, server, { name: "bystander" });
      const seen = record<[ClientInfo]>(bystander, "client_connect");
      const impostor = await join(scope, server, { name: "impostor" });
      // The real announcements (held a moment) come first.
      assert.equal((await seen.next("bystander's own join"))[0].name, "bystander");
      assert.equal((await seen.next("the impostor's join"))[0].name, "impostor");
      impostor.rawSend("$CLTCONN$" + '{"ip": ["1.2.3.4", 5], "name": "fake", "group": null}');
      await withTimeout(impostor.closed, WAIT_MS, "the impostor to be dropped");
      const [second, secondWho] = await errors.next("the server-only word");
      assert.ok(second instanceof ProtocolError, `got ${second}`);
      assert.equal(secondWho?.name, "impostor");
      assert.equal((await leaves.next("the impostor's leave"))[0].name, "impostor");
      assert.equal(seen.size, 0, "the fake announcement was not relayed");
      assert.deepEqual(server.getAllClients("name"), ["bystander"]);
      assert.equal(errors.size, 0);
    }),
  );
});

describe("ending", () => {
  test(
    "disconnectClient: the client gets force_disconnect, the server leave, the others client_disconnect",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      const victim = await join(scope, server, { name: "victim", group: "g" });
      const other = await join(scope, server, { name: "other", group: "g" });
      const kicked = record<[]>(victim, "force_disconnect");
      const otherKicked = record<[]>(other, "force_disconnect");
      const gone = record<[ClientInfo]>(other, "client_disconnect");
      const notes = record<[string]>(victim, "note", "str");
      const info = server.getClient("victim");

      server.sendClient("victim", "note", "last words");
      const disconnecting = server.disconnectClient("victim");
      // Still known until its connection is closed, but nothing follows $DISCONN$.
      assert.equal(server.getClient("victim").name, "victim");
      server.sendClient("victim", "note", "too late");
      server.sendGroup("g", "note", "too late for the group");
      await withTimeout(disconnecting, WAIT_MS, "disconnectClient");
      assert.deepEqual(await notes.next("what was queued before the disconnect"), ["last words"]);
      await kicked.next("force_disconnect");
      await notes.expectNone(20, "nothing after force_disconnect");
      await withTimeout(victim.closed, WAIT_MS, "the victim to be closed");
      assert.deepEqual((await leaves.next("the victim's leave"))[0], info);
      assert.deepEqual((await gone.next("the other sees it"))[0], info);
      assert.throws(() => server.getClient("victim"), ClientNotFound);
      assert.deepEqual(server.getGroup("g").map((i) => i.name), ["other"]);
      assert.throws(() => victim.send("note", "x"), ConnectionClosed);
      assert.equal(otherKicked.size, 0);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "close(): queued sends are flushed, clients see force_disconnect, the port is released",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const port = server.getAddr()[1];
      const leaves = record<[ClientInfo]>(server, "leave");
      const clients = [
        await join(scope, server, { name: "c0", group: "g" }),
        await join(scope, server, { name: "c1", group: "g" }),
      ];
      const logs = clients.map((client) => {
        const log: string[] = [];
        client.on("n", "int", (n) => log.push(String(n)));
        client.on("force_disconnect", () => log.push("bye"));
        return log;
      });
      const count = 2000;
      for (let i = 0; i < count; i++) server.sendAllClients("n", i);
      server.sendClient("c1", "n", count);
      const closing = server.close();
      assert.equal(server.closed, true);
      // Nothing may be sent once close() is called; lookups still answer until the clients are gone.
      assert.throws(() => server.sendClient("c0", "n", -1), ConnectionClosed);
      assert.throws(() => server.sendClientRaw("c0", "x"), ConnectionClosed);
      assert.throws(() => server.sendAllClients("n", -1), ConnectionClosed);
      assert.throws(() => server.sendAllClientsRaw("x"), ConnectionClosed);
      assert.throws(() => server.sendGroup("g", "n", -1), ConnectionClosed);
      assert.throws(() => server.sendGroupRaw("g", "x"), ConnectionClosed);
      await withTimeout(closing, WAIT_MS, "server.close()");
      await withTimeout(Promise.all(clients.map((c) => c.closed)), WAIT_MS, "clients closed");
      const numbers = (n: number) => Array.from({ length: n }, (_, i) => String(i));
      assert.deepEqual(logs[0], [...numbers(count), "bye"]);
      assert.deepEqual(logs[1], [...numbers(count + 1), "bye"]);
      assert.deepEqual(
        leaves.all.map(([info]) => info.name).sort(),
        ["c0", "c1"],
      );

      // The port is free again.
      const again = scope.add(await startServer([HOST, port]));
      assert.equal(again.getAddr()[1], port);
      const next = await join(scope, again, { name: "next" });
      assert.equal(again.getClient("next").ip[1], next.addr[1]);
      assert.equal(errors.size, 0);
    }),
  );

  test(
    "client.close(): the server gets leave; a refused connection is ServerNotRunning",
    scoped(async (scope) => {
      const { server, errors } = await serve(scope);
      const leaves = record<[ClientInfo]>(server, "leave");
      const client = await join(scope, server, { name: "leaver" });
      const info = server.getClient("leaver");
      await withTimeout(client.close(), WAIT_MS, "client.close()");
      assert.deepEqual((await leaves.next("the leave"))[0], info);
      assert.deepEqual(server.getAllClients(), []);

      const port = server.getAddr()[1];
      await server.close();
      await assert.rejects(
        withTimeout(connect([HOST, port]), WAIT_MS, "connect to a closed port"),
        ServerNotRunning,
      );
      assert.equal(errors.size, 0);
    }),
  );
});

/**
 * The accept-queue limit of the socket listening on `port` on 127.0.0.1, as
 * `ss` reports it (Send-Q of a listening socket); `undefined` without `ss`.
 */
function listenQueueLimit(port: number): number | undefined {
  let out: string;
  try {
    out = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
  } catch {
    return undefined;
  }
  if (port === 0) return 0;
  const line = out.split("\n").find((l) => l.includes(`127.0.0.1:${port} `));
  assert.ok(line, `ss lists the listener on ${port}: ${out}`);
  return Number(line.trim().split(/\s+/)[2]);
}
