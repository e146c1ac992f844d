/**
 * Replays of real Python hisock traffic (testdata/captures) against our peers,
 * without Python:
 *
 * 1. codec: every captured frame is parsed by our dialect and written again
 *    by our codec; the bytes must be identical (where the Python peer was
 *    not buggy: see KNOWN below).
 * 2. server: the Python client's byte stream goes into OUR server over a real
 *    socket; our handlers must see what the Python server's handlers saw.
 * 3. client: the Python server's byte stream goes into OUR client; our
 *    handlers must see what the Python client's handlers saw.
 *
 * Where we deliberately differ from a Python bug, the difference is listed
 * and asserted, not skipped silently.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { type ClientInfo, makeClientInfo } from "./client_info.ts";
import type { Dialect } from "./dialect.ts";
import { resolveDialect } from "./dialects.ts";
import { FrameWriter, Framing } from "./framing.ts";
import { connect, type HiSockClient } from "./client.ts";
import { startServer } from "./server.ts";
import { latin1, RawPeer, RawServer, sleep } from "./test_util.ts";
import { type Canon, canonJs, canonOurs, canonPy, type PyEvent } from "./interop/canon.ts";

// ---------------------------------------------------------------------------
// Loading captures

interface Frame {
  conn: number;
  dir: "c2s" | "s2c";
  seq: number;
  header: string | null;
  payload_b64: string;
  unframed?: boolean;
  truncated?: boolean;
  garbage?: boolean;
}

interface Capture {
  file: string;
  dialect: "v1" | "v2" | "v3";
  scenario: string;
  connections: Array<
    { conn: number; client_addr: [string, number]; upstream_local_addr: [string, number] }
  >;
  chunks: Array<{ seq: number; conn: number; dir: "c2s" | "s2c"; data: string }>;
  frames: Frame[];
  python_output: { server: PyEvent[]; client: PyEvent[] };
}

const DIR = new URL("./testdata/captures/", import.meta.url);
const CAPTURES: Capture[] = readdirSync(DIR)
  .filter((name) => name.endsWith(".json"))
  .sort()
  .map((name) => ({ file: name, ...JSON.parse(readFileSync(new URL(name, DIR), "utf8")) }));

const b64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------
// Where we differ from Python on purpose (README item numbers in brackets)

/** Python events our peers do not reproduce, because they are Python bugs. */
function pythonBug(capture: Capture, role: "server" | "client", event: PyEvent): string | null {
  const { dialect } = capture;
  if (
    dialect === "v1" && event.command === "go" && event.value?.v === "d two"
  ) return "1.x prefix dispatch: `good two` fired `go` [15]";
  if (
    role === "server" && dialect !== "v1" && event.event === "wildcard" && event.command === "raw"
  ) return "lstrip bug: `Draw` arrived as `raw` [17]";
  if (
    role === "server" && dialect === "v1" && event.event === "wildcard" &&
    atob(event.value?.b64 ?? "").startsWith("$")
  ) return "1.2 hands reserved payloads to `message` [22]";
  if (
    (event.event === "name_change" || event.event === "group_change") && event.old === event.new
  ) return "v2/v3 fire a change for an empty value that keeps the old one [21]";
  if (
    role === "client" && capture.scenario === "getclient" && event.event === "wildcard" &&
    event.command === null
  ) return "2.0.2's lookup answer goes to `*`; ours answers getClient() [23]";
  return null;
}

// ---------------------------------------------------------------------------
// 1. Codec: parse every captured frame, write it again, compare bytes

/** What our codec writes for a parsed message, or null when it has no writer for it. */
function rewrite(
  dialect: Dialect,
  frame: Frame,
  payload: Uint8Array,
  first: boolean,
): { frame: Uint8Array; note?: string } | null {
  const writer = new FrameWriter(new Framing());
  if (frame.dir === "c2s") {
    if (first) {
      const hello = dialect.parseHello(payload);
      const { name: _n, group: _g, ...extra } = hello.fields;
      dialect.writeHello(writer, hello.name, hello.group, extra);
      return { frame: writer.take() };
    }
    const message = dialect.parseServerBound(payload);
    switch (message.kind) {
      case "command":
        writeCommandLike(dialect, writer, message.command, message.content, payload);
        break;
      case "raw":
        dialect.writeRaw(writer, message.content as Uint8Array);
        break;
      case "rename":
      case "regroup": {
        // v1 reads `$CHNAME$ ` (empty) as a reset and writes a reset as the bare word [20].
        if (message.value === null && dialect.name === "v1" && latin1(payload).endsWith(" ")) {
          return null;
        }
        const write = message.kind === "rename" ? dialect.writeRename : dialect.writeRegroup;
        write(writer, message.value ?? null);
        break;
      }
      case "get_client":
        dialect.writeGetClient(writer, message.ref);
        break;
      case "close":
        dialect.writeClose(writer);
        break;
      case "keepalive_ack":
        dialect.writeKeepaliveAck(writer);
        break;
      case "tls_probe":
        return null; // our client has no TLS stub to send
    }
    return { frame: writer.take() };
  }
  const message = dialect.parseClientBound(payload);
  switch (message.kind) {
    case "command":
      writeCommandLike(dialect, writer, message.command, message.content, payload);
      break;
    case "raw": {
      const reply = dialect.parseClientInfoReply?.(message.content);
      if (reply !== undefined && payload[0] === 0x7b) {
        if (reply === null && !latin1(payload).includes("$NOEXIST$")) {
          return null; // a traceback other than $NOEXIST$: we answer $NOEXIST$ [22, 23]
        }
        dialect.writeClientInfo(writer, reply);
      } else if (latin1(payload) === "$NOTLS$") dialect.writeTlsRefusal!(writer);
      else dialect.writeRaw(writer, message.content as Uint8Array);
      break;
    }
    case "join":
      dialect.writeJoin(writer, message.info);
      break;
    case "leave":
      dialect.writeLeave(writer, message.info);
      break;
    case "client_info":
      dialect.writeClientInfo(writer, message.info);
      break;
    case "keepalive":
      dialect.writeKeepalive(writer);
      break;
    case "disconnect":
      dialect.writeDisconnect(writer);
      break;
  }
  return { frame: writer.take() };
}

/** A v1 payload without a space is a bare command: there is nothing to split and write again. */
function writeCommandLike(
  dialect: Dialect,
  writer: FrameWriter,
  command: string,
  content: unknown,
  payload: Uint8Array,
): void {
  if (dialect.name === "v1" && !payload.includes(0x20)) writer.frame(payload);
  else if (dialect.name === "v3" && !latin1(payload).startsWith("$CMD$")) {
    dialect.writeRaw(writer, command); // 3.0a reads a raw payload as a command named after it
  } else dialect.writeCommand(writer, command, contentOf(dialect, content));
}

/** v3 content decoded, for writing again; v1/v2 content is bytes already. */
function contentOf(dialect: Dialect, content: unknown): never {
  return (dialect.name === "v3" ? dialect.cast(content, "json", true) : content) as never;
}

describe("captures: our codec writes Python's frames byte for byte", () => {
  for (const capture of CAPTURES) {
    test(capture.file, () => {
      const dialect = resolveDialect(capture.dialect);
      const seen = new Set<number>();
      let compared = 0;
      for (const frame of capture.frames) {
        if (frame.truncated || frame.garbage) continue;
        const payload = b64(frame.payload_b64);
        const first = frame.dir === "c2s" && !seen.has(frame.conn);
        if (frame.dir === "c2s") seen.add(frame.conn);
        const label = `${capture.file} conn ${frame.conn} ${frame.dir} ${
          JSON.stringify(latin1(payload))
        }`;
        const ours = rewrite(dialect, frame, payload, first);
        if (ours === null) continue;
        const expected = frame.header === null ? payload : new Uint8Array([
          ...utf8.encode(frame.header),
          ...payload,
        ]);
        // 3.0a writes some frames without a header [3]; we always write one.
        const actual = frame.header === null ? ours.frame.subarray(16) : ours.frame;
        assert.equal(latin1(actual), latin1(expected), label);
        compared++;
      }
      assert.ok(compared > 0);
    });
  }
});

// ---------------------------------------------------------------------------
// 2. Server: the Python client's stream into our server

interface Seen {
  conn: number;
  event: string;
  command?: string | null;
  value?: Canon;
  content?: unknown;
  info?: ClientInfo;
  old?: string | null;
  new?: string | null;
}

describe("captures: the Python client's bytes into our server", () => {
  for (const capture of CAPTURES) {
    test(capture.file, async () => {
      const dialect = resolveDialect(capture.dialect);
      const server = await startServer(["127.0.0.1", 0], { dialect: capture.dialect });
      const peers = new Map<number, RawPeer>();
      const portToConn = new Map<number, number>();
      const seen: Seen[] = [];
      const connOf = (info: ClientInfo) => portToConn.get(info.ip[1]) ?? -1;
      server.on("join", (info) => seen.push({ conn: connOf(info), event: "join", info }));
      server.on("leave", (info) => seen.push({ conn: connOf(info), event: "leave", info }));
      server.on("name_change", (info, old, now) => {
        seen.push({ conn: connOf(info), event: "name_change", old, new: now });
      });
      server.on("group_change", (info, old, now) => {
        seen.push({ conn: connOf(info), event: "group_change", old, new: now });
      });
      server.on("error", () => {});
      server.on("*", capture.dialect === "v3" ? "json" : "bytes", (info, command, content) => {
        seen.push({ conn: connOf(info), event: "command", command, content });
      });
      // The scenario's server actions, as the Python server did them.
      const type = capture.dialect === "v3" ? "json" : "bytes";
      server.on("kick_me", type, (info, content) => {
        seen.push({ conn: connOf(info), event: "command", command: "kick_me", content });
        void server.disconnectClient(info);
      });
      server.on("close_server", type, (info, content) => {
        seen.push({ conn: connOf(info), event: "command", command: "close_server", content });
        void server.close();
      });
      try {
        const [, port] = server.getAddr();
        for (const chunk of capture.chunks) {
          if (chunk.dir !== "c2s") continue;
          let peer = peers.get(chunk.conn);
          if (peer === undefined) {
            peer = await RawPeer.connect(port);
            peers.set(chunk.conn, peer);
            portToConn.set(peer.addr[1], chunk.conn);
          }
          if (!peer.isEnded) await peer.write(b64(chunk.data)).catch(() => {});
          await sleep(15);
        }
        await sleep(100);
        compareServer(capture, dialect, seen, peers);
      } finally {
        for (const peer of peers.values()) await peer.close();
        await server.close();
      }
    });
  }
});

function compareServer(
  capture: Capture,
  dialect: Dialect,
  seen: Seen[],
  peers: Map<number, RawPeer>,
): void {
  const connOfPort = new Map(capture.connections.map((c) => [c.upstream_local_addr[1], c.conn]));
  const pyConn = (event: PyEvent) => connOfPort.get((event.info ?? event.client)?.ip?.[1]) ?? -1;
  const py = capture.python_output.server;
  // Joins, in order, with the names and groups the hellos gave.
  const names = (list: Array<{ name: string | null; group: string | null }>) =>
    list.map(({ name, group }) => `${name}/${group}`);
  assert.deepEqual(
    names(seen.filter((e) => e.event === "join").map((e) => e.info!)),
    names(py.filter((e) => e.event === "join").map((e) => e.info)),
    "joins",
  );
  // Every leave Python saw, we saw (we also fire `leave` on disconnectClient [12]).
  const ourLeaves = seen.filter((e) => e.event === "leave").map((e) => e.conn);
  for (const event of py.filter((e) => e.event === "leave")) {
    assert.ok(ourLeaves.includes(pyConn(event)), `leave of conn ${pyConn(event)}`);
  }
  // Commands and changes: what the Python handlers saw, per connection, in order.
  const relevant = py.filter((e) =>
    ["command", "wildcard", "name_change", "group_change"].includes(e.event) &&
    !pythonBug(capture, "server", e)
  );
  assert.ok(relevant.every((e) => pyConn(e) !== -1), "every Python event maps to a connection");
  for (const conn of capture.connections.map((c) => c.conn)) {
    const expected = py
      .filter((e) => pyConn(e) === conn && !pythonBug(capture, "server", e))
      .filter((e) => ["command", "wildcard", "name_change", "group_change"].includes(e.event));
    const ours = seen.filter((e) => e.conn === conn && e.event !== "join" && e.event !== "leave");
    let at = 0;
    for (const event of expected) {
      const label = `${capture.file} conn ${conn}: ${JSON.stringify(event).slice(0, 160)}`;
      const match = ours.slice(at).findIndex((mine) =>
        sameServerEvent(capture, dialect, event, mine)
      );
      assert.notEqual(match, -1, `${label}\nours: ${describeSeen(dialect, ours)}`);
      at += match + 1;
    }
  }
  // Deliberate differences, asserted.
  const scenario = capture.scenario;
  if (scenario === "commands") {
    const draw = seen.find((e) => e.command === "Draw");
    if (capture.dialect !== "v1") assert.ok(draw, "Draw arrives as Draw, not raw [17]");
    if (capture.dialect === "v1") {
      const good = seen.find((e) => e.command === "good");
      assert.equal(good && latin1(good.content as Uint8Array), "two", "no prefix match [15]");
    }
  }
  if (scenario === "rename_reset" && capture.dialect === "v1") {
    // 1.2's bare $CHNAME$ killed the 1.2 server; ours reads it as a reset [3].
    const resets = seen.filter((e) => e.event.endsWith("_change") && e.new === null);
    assert.equal(resets.length, 2, "bare $CHNAME$ and $CHGROUP$ reset to null");
  }
  if (scenario === "tls_stub") {
    assert.ok(latin1(peers.get(0)!.received).includes("7" + " ".repeat(15) + "$NOTLS$"), "[27]");
  }
  if (scenario === "getclient") {
    const answers = latin1(peers.get(0)!.received);
    assert.match(answers, /"name": "bob", "group": "g2"/, "bob found");
    assert.ok((answers.match(/\$NOEXIST\$/g) ?? []).length >= 2, "nobody and the bad address");
  }
}

function sameServerEvent(capture: Capture, dialect: Dialect, py: PyEvent, mine: Seen): boolean {
  if (py.event === "name_change" || py.event === "group_change") {
    if (mine.event !== py.event || mine.old !== py.old) return false;
    // v1: an empty value resets to null; 1.2 stored "" [20].
    return mine.new === py.new || (capture.dialect === "v1" && py.new === "" && mine.new === null);
  }
  if (mine.event !== "command") return false;
  const like = canonPy(py.value, capture.dialect);
  if (capture.dialect === "v1" && py.event === "wildcard") {
    // 1.2's `message` handler gets the whole payload; we split it at the first space.
    const whole = latin1(utf8.encode(mine.command ?? "")) + " " +
      latin1(mine.content as Uint8Array);
    return whole === atob(py.value.b64) || mine.command === atob(py.value.b64);
  }
  if (mine.command !== py.command) return false;
  try {
    return JSON.stringify(canonOurs(dialect, mine.content, like)) === JSON.stringify(like);
  } catch {
    return false;
  }
}

function describeSeen(dialect: Dialect, seen: Seen[]): string {
  return JSON.stringify(
    seen.map((e) => ({
      ...e,
      content: e.content instanceof Uint8Array ? latin1(e.content) : canonJs(e.content),
      info: undefined,
    })),
    (_, v) => typeof v === "bigint" ? v.toString() : v,
  ).slice(0, 1500) + ` (${dialect.name})`;
}

// ---------------------------------------------------------------------------
// 3. Client: the Python server's stream into our client

describe("captures: the Python server's bytes into our client", () => {
  for (const capture of CAPTURES) {
    test(capture.file, async () => {
      const dialect = resolveDialect(capture.dialect);
      const fake = await RawServer.listen();
      const clients: HiSockClient[] = [];
      const accepted: RawPeer[] = [];
      const seen: Seen[] = [];
      const lookups: Array<Promise<string | null>> = [];
      try {
        // One client per captured connection, named as its hello said.
        for (const connection of capture.connections) {
          const conn = connection.conn;
          const helloFrame = capture.frames.find((f) => f.conn === conn && f.dir === "c2s")!;
          const hello = dialect.parseHello(b64(helloFrame.payload_b64));
          const client = await connect(["127.0.0.1", fake.port], {
            dialect: capture.dialect,
            name: hello.name,
            group: hello.group,
          });
          clients.push(client);
          accepted.push(await fake.peers.next(`the fake server to accept conn ${conn}`));
          const push = (entry: Omit<Seen, "conn">) => seen.push({ conn, ...entry });
          client.on("client_connect", (info) => push({ event: "client_connect", info }));
          client.on("client_disconnect", (info) => push({ event: "client_disconnect", info }));
          client.on("force_disconnect", () => push({ event: "force_disconnect" }));
          client.on("error", () => {});
          client.on("*", capture.dialect === "v3" ? "json" : "bytes", (command, content) => {
            push({ event: "command", command, content });
          });
        }
        if (capture.scenario === "getclient") {
          for (const ref of ["bob", "nobody", "127.0.0.1:1", "300.1.1.1:5"]) {
            lookups.push(
              clients[0].getClient(ref).then((info) => info.name, () => null),
            );
          }
        }
        for (const chunk of capture.chunks) {
          if (chunk.dir !== "s2c") continue;
          const peer = accepted[chunk.conn];
          if (!peer.isEnded) await peer.write(b64(chunk.data)).catch(() => {});
          await sleep(10);
        }
        await sleep(100);
        compareClient(capture, dialect, seen, accepted);
        if (capture.scenario === "getclient") {
          const answers = await Promise.all(lookups);
          // 2.0.2 never finds anyone [23]; 1.2 and 3.0a answer [22, 24].
          const expected = capture.dialect === "v2"
            ? [null, null, null, null]
            : ["bob", null, "bob", null];
          assert.deepEqual(answers, expected, "getClient answers");
        }
      } finally {
        await Promise.all(clients.map((client) => client.close()));
        await fake.close();
      }
    });
  }
});

function compareClient(
  capture: Capture,
  dialect: Dialect,
  seen: Seen[],
  accepted: RawPeer[],
): void {
  const connOfLocal = new Map(capture.connections.map((c) => [c.client_addr[1], c.conn]));
  const labelConn = new Map<string, number>();
  for (const event of capture.python_output.client) {
    if (event.event === "connected") labelConn.set(event.client, connOfLocal.get(event.local[1])!);
  }
  assert.ok(labelConn.size > 0 && [...labelConn.values()].every((c) => c !== undefined));
  for (const [label, conn] of labelConn) {
    const expected = capture.python_output.client
      .filter((e) => e.client === label && !pythonBug(capture, "client", e))
      .filter((e) =>
        ["client_connect", "client_disconnect", "command", "wildcard", "raw", "force_disconnect"]
          .includes(e.event)
      );
    const ours = seen.filter((e) => e.conn === conn);
    let at = 0;
    for (const event of expected) {
      const text = `${capture.file} ${label}: ${JSON.stringify(event).slice(0, 160)}`;
      const match = ours.slice(at).findIndex((mine) =>
        sameClientEvent(capture, dialect, event, mine)
      );
      assert.notEqual(match, -1, `${text}\nours: ${describeSeen(dialect, ours)}`);
      at += match + 1;
    }
  }
  // Our client ends where the server says so, even when 3.0a's own does not [13].
  for (const connection of capture.connections) {
    const disconn = capture.frames.some((f) =>
      f.conn === connection.conn && f.dir === "s2c" && atob(f.payload_b64) === "$DISCONN$"
    );
    const quit = capture.frames.some((f) =>
      f.conn === connection.conn && f.dir === "c2s" && atob(f.payload_b64) === "$USRCLOSE$" &&
      f.seq <
        (capture.frames.find((g) =>
          g.conn === connection.conn && g.dir === "s2c" && atob(g.payload_b64) === "$DISCONN$"
        )?.seq ?? 0)
    );
    if (disconn && !quit && capture.scenario !== "rename_reset") {
      assert.ok(
        seen.some((e) => e.conn === connection.conn && e.event === "force_disconnect"),
        `${capture.file}: force_disconnect on conn ${connection.conn}`,
      );
    }
  }
  // Keepalive: we answer with a framed $KEEPACK$ [25, 26].
  if (capture.scenario === "keepalive") {
    assert.ok(latin1(accepted[0].received).includes("9" + " ".repeat(15) + "$KEEPACK$"));
  }
}

function sameClientEvent(capture: Capture, dialect: Dialect, py: PyEvent, mine: Seen): boolean {
  if (py.event === "client_connect" || py.event === "client_disconnect") {
    if (mine.event !== py.event) return false;
    const info = makeClientInfo(py.info.ip[0], py.info.ip[1], py.info.name, py.info.group);
    return JSON.stringify(mine.info) === JSON.stringify(info);
  }
  if (py.event === "force_disconnect") return mine.event === "force_disconnect";
  if (mine.event !== "command") return false;
  if (py.event === "raw") {
    // 1.2's recv_raw() gets the whole payload; our `*` gets it split at the first space.
    const whole = (mine.command ?? "") + " " + latin1(mine.content as Uint8Array);
    return whole === atob(py.value.b64);
  }
  if (mine.command !== py.command) return false;
  const like = canonPy(py.value, capture.dialect);
  try {
    return JSON.stringify(canonOurs(dialect, mine.content, like)) === JSON.stringify(like);
  } catch {
    return false;
  }
}
