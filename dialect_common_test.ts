import { test } from "node:test";
import assert from "node:assert/strict";
import {
  commandFrameHead,
  commandHeadBytes,
  CommandHeads,
  peekPresence,
} from "./dialect_common.ts";
import { v2 } from "./dialect_v2.ts";
import { MessageTooLarge, ProtocolError } from "./errors.ts";
import { FrameWriter, Framing } from "./framing.ts";
import { bytesOf as bytes, latin1 } from "./test_util.ts";

test("CommandHeads reads name and content offset, the same from cache as fresh", () => {
  const heads = new CommandHeads();
  const cases: Array<[string, string, number]> = [
    ["$CMD$greet$MSG$hi", "greet", 15],
    ["$CMD$greet$MSG$", "greet", 15],
    ["$CMD$greet", "greet", -1],
    ["$CMD$a$$MSG$x", "a$", 12],
    ["$CMD$$MSG$x", "", 10],
    ["$CMD$greet$MSG$MSG$x", "greet", 15],
    ["$CMD$gr$MSG$eet$MSG$", "gr", 12],
    ["$CMD$ünï$MSG$1", "ünï", 15],
  ];
  // Twice over, and with more names than the cache holds between, so that
  // every case is read fresh, from the cache, and after eviction.
  for (let round = 0; round < 3; round++) {
    for (const [payload, command, contentAt] of cases) {
      heads.read(bytes(payload));
      assert.equal(heads.command, command, `${payload} (round ${round})`);
      assert.equal(heads.contentAt, contentAt, `${payload} (round ${round})`);
    }
    if (round === 1) {
      for (let i = 0; i < 20; i++) heads.read(bytes(`$CMD$n${i}$MSG$`));
    }
  }
});

test("CommandHeads: a cached head is not matched by a payload that only starts like it", () => {
  const heads = new CommandHeads();
  heads.read(bytes("$CMD$ab$MSG$1"));
  heads.read(bytes("$CMD$ab$MSX$2"));
  assert.equal(heads.command, "ab$MSX$2");
  assert.equal(heads.contentAt, -1);
  heads.read(bytes("$CMD$ab$MS"));
  assert.equal(heads.command, "ab$MS");
});

test("CommandHeads.match answers only for a remembered head, compared whole", () => {
  const heads = new CommandHeads();
  assert.equal(heads.match(bytes("$CMD$greet$MSG$hi")), false, "nothing remembered yet");
  heads.read(bytes("$CMD$greet$MSG$hi"));
  heads.command = "";
  heads.contentAt = 0;
  // In a larger buffer, within [start, end).
  const framed = bytes("xx$CMD$greet$MSG$yo!yy");
  assert.equal(heads.match(framed, 2, 20), true);
  assert.equal(heads.command, "greet");
  assert.equal(heads.contentAt, 15);
  // Differing in $CMD$ itself, in the name, or cut short: no match, nothing read.
  heads.command = "";
  for (const payload of ["$XMD$greet$MSG$hi", "$CMD$great$MSG$hi", "$CMD$greet$MS", "greet$MSG$"]) {
    assert.equal(heads.match(bytes(payload)), false, payload);
  }
  assert.equal(heads.match(framed, 2, 15), false, "the range ends inside the head");
  assert.equal(heads.command, "", "a miss reads nothing");
  // After a miss, learn reads the head the long way and remembers it.
  const other = bytes("$CMD$other$MSG$x");
  heads.learn(other);
  assert.deepEqual([heads.command, heads.contentAt], ["other", 15]);
  heads.command = "";
  assert.equal(heads.match(other), true);
  assert.equal(heads.command, "other");
});

test("CommandHeads: a name that is not UTF-8 is a ProtocolError", () => {
  const heads = new CommandHeads();
  const payload = new Uint8Array([...bytes("$CMD$"), 0xff, 0xfe, ...bytes("$MSG$x")]);
  assert.throws(() => heads.read(payload), ProtocolError);
  // and is not remembered as a head
  assert.throws(() => heads.read(payload), ProtocolError);
});

test("commandHeadBytes writes $CMD$name$MSG$, the same remembered as fresh", () => {
  const names = ["greet", "zoë ✓", "", "a$MSG$b", "x".repeat(100)];
  for (let round = 0; round < 3; round++) {
    for (const name of names) {
      assert.deepEqual(commandHeadBytes(name), bytes(`$CMD$${name}$MSG$`), `${name} (${round})`);
    }
    // More names than are remembered, so every one is also encoded afresh.
    for (let i = 0; i < 20; i++) commandHeadBytes(`n${i}`);
  }
});

test("commandFrameHead: made on the second request in a row; frames written with it are the same bytes", () => {
  const framing = new Framing();
  const binary = new Framing({ header: "binary", headerLen: 4 });
  assert.equal(commandFrameHead(framing, "tick", 3), null, "seen once");
  const head = commandFrameHead(framing, "tick", 3);
  assert.equal(latin1(head!), "17              $CMD$tick$MSG$");
  assert.equal(commandFrameHead(framing, "tick", 3), head, "remembered");
  // Another size, name or framing is another head.
  assert.equal(commandFrameHead(framing, "tick", 4), null);
  assert.equal(commandFrameHead(binary, "tick", 3), null);
  assert.deepEqual([...commandFrameHead(binary, "tick", 3)!.subarray(0, 4)], [0, 0, 0, 17]);
  assert.equal(commandFrameHead(framing, "tick", 3), head, "still remembered");
  // A payload over the limit is refused as by the generic path.
  const small = new Framing({ maxMessageSize: 20 });
  assert.equal(commandFrameHead(small, "tick", 30), null);
  assert.throws(() => commandFrameHead(small, "tick", 30), MessageTooLarge);
  // v2 sends through the head from the second send on: the bytes must not change.
  for (const framingUsed of [framing, binary]) {
    const sent = new FrameWriter(framingUsed);
    const content = bytes("abc");
    for (let i = 0; i < 3; i++) v2.writeCommand(sent, "tock", content);
    const expected = new FrameWriter(framingUsed);
    for (let i = 0; i < 3; i++) {
      expected.begin();
      expected.bytes(bytes("$CMD$tock$MSG$abc"));
      expected.end();
    }
    assert.deepEqual(sent.take(), expected.take());
  }
  // framed() refuses to start inside an open frame.
  const writer = new FrameWriter(framing);
  writer.begin();
  assert.throws(() => writer.framed(head!, bytes("abc")), Error);
});

test("peekPresence tells joins and leaves by their word, within the range only", () => {
  const buffer = bytes('$CLTCONN${"name": "a"}$CLTDISCONN${}$CMD$x$CLTCONN');
  assert.equal(peekPresence(buffer, 0, 22), "join");
  assert.equal(peekPresence(buffer, 22, 36), "leave");
  assert.equal(peekPresence(buffer, 36, 42), undefined, "a command");
  // A range that ends inside the word is not that word, whatever follows it.
  assert.equal(peekPresence(buffer, 0, 5), undefined);
  assert.equal(peekPresence(bytes("$CLTCONN"), 0, 8), undefined);
  assert.equal(peekPresence(bytes("hello"), 0, 5), undefined);
});
