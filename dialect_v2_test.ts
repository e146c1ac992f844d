import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { v2 } from "./dialect_v2.ts";
import { makeClientInfo } from "./client_info.ts";
import { FrameWriter, Framing } from "./framing.ts";
import { ProtocolError, TypeCastError, UnsupportedContent } from "./errors.ts";
import { contentBytes, type Sendable } from "./content.ts";
import { CommandReading } from "./dialect.ts";
import { bytesOf as bytes, latin1, written } from "./test_util.ts";

describe("v2 writes what Python hisock 2.0.2 writes", () => {
  test("golden frames from wire-facts.md", () => {
    assert.equal(
      written((w) => v2.writeCommand(w, "greet", "world")),
      "20              $CMD$greet$MSG$world",
    );
    assert.equal(
      written((w) => v2.writeCommand(w, "reply", { a: [1, 2] })),
      '28              $CMD$reply$MSG${"a": [1, 2]}',
    );
    assert.equal(written((w) => v2.writeDisconnect(w)), "9               $DISCONN$");
  });

  test("hello and presence in json.dumps style", () => {
    assert.equal(
      written((w) => v2.writeHello(w, "alice", "g1")),
      '42              $CLTHELLO${"name": "alice", "group": "g1"}',
    );
    const info = makeClientInfo("127.0.0.1", 34208, "alice", "g1");
    assert.equal(
      written((w) => v2.writeJoin(w, info)),
      '69              $CLTCONN${"ip": ["127.0.0.1", 34208], "name": "alice", "group": "g1"}',
    );
    assert.equal(
      written((w) => v2.writeLeave(w, makeClientInfo("127.0.0.1", 1, null, null))),
      '65              $CLTDISCONN${"ip": ["127.0.0.1", 1], "name": null, "group": null}',
    );
    // Non-ASCII is escaped as Python's ensure_ascii does.
    assert.match(written((w) => v2.writeHello(w, "zoë", null)), /"name": "zo\\u00eb"/);
    // Extra hello keys (a token) follow name and group.
    assert.match(
      written((w) => v2.writeHello(w, "a", null, { token: "t" })),
      /\{"name": "a", "group": null, "token": "t"\}$/,
    );
  });

  test("content is spelled as Python's type cast to bytes spells it", () => {
    const cases: Array<[Sendable, string]> = [
      [new Uint8Array([0, 255]), "\x00\xff"],
      ["héllo", "h\xc3\xa9llo"],
      [42, "42"],
      [-1.5, "-1.5"],
      [12345678901234567890n, "12345678901234567890"],
      [true, "\x00"],
      [false, ""],
      [null, ""],
      [undefined, ""],
      [[1, "a", null], '[1, "a", null]'],
    ];
    for (const [content, spelled] of cases) {
      const frame = written((w) => v2.writeRaw(w, content));
      assert.equal(frame.slice(16), spelled, String(content));
    }
  });

  test("content that cannot be sent is refused and leaves nothing behind", () => {
    const writer = new FrameWriter(new Framing());
    v2.writeCommand(writer, "ok", 1);
    const before = writer.length;
    assert.throws(
      () => v2.writeCommand(writer, "bad", Symbol("x") as unknown as Sendable),
      UnsupportedContent,
    );
    assert.throws(
      () => v2.writeCommand(writer, "bad", { nested: new Uint8Array(1) }),
      UnsupportedContent,
    );
    assert.equal(writer.length, before);
  });

  test("renames, lookups, keepalive and close", () => {
    assert.equal(written((w) => v2.writeRename(w, "bobby")), "13              $CHNAME$bobby");
    assert.equal(written((w) => v2.writeRegroup(w, "g2")), "11              $CHGROUP$g2");
    assert.equal(written((w) => v2.writeGetClient(w, "bob")), "11              $GETCLT$bob");
    assert.equal(written((w) => v2.writeKeepaliveAck(w)), "9               $KEEPACK$");
    assert.equal(written((w) => v2.writeClose(w)), "10              $USRCLOSE$");
    assert.equal(
      written((w) => v2.writeClientInfo(w, null)),
      '26              {"traceback": "$NOEXIST$"}',
    );
  });
});

describe("v2 parses what Python hisock 2.0.2 sends", () => {
  test("commands, with and without content", () => {
    const message = v2.parseServerBound(bytes("$CMD$greet$MSG$world"));
    assert.equal(message.kind, "command");
    if (message.kind !== "command") return;
    assert.equal(message.command, "greet");
    assert.equal(v2.cast(message.content, "str", true), "world");
    const bare = v2.parseClientBound(bytes("$CMD$ping"));
    assert.deepEqual(
      bare.kind === "command" && [bare.command, v2.cast(bare.content, "bytes", true)],
      [
        "ping",
        new Uint8Array(0),
      ],
    );
  });

  test("commands read in place: name and content range, nothing else taken", () => {
    const reading = new CommandReading();
    // A frame's payload inside a larger buffer: the range must be respected.
    const buffer = bytes("xx$CMD$greet$MSG$world$CMD$ping");
    assert.equal(v2.readCommand!(buffer, 2, 22, reading), true);
    assert.equal(reading.command, "greet");
    assert.deepEqual([reading.content.start, reading.content.end], [17, 22]);
    assert.equal(v2.cast(reading.content, "str", true), "world");
    assert.equal(latin1(contentBytes(reading.content)), "world");
    // The same reading, reused: no content without $MSG$.
    assert.equal(v2.readCommand!(buffer, 22, buffer.length, reading), true);
    assert.equal(reading.command, "ping");
    assert.deepEqual(v2.cast(reading.content, "bytes", true), new Uint8Array(0));
    // A kept copy is not a view of the frame's memory (not owned).
    assert.equal(v2.readCommand!(buffer, 2, 22, reading), true);
    const kept = v2.cast(reading.content, "bytes", false);
    buffer.fill(0x21);
    assert.equal(latin1(kept), "world");
    // Anything but a command is left to parseServerBound / parseClientBound.
    for (const other of ["hello", "$USRCLOSE$", "$CMD", "$KEEPALIVE$"]) {
      const payload = bytes(other);
      assert.equal(v2.readCommand!(payload, 0, payload.length, reading), false, other);
    }
    const badName = new Uint8Array([...bytes("$CMD$"), 0xff, ...bytes("$MSG$")]);
    assert.throws(() => v2.readCommand!(badName, 0, badName.length, reading), ProtocolError);
  });

  test("the hello", () => {
    const hello = v2.parseHello(bytes('$CLTHELLO${"name": "alice", "group": null, "token": 7}'));
    assert.equal(hello.name, "alice");
    assert.equal(hello.group, null);
    assert.equal(hello.fields.token, 7);
    assert.throws(() => v2.parseHello(bytes("hello")), ProtocolError);
    assert.throws(() => v2.parseHello(bytes("$CLTHELLO${bad json")), ProtocolError);
    assert.throws(() => v2.parseHello(bytes('$CLTHELLO$["a"]')), ProtocolError);
    assert.throws(() => v2.parseHello(bytes('$CLTHELLO${"name": 5}')), ProtocolError);
  });

  test("reserved words from clients", () => {
    assert.deepEqual(v2.parseServerBound(bytes("$USRCLOSE$")), { kind: "close" });
    assert.deepEqual(v2.parseServerBound(bytes("$KEEPACK$")), { kind: "keepalive_ack" });
    assert.deepEqual(v2.parseServerBound(bytes("$CHNAME$bob")), { kind: "rename", value: "bob" });
    // v2 keeps the current value when the new one is empty.
    assert.deepEqual(v2.parseServerBound(bytes("$CHGROUP$")), {
      kind: "regroup",
      value: undefined,
    });
    assert.deepEqual(v2.parseServerBound(bytes("$GETCLT$127.0.0.1:5")), {
      kind: "get_client",
      ref: "127.0.0.1:5",
    });
  });

  test("a client may not send words only a server sends", () => {
    for (
      const word of ["$CLTCONN${}", "$CLTDISCONN${}", "$DISCONN$", "$KEEPALIVE$", "$CLTHELLO${}"]
    ) {
      assert.throws(() => v2.parseServerBound(bytes(word)), ProtocolError, word);
    }
  });

  test("invalid UTF-8 in a command name is a protocol error", () => {
    assert.throws(
      () => v2.parseServerBound(new Uint8Array([...bytes("$CMD$"), 0xff, ...bytes("$MSG$")])),
      ProtocolError,
    );
  });

  test("raw payloads", () => {
    const raw = v2.parseServerBound(bytes("just text"));
    assert.equal(raw.kind, "raw");
    assert.equal(raw.kind === "raw" && v2.cast(raw.content, "str", true), "just text");
    assert.equal(v2.parseClientBound(bytes("$unknown$")).kind, "raw");
  });

  test("presence and server words", () => {
    const join = v2.parseClientBound(
      bytes('$CLTCONN${"ip": ["127.0.0.1", 34208], "name": "alice", "group": "g1"}'),
    );
    assert.equal(join.kind, "join");
    assert.deepEqual(
      join.kind === "join" && join.info,
      makeClientInfo("127.0.0.1", 34208, "alice", "g1"),
    );
    const leave = v2.parseClientBound(
      bytes('$CLTDISCONN${"ip": ["127.0.0.1", 1], "name": null, "group": null}'),
    );
    assert.equal(leave.kind, "leave");
    assert.deepEqual(v2.parseClientBound(bytes("$KEEPALIVE$")), { kind: "keepalive" });
    assert.deepEqual(v2.parseClientBound(bytes("$DISCONN$")), { kind: "disconnect" });
    assert.throws(() => v2.parseClientBound(bytes("$CLTCONN${}")), ProtocolError);
  });

  test("lookup answers", () => {
    assert.equal(v2.parseClientInfoReply!(bytes('{"traceback": "$NOEXIST$"}')), null);
    assert.equal(v2.parseClientInfoReply!(bytes("not json")), undefined);
    assert.equal(
      v2.parseClientInfoReply!(bytes('{"ip": ["1.2.3.4", 5], "name": "b", "group": null}'))?.ipstr,
      "1.2.3.4:5",
    );
  });
});

describe("v2 casts content by the declared type", () => {
  const cast = (text: string | Uint8Array, type: Parameters<typeof v2.cast>[1]) =>
    v2.cast(typeof text === "string" ? bytes(text) : text, type, true);

  test("each type", () => {
    assert.equal(cast("42", "int"), 42);
    assert.equal(cast("-7", "int"), -7);
    assert.equal(cast("123456789012345678901234567890", "bigint"), 123456789012345678901234567890n);
    assert.equal(cast("1.5", "float"), 1.5);
    assert.equal(cast("inf", "float"), Infinity);
    assert.equal(cast("42", "float"), 42);
    assert.equal(cast(new Uint8Array([0]), "bool"), true);
    assert.equal(cast("", "bool"), false);
    assert.equal(cast("True", "bool"), true);
    assert.deepEqual(cast('{"a": [1, 2]}', "json"), { a: [1, 2] });
    assert.equal(cast("", "json"), null);
    assert.equal(cast("zoë", "str"), "zoë");
  });

  test("failures are TypeCastError", () => {
    assert.throws(() => cast("abc", "int"), TypeCastError);
    assert.throws(() => cast("1.5", "int"), TypeCastError);
    assert.throws(() => cast("99999999999999999999", "int"), TypeCastError);
    assert.throws(() => cast("x", "float"), TypeCastError);
    assert.throws(() => cast("maybe", "bool"), TypeCastError);
    assert.throws(() => cast("{", "json"), TypeCastError);
    assert.throws(() => cast(new Uint8Array([0xff]), "str"), TypeCastError);
  });

  test("bytes from a borrowed buffer are copied", () => {
    const buffer = bytes("abc");
    const copy = v2.cast(buffer, "bytes", false);
    buffer[0] = 0x7a;
    assert.equal(latin1(copy), "abc");
    assert.equal(v2.cast(buffer, "bytes", true), buffer);
  });
});

describe("v2 parses a payload given as a range of a larger buffer", () => {
  const text = new TextEncoder();
  /** `payload` between bytes that must never be read. */
  function framed(
    payload: string,
    before = "$CMD$xx",
    after = "$MSG$zz",
  ): [Uint8Array, number, number] {
    const all = text.encode(before + payload + after);
    const start = text.encode(before).length;
    return [all, start, start + text.encode(payload).length];
  }

  test("a command and its content stop at the range's end", () => {
    for (let round = 0; round < 2; round++) {
      // The second round reads the head from CommandHeads' memory.
      const message = v2.parseServerBound(...framed("$CMD$bench$MSG$hi"));
      assert.equal(message.kind, "command");
      if (message.kind !== "command") return;
      assert.equal(message.command, "bench");
      assert.deepEqual(message.content, text.encode("hi"));
    }
  });

  test("a remembered head longer than the range does not match bytes beyond it", () => {
    v2.parseServerBound(text.encode("$CMD$bench$MSG$1"));
    const message = v2.parseClientBound(...framed("$CMD$ben", "", "ch$MSG$x"));
    assert.deepEqual(message, { kind: "command", command: "ben", content: new Uint8Array(0) });
  });

  test("a range shorter than $CMD$ is not a command, whatever follows it", () => {
    assert.deepEqual(v2.parseServerBound(...framed("$CM", "", "D$a$MSG$b")), {
      kind: "raw",
      content: text.encode("$CM"),
    });
    assert.deepEqual(v2.parseClientBound(...framed("ab")), {
      kind: "raw",
      content: text.encode("ab"),
    });
  });
});
