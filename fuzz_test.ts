/**
 * Fuzzing of the frame decoder and of every dialect's parsers: random bytes
 * and random valid frames, split at random points. The only failures allowed
 * are our typed errors; valid input must round-trip exactly. Seeded, so a
 * failure can be replayed; bounded, so CI stays quick (set HISOCK_FUZZ_SCALE
 * to run more).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { concat, prng } from "./test_util.ts";
import { encodeFrame, FrameDecoder, FrameWriter, Framing } from "./framing.ts";
import {
  HiSockError,
  MalformedHeader,
  MessageTooLarge,
  ProtocolError,
  TypeCastError,
} from "./errors.ts";
import { resolveDialect } from "./dialects.ts";
import type { Dialect } from "./dialect.ts";
import type { CastType, Sendable } from "./content.ts";

const SCALE = Number(globalThis.process?.env?.HISOCK_FUZZ_SCALE ?? 1) || 1;
const encoder = new TextEncoder();

/** Every dialect. */
const DIALECTS: Dialect[] = (["v1", "v2", "v3"] as const).map((name) => resolveDialect(name));

function randomBytes(random: () => number, length: number, alphabet?: Uint8Array): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = alphabet ? alphabet[Math.floor(random() * alphabet.length)] : random() * 256;
  }
  return out;
}

/** Bytes that look like headers and reserved words, to get past the first byte more often. */
const HEADERISH = encoder.encode('0123456789      $CMD$MSG${}[]":, abcXYZ\x00\xff');

function splitPush(decoder: FrameDecoder, data: Uint8Array, random: () => number): void {
  let offset = 0;
  while (offset < data.length) {
    const size = 1 + Math.floor(random() ** 2 * 200);
    decoder.push(data.subarray(offset, offset + size), random() < 0.5);
    offset += size;
  }
}

describe("fuzz: frame decoder", () => {
  test("random bytes give frames or a typed framing error, nothing else", () => {
    const random = prng(1);
    let typedErrors = 0;
    for (let round = 0; round < 100_000 * SCALE; round++) {
      const framing = new Framing({
        header: random() < 0.7 ? "ascii" : "binary",
        headerLen: 1 + Math.floor(random() * 20),
        maxMessageSize: Math.floor(random() * 5000),
      });
      const rule = random() < 0.3
        ? { words: [encoder.encode("$KEEPALIVE$"), encoder.encode("$DISCONN$")], jsonObjects: true }
        : undefined;
      const decoder = new FrameDecoder(framing, (_bytes, start, end) => {
        assert.ok(end - start <= Math.max(framing.maxPayload, 64 * 1024));
      }, rule);
      const data = randomBytes(
        random,
        Math.floor(random() * 300),
        random() < 0.5 ? HEADERISH : undefined,
      );
      try {
        splitPush(decoder, data, random);
      } catch (error) {
        assert.ok(
          error instanceof MalformedHeader || error instanceof MessageTooLarge,
          `round ${round}: ${error}`,
        );
        typedErrors++;
      }
    }
    assert.ok(typedErrors > 0, "the fuzzer must reach the error paths");
  });

  test("random valid frames split at random points round-trip exactly", () => {
    const random = prng(2);
    for (let round = 0; round < 3_000 * SCALE; round++) {
      const framing = new Framing({
        header: random() < 0.5 ? "ascii" : "binary",
        headerLen: 2 + Math.floor(random() * 14),
      });
      const payloads: Uint8Array[] = [];
      for (let i = Math.floor(random() * 30); i > 0; i--) {
        const size = Math.floor(random() ** 4 * Math.min(framing.maxPayload, 20_000));
        payloads.push(randomBytes(random, size));
      }
      const out: Uint8Array[] = [];
      const decoder = new FrameDecoder(
        framing,
        (bytes, start, end) => out.push(bytes.slice(start, end)),
      );
      splitPush(decoder, concat(...payloads.map((p) => encodeFrame(p, framing))), random);
      assert.deepEqual(out, payloads, `round ${round}`);
      assert.equal(decoder.midFrame, false);
    }
  });
});

const CAST_TYPES: CastType[] = ["bytes", "str", "int", "bigint", "float", "bool", "json"];

describe("fuzz: dialect parsers", () => {
  for (const dialect of DIALECTS) {
    test(`${dialect.name}: random payloads parse or give ProtocolError; casts give TypeCastError`, () => {
      const random = prng(3);
      const prefixes = [
        "$CMD$",
        "$CMD$a$MSG$",
        "$CLTHELLO$",
        "$CLTHELLO$ ",
        "$CLTCONN$",
        "$CLTDISCONN$",
        "$CHNAME$",
        "$CHGROUP$",
        "$GETCLT$",
        "$KEEPALIVE$",
        "$USRCLOSE$",
        "$CMD$x$MSG$8       ",
        "",
      ].map((text) => encoder.encode(text));
      for (let round = 0; round < 50_000 * SCALE; round++) {
        const prefix = prefixes[Math.floor(random() * prefixes.length)];
        const tail = randomBytes(
          random,
          Math.floor(random() * 40),
          random() < 0.6 ? HEADERISH : undefined,
        );
        const payload = concat(prefix, tail);
        const parsers: Array<(payload: Uint8Array) => object> = [
          (p) => dialect.parseHello(p),
          (p) => dialect.parseServerBound(p),
          (p) => dialect.parseClientBound(p),
        ];
        for (const parse of parsers) {
          let message: object;
          try {
            message = parse(payload);
          } catch (error) {
            assert.ok(error instanceof ProtocolError, `${dialect.name} round ${round}: ${error}`);
            continue;
          }
          if (!("content" in message)) continue;
          for (const type of CAST_TYPES) {
            try {
              dialect.cast((message as { content: unknown }).content, type, random() < 0.5);
            } catch (error) {
              assert.ok(error instanceof TypeCastError, `${dialect.name} cast ${type}: ${error}`);
            }
          }
        }
      }
    });

    test(`${dialect.name}: commands with random content round-trip through frames`, () => {
      const random = prng(4);
      const framing = new Framing();
      for (let round = 0; round < 20_000 * SCALE; round++) {
        const [type, content, expected] = randomContent(random);
        const command = randomCommand(random);
        const writer = new FrameWriter(framing);
        dialect.writeCommand(writer, command, content);
        const messages: unknown[] = [];
        const decoder = new FrameDecoder(framing, (bytes, start, end, owned) => {
          const message = dialect.parseServerBound(bytes, start, end);
          assert.equal(message.kind, "command", `round ${round}`);
          if (message.kind !== "command") return;
          assert.equal(message.command, command);
          messages.push(dialect.cast(message.content, type, owned));
        });
        splitPush(decoder, writer.take(), random);
        assert.deepEqual(messages, [expected], `${dialect.name} round ${round}: ${type}`);
      }
    });
  }
});

/** A random command name: printable, no spaces or `$` (names every dialect can carry). */
function randomCommand(random: () => number): string {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-éö日";
  let name = "";
  for (let i = 1 + Math.floor(random() * 12); i > 0; i--) {
    name += letters[Math.floor(random() * letters.length)];
  }
  return name;
}

function randomText(random: () => number): string {
  let text = "";
  for (let i = Math.floor(random() * 20); i > 0; i--) {
    const pick = random();
    text += pick < 0.7
      ? String.fromCharCode(32 + Math.floor(random() * 95))
      : pick < 0.9
      ? String.fromCharCode(0xa0 + Math.floor(random() * 0x700))
      : "😀";
  }
  return text;
}

/** Content every dialect carries, with the declared type that reads it back and the value expected. */
function randomContent(random: () => number): [CastType, Sendable, unknown] {
  const pick = Math.floor(random() * 4);
  if (pick === 0) {
    const bytes = randomBytes(random, Math.floor(random() * 50));
    return ["bytes", bytes, bytes];
  }
  if (pick === 1) {
    const text = randomText(random);
    return ["str", text, text];
  }
  if (pick === 2) {
    const value = Math.floor((random() - 0.5) * 2 ** 40);
    return ["int", value, value];
  }
  const value = { k: [1, Math.floor(random() * 1000)], s: randomText(random) || "x" };
  return ["json", value, value];
}

test("fuzz: every failure above is a HiSockError subclass", () => {
  // Guards the assertions above: the typed errors must share the base class.
  for (const error of [new MalformedHeader(new Uint8Array(1)), new ProtocolError("x")]) {
    assert.ok(error instanceof HiSockError);
  }
});
