import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeTyped, encodeTyped, v3 } from "./dialect_v3.ts";
import { makeClientInfo } from "./client_info.ts";
import { isTuple, type Sendable, tuple } from "./content.ts";
import { FrameDecoder, FrameWriter, Framing } from "./framing.ts";
import { ProtocolError, TypeCastError, UnsupportedContent } from "./errors.ts";
import { bytesOf as bytes, latin1, written } from "./test_util.ts";

const fromLatin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** The tail after `$MSG$` for a value: 8-byte format length, format, data. */
function tail(value: Sendable): string {
  const frame = written((w) => v3.writeCommand(w, "x", value));
  return frame.slice(16 + "$CMD$x$MSG$".length);
}

/** Decodes a command payload's content as "json". */
function received(payloadLatin1: string): unknown {
  const message = v3.parseClientBound(fromLatin1(payloadLatin1));
  assert.equal(message.kind, "command");
  return message.kind === "command" ? v3.cast(message.content, "json", true) : undefined;
}

describe("v3 typed content: what Python 3.0a writes", () => {
  test("golden formats from wire-facts.md", () => {
    const cases: Array<[Sendable, string]> = [
      ["hi", "2s|hi"],
      [42, "2i|42"],
      [new Uint8Array([0, 255]), "2b|\x00\xff"],
      [[1, "a", bytes("b")], "l1i1s1b|1ab"],
      [[[1, 2], [3]], "l2[1i1i]1[1i]|123"],
      [{ k: [1, 2] }, "d1s2[1i1i]|k12"],
      [tuple(1, 2), "t1i1i|12"],
      [{ a: { b: 1 } }, "d1s2{1s1i}|ab1"],
      ["", "0s|"],
      [new Uint8Array(0), "0b|"],
      [2n ** 70n, "22i|1180591620717411303424"],
      [new Map([[1, "one"]]), "d1i3s|1one"],
      [[], "l|"],
      [{}, "d|"],
      [1.5, "4f|?\xc0\x00\x00"],
      [0.1, "4f|=\xcc\xcc\xcd"],
      [[1.5, 2], "l4f1i|?\xc0\x00\x002"],
      [[tuple(1, "x"), { y: bytes("z") }], "l2(1i1s)2{1s1b}|1xyz"],
      [-7, "2i|-7"],
      [0, "1i|0"],
    ];
    for (const [value, expected] of cases) {
      const [format, data] = encodeTyped(value);
      const joined = format + "|" + data.map(latin1).join("");
      assert.equal(joined, expected, expected);
    }
  });

  test("the whole command frame matches the captures", () => {
    assert.equal(
      written((w) => v3.writeCommand(w, "greet", "world")),
      "30              $CMD$greet$MSG$2       5sworld",
    );
    assert.equal(
      written((w) => v3.writeCommand(w, "nums", [1, "a", bytes("b")])),
      "32              $CMD$nums$MSG$7       l1i1s1b1ab",
    );
    assert.equal(
      written((w) => v3.writeCommand(w, "nums", null)),
      "22              $CMD$nums$MSG$0       ",
    );
    assert.equal(tail(undefined), "0       ");
  });

  test("empty nested containers are encoded (Python's encoder crashes; its decoder reads them)", () => {
    assert.equal(encodeTyped([[]])[0], "l0[]");
    assert.equal(encodeTyped({ k: {} })[0], "d1s0{}");
    assert.equal(encodeTyped([tuple(), [], 5])[0], "l0()0[]1i");
  });

  test("what v3 cannot carry is refused before anything is written", () => {
    const writer = new FrameWriter(new Framing());
    for (
      const bad of [
        true,
        [false],
        [null],
        [undefined],
        { a: null },
        Symbol("s"),
        () => 1,
        [new Date()],
        new Map([[[1], 2]]),
      ]
    ) {
      assert.throws(
        () => v3.writeCommand(writer, "bad", bad as unknown as Sendable),
        UnsupportedContent,
        String(bad),
      );
    }
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => v3.writeCommand(writer, "bad", cyclic as Sendable), UnsupportedContent);
    assert.equal(writer.length, 0);
  });
});

describe("v3 typed content: what we read", () => {
  test("every format of the v3_commands capture", () => {
    assert.equal(received("$CMD$c$MSG$3       11shello world"), "hello world");
    assert.equal(received("$CMD$c$MSG$2       0s"), "");
    assert.equal(received("$CMD$c$MSG$2       2i-7"), -7);
    assert.equal(received("$CMD$c$MSG$3       22i1180591620717411303424"), 2n ** 70n);
    assert.equal(received("$CMD$c$MSG$2       4f?\xc0\x00\x00"), 1.5);
    assert.equal(received("$CMD$c$MSG$2       4f=\xcc\xcc\xcd"), Math.fround(0.1));
    assert.deepEqual(received("$CMD$c$MSG$2       3b\x00\xff\x10"), new Uint8Array([0, 255, 16]));
    assert.equal(received("$CMD$c$MSG$0       "), null);
    assert.equal(received("$CMD$c$MSG$"), null);
    assert.equal(received("$CMD$c"), null);
    assert.deepEqual(received("$CMD$c$MSG$7       l1i1s1b1ab"), [1, "a", bytes("b")]);
    assert.deepEqual(received("$CMD$c$MSG$13      l2[1i1i]1[1i]123"), [[1, 2], [3]]);
    assert.deepEqual(received("$CMD$c$MSG$10      d1s2[1i1i]k12"), { k: [1, 2] });
    assert.deepEqual(received("$CMD$c$MSG$10      d1s2{1s1i}ab1"), { a: { b: 1 } });
    const pair = received("$CMD$c$MSG$5       t1i1i12");
    assert.ok(isTuple(pair));
    assert.deepEqual([...(pair as number[])], [1, 2]);
    const mixed = received("$CMD$c$MSG$15      l2(1i1s)2{1s1b}1xyz") as unknown[];
    assert.ok(isTuple(mixed[0]));
    assert.deepEqual(mixed[1], { y: bytes("z") });
    assert.deepEqual(received("$CMD$c$MSG$1       l"), []);
    assert.deepEqual(received("$CMD$c$MSG$1       d"), {});
    assert.deepEqual(received("$CMD$c$MSG$5       d1i3s1one"), new Map([[1, "one"]]));
    assert.deepEqual(received("$CMD$c$MSG$5       l4f1i?\xc0\x00\x002"), [1.5, 2]);
  });

  test("round trips, including empty nested containers and awkward keys", () => {
    const values: Sendable[] = [
      [[], {}, tuple()],
      JSON.parse('{"__proto__": 1, "": ""}'),
      new Map<Sendable, Sendable>([[tuple(1, 2), "pair"], [bytes("k"), 3]]),
      Number.MAX_SAFE_INTEGER,
      -(2n ** 64n),
      1e21,
      "zoë ✓",
      [Infinity, -Infinity],
    ];
    for (const value of values) {
      const encoded = fromLatin1(tail(value));
      const decoded = decodeTyped(encoded, true);
      if (typeof value === "number" && value >= 1e21) {
        assert.equal(decoded, BigInt(value));
      } else assert.deepEqual(decoded, value);
    }
    const proto = decodeTyped(fromLatin1(tail(JSON.parse('{"__proto__": 1}'))), true) as object;
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(Object.keys(proto), ["__proto__"]);
  });

  test("malformed content is a cast error, not a broken connection", () => {
    for (
      const bad of [
        "$CMD$c$MSG$3",
        "$CMD$c$MSG$9       2i42",
        "$CMD$c$MSG$2       2x42",
        "$CMD$c$MSG$2       5s42",
        "$CMD$c$MSG$2       2i4x",
        "$CMD$c$MSG$5       l2[1i",
        "$CMD$c$MSG$2       3f123",
        "$CMD$c$MSG$3       d1s",
        "$CMD$c$MSG$2       2s\xff\xfe",
      ]
    ) {
      const message = v3.parseServerBound(fromLatin1(bad));
      assert.equal(message.kind, "command");
      if (message.kind !== "command") continue;
      assert.throws(() => v3.cast(message.content, "json", true), TypeCastError, bad);
    }
  });

  test("casts to declared types", () => {
    const content = (value: Sendable) => {
      const message = v3.parseServerBound(fromLatin1("$CMD$c$MSG$" + tail(value)));
      return message.kind === "command" ? message.content : undefined;
    };
    assert.equal(v3.cast(content("42"), "int", true), 42);
    assert.equal(v3.cast(content(42), "str", true), "42");
    assert.deepEqual(v3.cast(content(42), "bytes", true), bytes("42"));
    assert.equal(v3.cast(content(2n ** 70n), "bigint", true), 2n ** 70n);
    assert.throws(() => v3.cast(content(2n ** 70n), "int", true), TypeCastError);
    assert.equal(v3.cast(content(1.5), "float", true), 1.5);
    assert.equal(v3.cast(content(0), "bool", true), false);
    assert.equal(v3.cast(content(bytes("hi")), "str", true), "hi");
    assert.equal(v3.cast(content(null), "int", true), 0);
    assert.deepEqual(v3.cast(content(null), "bytes", true), new Uint8Array(0));
    assert.throws(() => v3.cast(content([1]), "bytes", true), TypeCastError);
    // Not owned: bytes are copied out of the payload.
    const payload = fromLatin1("$CMD$c$MSG$" + tail(bytes("ab")));
    const message = v3.parseServerBound(payload);
    const copy = message.kind === "command" && v3.cast(message.content, "bytes", false);
    payload.fill(0);
    assert.deepEqual(copy, bytes("ab"));
  });
});

describe("v3 protocol words", () => {
  test("hello and presence with ipstr", () => {
    assert.equal(
      written((w) => v3.writeHello(w, "alice", "g1")),
      '42              $CLTHELLO${"name": "alice", "group": "g1"}',
    );
    assert.equal(
      written((w) => v3.writeJoin(w, makeClientInfo("127.0.0.1", 34208, "alice", "g1"))),
      '97              $CLTCONN${"ip": ["127.0.0.1", 34208], "name": "alice", "group": "g1", "ipstr": "127.0.0.1:34208"}',
    );
    assert.equal(written((w) => v3.writeRename(w, "bobby")), "13              $CHNAME$bobby");
    assert.equal(written((w) => v3.writeClose(w)), "10              $USRCLOSE$");
  });

  test("raw payloads are commands named after the whole payload", () => {
    const message = v3.parseServerBound(bytes("raw hello"));
    assert.equal(message.kind === "command" && message.command, "raw hello");
    assert.equal(message.kind === "command" && v3.cast(message.content, "json", true), null);
    assert.equal(v3.parseServerBound(new Uint8Array([0xff])).kind, "raw");
    assert.equal(written((w) => v3.writeRaw(w, "raw reply")), "9               raw reply");
  });

  test("renames keep on empty; server words from a client are refused", () => {
    assert.deepEqual(v3.parseServerBound(bytes("$CHNAME$")), { kind: "rename", value: undefined });
    assert.deepEqual(v3.parseServerBound(bytes("$CHGROUP$g2")), { kind: "regroup", value: "g2" });
    assert.throws(() => v3.parseServerBound(bytes("$KEEPALIVE$")), ProtocolError);
  });

  test("a client reads 3.0a's headerless keepalive, disconnect and lookup answer", () => {
    const got: string[] = [];
    const decoder = new FrameDecoder(
      new Framing(),
      (bytes, start, end) => got.push(latin1(bytes.subarray(start, end))),
      v3.unframedToClient,
    );
    decoder.push(
      bytes(
        '$KEEPALIVE${"ip": ["127.0.0.1", 5], "name": "bob", "group": "g2", "ipstr": "127.0.0.1:5"}' +
          '{"traceback": "$NOEXIST$"}$DISCONN$',
      ),
      true,
    );
    assert.equal(got.length, 4);
    assert.deepEqual(v3.parseClientBound(bytes(got[0])), { kind: "keepalive" });
    const info = v3.parseClientBound(bytes(got[1]));
    assert.equal(info.kind === "client_info" && info.info?.name, "bob");
    assert.deepEqual(v3.parseClientBound(bytes(got[2])), { kind: "client_info", info: null });
    assert.deepEqual(v3.parseClientBound(bytes(got[3])), { kind: "disconnect" });
  });
});
