import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { v1 } from "./dialect_v1.ts";
import { makeClientInfo } from "./client_info.ts";
import { FrameDecoder, FrameWriter, Framing } from "./framing.ts";
import { ProtocolError, UnsupportedContent } from "./errors.ts";
import type { Sendable } from "./content.ts";
import { bytesOf as bytes, latin1, written } from "./test_util.ts";

describe("v1 writes what Python hisock 1.2 writes", () => {
  test("golden frames from wire-facts.md and the captures", () => {
    assert.equal(
      written((w) => v1.writeHello(w, "alice", "g1")),
      '43              $CLTHELLO$ {"name": "alice", "group": "g1"}',
    );
    assert.equal(
      written((w) => v1.writeJoin(w, makeClientInfo("127.0.0.1", 58008, "bob", null))),
      '68              $CLTCONN$ {"ip": ["127.0.0.1", 58008], "name": "bob", "group": null}',
    );
    assert.equal(
      written((w) => v1.writeCommand(w, "greet", "world")),
      "11              greet world",
    );
    assert.equal(written((w) => v1.writeRename(w, "bobby")), "14              $CHNAME$ bobby");
    assert.equal(written((w) => v1.writeRegroup(w, "g2")), "12              $CHGROUP$ g2");
    assert.equal(written((w) => v1.writeRename(w, null)), "8               $CHNAME$");
    assert.equal(written((w) => v1.writeGetClient(w, "bob")), "12              $GETCLT$ bob");
    assert.equal(written((w) => v1.writeClose(w)), "10              $USRCLOSE$");
    assert.equal(written((w) => v1.writeDisconnect(w)), "9               $DISCONN$");
    assert.equal(written((w) => v1.writeTlsRefusal!(w)), "7               $NOTLS$");
    assert.match(
      written((w) => v1.writeLeave(w, makeClientInfo("127.0.0.1", 1, "", ""))),
      /\$CLTDISCONN\$ \{"ip": \["127.0.0.1", 1\], "name": "", "group": ""\}$/,
    );
  });

  test("content: empty still has the separator, dicts are json.dumps", () => {
    assert.equal(
      written((w) => v1.writeCommand(w, "c_empty", new Uint8Array(0))).slice(16),
      "c_empty ",
    );
    assert.equal(written((w) => v1.writeCommand(w, "c_none", null)).slice(16), "c_none ");
    assert.equal(
      written((w) => v1.writeCommand(w, "c_dict", { a: 1, b: "x", n: null, t: true, f: 2.5 }))
        .slice(16),
      'c_dict {"a": 1, "b": "x", "n": null, "t": true, "f": 2.5}',
    );
    assert.equal(written((w) => v1.writeRaw(w, "raw hello")).slice(16), "raw hello");
  });

  test("a command with a space, or a Map, is refused and nothing is written", () => {
    const writer = new FrameWriter(new Framing());
    assert.throws(() => v1.writeCommand(writer, "two words", "x"), RangeError);
    assert.throws(
      () => v1.writeCommand(writer, "m", new Map([["a", 1]]) as unknown as Sendable),
      UnsupportedContent,
    );
    assert.equal(writer.length, 0);
  });
});

describe("v1 parses what Python hisock 1.2 sends", () => {
  test("hello with and without the space", () => {
    assert.deepEqual(
      v1.parseHello(bytes('$CLTHELLO$ {"name": "alice", "group": "g1"}')).name,
      "alice",
    );
    assert.equal(v1.parseHello(bytes('$CLTHELLO${"name": null, "group": "g"}')).group, "g");
  });

  test("commands match the whole first word, not a prefix", () => {
    const good = v1.parseServerBound(bytes("good two"));
    assert.equal(good.kind === "command" && good.command, "good");
    assert.equal(good.kind === "command" && latin1(good.content as Uint8Array), "two");
    const bare = v1.parseServerBound(bytes("ping"));
    assert.equal(bare.kind === "command" && bare.command, "ping");
    assert.equal(bare.kind === "command" && (bare.content as Uint8Array).length, 0);
    const empty = v1.parseServerBound(bytes("c_empty "));
    assert.equal(empty.kind === "command" && (empty.content as Uint8Array).length, 0);
    assert.equal(v1.cast(bytes("42"), "int", true), 42);
  });

  test("reserved words", () => {
    assert.deepEqual(v1.parseServerBound(bytes("$USRCLOSE$")), { kind: "close" });
    assert.deepEqual(v1.parseServerBound(bytes("$DH_NUMS$")), { kind: "tls_probe" });
    assert.deepEqual(v1.parseServerBound(bytes("$CHNAME$ alicia")), {
      kind: "rename",
      value: "alicia",
    });
    assert.deepEqual(v1.parseServerBound(bytes("$CHNAME$ ")), { kind: "rename", value: null });
    assert.deepEqual(v1.parseServerBound(bytes("$CHGROUP$")), { kind: "regroup", value: null });
    assert.deepEqual(v1.parseServerBound(bytes("$GETCLT$ bob")), {
      kind: "get_client",
      ref: "bob",
    });
    assert.throws(() => v1.parseServerBound(bytes("$CLTCONN$ {}")), ProtocolError);
  });

  test("presence, disconnect, lookups and the TLS stub answer", () => {
    const join = v1.parseClientBound(
      bytes('$CLTCONN$ {"ip": ["127.0.0.1", 58008], "name": "bob", "group": null}'),
    );
    assert.equal(join.kind === "join" && join.info.ipstr, "127.0.0.1:58008");
    assert.deepEqual(v1.parseClientBound(bytes("$DISCONN$")), { kind: "disconnect" });
    assert.equal(v1.parseClientBound(bytes("$NOTLS$")).kind, "raw");
    const reply = v1.parseClientBound(
      bytes('{"ip": ["127.0.0.1", 1], "name": "bob", "group": "g2"}'),
    );
    assert.equal(reply.kind, "raw");
    if (reply.kind !== "raw") return;
    assert.equal(v1.parseClientInfoReply!(reply.content)?.name, "bob");
    assert.equal(v1.parseClientInfoReply!(bytes('{"traceback": "$NOEXIST$"}')), null);
    // 1.2's malformed answer to an invalid address.
    assert.equal(
      v1.parseClientInfoReply!(bytes('{"traceback": "300.1.1.1:5 is not a valid IP address"')),
      null,
    );
    assert.equal(v1.parseClientInfoReply!(bytes("hello")), undefined);
    const command = v1.parseClientBound(bytes("raw reply"));
    assert.equal(command.kind === "command" && latin1(command.payload!), "raw reply");
  });

  test("the unframed rule reads 1.2's headerless $CHNAME$ between frames", () => {
    const got: string[] = [];
    const decoder = new FrameDecoder(
      new Framing(),
      (bytes, start, end) => got.push(latin1(bytes.subarray(start, end))),
      v1.unframedToServer,
    );
    decoder.push(bytes("1               x$CHNAME$$CHGROUP$3               abc"), true);
    assert.deepEqual(got, ["x", "$CHNAME$", "$CHGROUP$", "abc"]);
    assert.deepEqual(v1.parseServerBound(bytes(got[1])), { kind: "rename", value: null });
  });
});
