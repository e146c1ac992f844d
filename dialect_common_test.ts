import { test } from "node:test";
import assert from "node:assert/strict";
import { commandHeadBytes, CommandHeads } from "./dialect_common.ts";
import { ProtocolError } from "./errors.ts";
import { bytesOf as bytes } from "./test_util.ts";

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
