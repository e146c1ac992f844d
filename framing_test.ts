import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bytesOf as bytes, concat, latin1, prng, viewing } from "./test_util.ts";
import { encodeFrame, FrameDecoder, FrameWriter, Framing, framingFor } from "./framing.ts";
import { MalformedHeader, MessageTooLarge } from "./errors.ts";

const decoder = new TextDecoder();

/** Feeds `stream` to a fresh decoder in the given chunk sizes; returns the payloads (copied). */
function decodeAll(framing: Framing, stream: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const frames = new FrameDecoder(framing, viewing((payload) => out.push(payload.slice())));
  let offset = 0;
  let i = 0;
  while (offset < stream.length) {
    const size = Math.max(1, sizes[i++ % sizes.length]);
    frames.push(stream.subarray(offset, offset + size), false);
    offset += size;
  }
  return out;
}

describe("Framing headers", () => {
  test("ascii header is decimal, left-aligned, space-padded (wire-facts example)", () => {
    const framing = new Framing();
    const frame = encodeFrame(new Uint8Array(30), framing);
    assert.equal(latin1(frame.subarray(0, 16)), "30              ");
    assert.equal(frame.length, 46);
  });

  test("golden v2 frames from real Python peers are produced byte for byte", () => {
    const framing = new Framing();
    for (
      const [payload, expected] of [
        ["$CMD$greet$MSG$world", "20              $CMD$greet$MSG$world"],
        ['$CMD$reply$MSG${"a": [1, 2]}', '28              $CMD$reply$MSG${"a": [1, 2]}'],
        ["$DISCONN$", "9               $DISCONN$"],
      ]
    ) {
      assert.equal(latin1(encodeFrame(bytes(payload), framing)), expected);
    }
  });

  test("zero-length frames are legal", () => {
    const framing = new Framing();
    const frame = encodeFrame(new Uint8Array(0), framing);
    assert.equal(latin1(frame), "0               ");
    const out = decodeAll(framing, frame, [16]);
    assert.equal(out.length, 1);
    assert.equal(out[0].length, 0);
  });

  test("binary header is a big-endian unsigned integer", () => {
    const framing = new Framing({ header: "binary", headerLen: 4 });
    const frame = encodeFrame(new Uint8Array(0x0102), framing);
    assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 1, 2]);
    assert.equal(framing.readHeader(frame, 0), 0x0102);
  });

  test("refuses to encode a payload the header cannot express", () => {
    const framing = new Framing({ headerLen: 2 });
    assert.equal(framing.maxPayload, 99);
    encodeFrame(new Uint8Array(99), framing);
    assert.throws(() => encodeFrame(new Uint8Array(100), framing), MessageTooLarge);
    const binary = new Framing({ header: "binary", headerLen: 1 });
    assert.throws(() => encodeFrame(new Uint8Array(256), binary), MessageTooLarge);
  });

  test("refuses to encode a payload above maxMessageSize", () => {
    const framing = new Framing({ maxMessageSize: 10 });
    assert.throws(() => encodeFrame(new Uint8Array(11), framing), (error: unknown) => {
      assert.ok(error instanceof MessageTooLarge);
      assert.equal(error.size, 11);
      assert.equal(error.limit, 10);
      return true;
    });
  });

  test("refuses malformed ascii headers with MalformedHeader", () => {
    const framing = new Framing();
    for (
      const header of [
        "                ", // no digits
        " 12             ", // leading space (Python's int() accepts it; we do not)
        "+12             ", // sign
        "1_000           ", // separator
        "12 3            ", // digits after spaces
        "12\t             ", // tab
        "abc             ",
        "-1              ",
      ]
    ) {
      assert.throws(() => framing.readHeader(bytes(header), 0), MalformedHeader, header);
    }
  });

  test("refuses a length above the limit before allocating", () => {
    const framing = new Framing({ maxMessageSize: 1000 });
    // 10^15: a 1 PB claim must be refused from the header alone.
    assert.throws(() => framing.readHeader(bytes("1000000000000000"), 0), MessageTooLarge);
    assert.throws(() => framing.readHeader(bytes("1001            "), 0), MessageTooLarge);
    assert.equal(framing.readHeader(bytes("1000            "), 0), 1000);
  });

  test("rejects invalid options", () => {
    assert.throws(() => new Framing({ headerLen: 0 }), RangeError);
    assert.throws(() => new Framing({ headerLen: 1.5 }), RangeError);
    assert.throws(() => new Framing({ maxMessageSize: -1 }), RangeError);
    // @ts-expect-error: an unknown header kind
    assert.throws(() => new Framing({ header: "hex" }), RangeError);
  });
});

describe("FrameDecoder", () => {
  const framing = new Framing();
  const payloads = ["", "a", "hello world", "x".repeat(1000), "ünïcødé ✓"].map(bytes);
  const stream = concat(...payloads.map((payload) => encodeFrame(payload, framing)));

  test("decodes many frames from one chunk", () => {
    const out = decodeAll(framing, stream, [stream.length]);
    assert.deepEqual(out.map((p) => decoder.decode(p)), payloads.map((p) => decoder.decode(p)));
  });

  test("decodes a stream split at every byte boundary", () => {
    for (let split = 1; split < stream.length; split++) {
      const frames: Uint8Array[] = [];
      const frameDecoder = new FrameDecoder(
        framing,
        viewing((payload) => frames.push(payload.slice())),
      );
      frameDecoder.push(stream.subarray(0, split), false);
      frameDecoder.push(stream.subarray(split), false);
      assert.equal(frames.length, payloads.length, `split at ${split}`);
      frames.forEach((frame, i) => assert.deepEqual(frame, payloads[i], `split at ${split}`));
    }
  });

  test("decodes one byte at a time", () => {
    const out = decodeAll(framing, stream, [1]);
    assert.deepEqual(out, payloads);
  });

  test("random frames split at random points round-trip exactly", () => {
    const random = prng(42);
    for (let round = 0; round < 200; round++) {
      const headerKind = random() < 0.5 ? "ascii" : "binary";
      const local = new Framing({ header: headerKind, headerLen: 2 + Math.floor(random() * 15) });
      const frames: Uint8Array[] = [];
      for (let i = Math.floor(random() * 20); i > 0; i--) {
        const payload = new Uint8Array(
          Math.floor(random() ** 3 * Math.min(5000, local.maxPayload)),
        );
        for (let j = 0; j < payload.length; j++) payload[j] = random() * 256;
        frames.push(payload);
      }
      const data = concat(...frames.map((payload) => encodeFrame(payload, local)));
      const sizes = Array.from({ length: 7 }, () => 1 + Math.floor(random() * 300));
      assert.deepEqual(decodeAll(local, data, sizes), frames, `round ${round}`);
    }
  });

  test("a frame inside a chunk is passed as a range of that chunk, no view made", () => {
    const one = encodeFrame(bytes("abc"), framing);
    const two = encodeFrame(bytes("defgh"), framing);
    const chunk = concat(one, two);
    const ranges: Array<[Uint8Array, number, number, boolean]> = [];
    const frames = new FrameDecoder(framing, (b, start, end, owned) => {
      ranges.push([b, start, end, owned]);
    });
    frames.push(chunk, false);
    assert.deepEqual(ranges.map(([b, start, end, owned]) => [b === chunk, start, end, owned]), [
      [true, 16, 19, false],
      [true, 35, 40, false],
    ]);
  });

  test("views are passed through only when the chunk is owned", () => {
    const frame = encodeFrame(bytes("abc"), framing);
    const seen: Array<[Uint8Array, boolean]> = [];
    const owned = new FrameDecoder(
      framing,
      viewing((payload, isOwned) => seen.push([payload, isOwned])),
    );
    owned.push(frame, true);
    owned.push(frame, false);
    assert.equal(seen[0][1], true);
    assert.equal(seen[0][0].buffer, frame.buffer, "an owned chunk's payload is a view, not a copy");
    assert.equal(seen[1][1], false);
    // Across chunks the payload is assembled in a buffer the decoder reuses
    // for the next large frame: lent, not owned.
    const spanning = new FrameDecoder(
      framing,
      viewing((payload, isOwned) => seen.push([payload, isOwned])),
    );
    spanning.push(frame.subarray(0, 17), true);
    spanning.push(frame.subarray(17), true);
    assert.equal(seen[2][1], false);
    assert.equal(decoder.decode(seen[2][0]), "abc");
  });

  test("the assembly buffer is reused across large frames, never past a frame's end", () => {
    const seen: Array<{ copy: Uint8Array; view: Uint8Array; owned: boolean }> = [];
    const frames = new FrameDecoder(
      framing,
      viewing((payload, owned) => seen.push({ copy: payload.slice(), view: payload, owned })),
    );
    const big = new Uint8Array(50_000).fill(1);
    const smaller = new Uint8Array(30_000).fill(2);
    const stream = concat(encodeFrame(big, framing), encodeFrame(smaller, framing));
    // Chunks that split both frames, so both are assembled.
    for (let offset = 0; offset < stream.length; offset += 7_000) {
      frames.push(stream.subarray(offset, offset + 7_000), false);
    }
    assert.deepEqual(seen.map((s) => [s.copy.length, s.owned]), [[50_000, false], [30_000, false]]);
    assert.deepEqual(seen[0].copy, big);
    assert.deepEqual(seen[1].copy, smaller);
    assert.equal(seen[1].view.buffer, seen[0].view.buffer, "the second frame reused the buffer");
  });

  test("direct targets let a reader fill a large payload in place", () => {
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    const frame = encodeFrame(big, framing);
    const out: Uint8Array[] = [];
    const frameDecoder = new FrameDecoder(framing, viewing((payload) => out.push(payload)));
    frameDecoder.push(frame.subarray(0, 1000), false);
    let offset = 1000;
    assert.equal(frameDecoder.directTarget(200_000), null, "smaller than the minimum asked");
    while (offset < frame.length) {
      const target = frameDecoder.directTarget(1);
      assert.ok(target);
      const take = Math.min(target.length, 30_000, frame.length - offset);
      target.set(frame.subarray(offset, offset + take));
      frameDecoder.commitDirect(take);
      offset += take;
    }
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], big);
    assert.equal(frameDecoder.directTarget(1), null);
  });

  test("a malformed header stops the decoder for good", () => {
    const frames: Uint8Array[] = [];
    const frameDecoder = new FrameDecoder(framing, viewing((payload) => frames.push(payload)));
    const good = encodeFrame(bytes("ok"), framing);
    assert.throws(
      () => frameDecoder.push(concat(good, bytes("garbage header!!xx")), true),
      MalformedHeader,
    );
    assert.equal(frames.length, 1, "frames before the bad header are delivered");
    assert.throws(() => frameDecoder.push(good, true), MalformedHeader);
    assert.equal(frames.length, 1);
  });

  test("a huge claimed length is refused without allocating", () => {
    const small = new Framing({ maxMessageSize: 1024 });
    const frameDecoder = new FrameDecoder(small, () => assert.fail("no frame expected"));
    assert.throws(() => frameDecoder.push(bytes("1000000000000000"), true), MessageTooLarge);
  });

  test("midFrame tells whether a frame is incomplete", () => {
    const frameDecoder = new FrameDecoder(framing, () => {});
    assert.equal(frameDecoder.midFrame, false);
    frameDecoder.push(bytes("5  "), true);
    assert.equal(frameDecoder.midFrame, true);
    frameDecoder.push(bytes("             ab"), true);
    assert.equal(frameDecoder.midFrame, true);
    frameDecoder.push(bytes("cde"), true);
    assert.equal(frameDecoder.midFrame, false);
  });
});

describe("FrameDecoder with bare payloads (Python 3.0a's unframed words)", () => {
  const framing = new Framing();
  const rule = { words: [bytes("$KEEPALIVE$"), bytes("$DISCONN$")], jsonObjects: true };
  const json = '{"ip": ["127.0.0.1", 1], "name": "a}{\\"b", "group": {"x": null}}';
  const expected = ["a", "$KEEPALIVE$", "b", json, "", "$DISCONN$"];
  const stream = concat(
    encodeFrame(bytes("a"), framing),
    bytes("$KEEPALIVE$"),
    encodeFrame(bytes("b"), framing),
    bytes(json),
    encodeFrame(bytes(""), framing),
    bytes("$DISCONN$"),
  );

  test("are recognised where a header was expected, at every split point", () => {
    for (let split = 0; split <= stream.length; split++) {
      const out: string[] = [];
      const frames = new FrameDecoder(framing, viewing((p) => out.push(decoder.decode(p))), rule);
      frames.push(stream.subarray(0, split), false);
      frames.push(stream.subarray(split), false);
      assert.deepEqual(out, expected, `split at ${split}`);
      assert.equal(frames.midFrame, false);
    }
  });

  test("unknown bare bytes are still a malformed header", () => {
    const frames = new FrameDecoder(framing, () => {}, rule);
    assert.throws(() => frames.push(bytes("$KEEPOUT$       "), true), MalformedHeader);
    const noJson = new FrameDecoder(framing, () => {}, { ...rule, jsonObjects: false });
    assert.throws(() => noJson.push(bytes('{"a": 1}'), true), MalformedHeader);
  });

  test("a partial bare word is mid-frame", () => {
    const frames = new FrameDecoder(framing, () => {}, rule);
    frames.push(bytes("$KEEP"), true);
    assert.equal(frames.midFrame, true);
  });

  test("without a rule, a bare word is a malformed header", () => {
    const frames = new FrameDecoder(framing, () => {});
    assert.throws(() => frames.push(bytes("$KEEPALIVE$     "), true), MalformedHeader);
  });
});

describe("FrameWriter", () => {
  test("writes frames contiguously, text as UTF-8", () => {
    const framing = new Framing({ headerLen: 4 });
    const writer = new FrameWriter(framing, 2);
    writer.begin();
    writer.text("zoë");
    writer.byte(0);
    writer.end();
    writer.frame(bytes("yo"));
    assert.equal(writer.length, 4 + 5 + 4 + 2);
    const out = writer.take();
    assert.deepEqual(out, concat(bytes("5   zoë\0"), bytes("2   yo")));
    assert.equal(writer.length, 0);
  });

  test("a frame that is too large is removed, earlier frames stay", () => {
    const framing = new Framing({ maxMessageSize: 4 });
    const writer = new FrameWriter(framing);
    writer.frame(bytes("ok"));
    writer.begin();
    writer.text("too long");
    assert.throws(() => writer.end(), MessageTooLarge);
    assert.deepEqual(writer.take(), encodeFrame(bytes("ok"), framing));
  });

  test("abort drops only the open frame", () => {
    const framing = new Framing();
    const writer = new FrameWriter(framing);
    writer.frame(bytes("a"));
    writer.begin();
    writer.text("half");
    writer.abort();
    assert.deepEqual(writer.take(), encodeFrame(bytes("a"), framing));
  });

  test("detach hands over the bytes and continues in the replacement", () => {
    const framing = new Framing();
    const writer = new FrameWriter(framing);
    writer.frame(bytes("a"));
    const replacement = new Uint8Array(64);
    const out = writer.detach(replacement);
    assert.deepEqual(out, encodeFrame(bytes("a"), framing));
    writer.frame(bytes("b"));
    assert.deepEqual(replacement.subarray(0, 17), encodeFrame(bytes("b"), framing));
  });
});

test("framingFor shares one framing among peers with the default options, and checks the others", () => {
  const shared = framingFor({});
  assert.equal(framingFor({ name: "alice", group: "red" } as never), shared);
  assert.deepEqual(
    [shared.header, shared.headerLen, shared.maxPayload],
    [new Framing().header, new Framing().headerLen, new Framing().maxPayload],
  );
  const custom = framingFor({ headerLen: 8 });
  assert.notEqual(custom, shared);
  assert.equal(custom.headerLen, 8);
  assert.notEqual(framingFor({ maxMessageSize: 1024 }), shared);
  assert.throws(() => framingFor({ headerLen: 0 }), RangeError);
});
