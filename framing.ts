/**
 * Length-prefixed framing, the layer every hisock dialect shares: a frame is a
 * fixed-size header holding the payload's length, then the payload.
 *
 * - {@linkcode Framing} holds the agreed header kind, header length and size
 *   limit, and encodes and parses headers.
 * - {@linkcode FrameDecoder} turns arbitrary chunks into payloads, synchronously,
 *   copying only where a frame spans chunks.
 * - {@linkcode FrameWriter} encodes frames straight into one growable buffer, so
 *   many small frames leave as one write.
 *
 * @module
 */

import { MalformedHeader, MessageTooLarge } from "./errors.ts";

/**
 * How a frame header spells the payload length.
 *
 * - `"ascii"`: hisock's own: decimal digits, left-aligned, padded with spaces
 *   to `headerLen` bytes (`"30"` + 14 spaces for 30 bytes).
 * - `"binary"`: the length as a big-endian unsigned integer of `headerLen` bytes.
 */
export type HeaderKind = "ascii" | "binary";

/** Options that both ends of a connection must agree on. */
export interface FramingOptions {
  /** Bytes in every header. Default 16, as in Python hisock. */
  headerLen?: number;
  /** How the header spells the length. Default `"ascii"`. */
  header?: HeaderKind;
  /**
   * The largest payload accepted or sent, in bytes. Checked before a receive
   * buffer is allocated and before a send is queued. Default 16 MiB.
   */
  maxMessageSize?: number;
}

/**
 * The default {@linkcode FramingOptions.headerLen}: 16 bytes, as in Python hisock.
 *
 * @example
 * ```ts
 * import { DEFAULT_HEADER_LEN, Framing } from "./framing.ts";
 * console.log(new Framing().headerLen === DEFAULT_HEADER_LEN); // true
 * ```
 */
export const DEFAULT_HEADER_LEN = 16;
/**
 * The default {@linkcode FramingOptions.maxMessageSize}: 16 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE, Framing } from "./framing.ts";
 * console.log(new Framing().maxPayload === DEFAULT_MAX_MESSAGE_SIZE); // true
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

const SPACE = 0x20;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * The agreed framing of one connection: header kind, header length and size
 * limit, with the header codec for them.
 *
 * @example Encoding and parsing a header
 * ```ts
 * import { Framing } from "./framing.ts";
 * const framing = new Framing();
 * const header = new Uint8Array(framing.headerLen);
 * framing.writeHeader(header, 0, 30);
 * console.log(new TextDecoder().decode(header)); // "30              "
 * console.log(framing.readHeader(header, 0)); // 30
 * ```
 */
export class Framing {
  /** Bytes in every header. */
  readonly headerLen: number;
  /** How the header spells the length. */
  readonly header: HeaderKind;
  /**
   * The largest payload this connection sends or accepts: the configured
   * `maxMessageSize`, or less when the header cannot express it.
   */
  readonly maxPayload: number;

  /**
   * Validates and fixes the options.
   *
   * @param options Header kind, header length and size limit.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: FramingOptions = {}) {
    const headerLen = options.headerLen ?? DEFAULT_HEADER_LEN;
    const header = options.header ?? "ascii";
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (header !== "ascii" && header !== "binary") {
      throw new RangeError(`header must be "ascii" or "binary", not ${JSON.stringify(header)}`);
    }
    if (!Number.isInteger(headerLen) || headerLen < 1 || headerLen > 64) {
      throw new RangeError(`headerLen must be an integer from 1 to 64, not ${headerLen}`);
    }
    if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 0) {
      throw new RangeError(`maxMessageSize must be a non-negative integer, not ${maxMessageSize}`);
    }
    this.headerLen = headerLen;
    this.header = header;
    const expressible = header === "ascii"
      ? 10 ** Math.min(headerLen, 15) - 1
      : 256 ** Math.min(headerLen, 6) - 1;
    this.maxPayload = Math.min(maxMessageSize, expressible);
  }

  /**
   * Writes the header for a payload of `length` bytes at `target[offset]`.
   *
   * @param target Where to write; needs `headerLen` bytes from `offset`.
   * @param offset Index of the header's first byte.
   * @param length The payload length.
   * @throws {MessageTooLarge} When `length` exceeds {@linkcode Framing.maxPayload}.
   */
  writeHeader(target: Uint8Array, offset: number, length: number): void {
    if (length > this.maxPayload) throw new MessageTooLarge(length, this.maxPayload);
    const end = offset + this.headerLen;
    if (this.header === "ascii") {
      // Digits left-aligned, then spaces: compute the digit count first so the
      // digits can be written in place from the right.
      let digits = 1;
      for (let rest = length; rest >= 10; rest = Math.floor(rest / 10)) digits++;
      let rest = length;
      for (let i = offset + digits - 1; i >= offset; i--) {
        target[i] = DIGIT_0 + (rest % 10);
        rest = Math.floor(rest / 10);
      }
      // A loop: the header is short, and fill() is a call into a builtin.
      for (let i = offset + digits; i < end; i++) target[i] = SPACE;
    } else {
      let rest = length;
      for (let i = end - 1; i >= offset; i--) {
        target[i] = rest % 256;
        rest = Math.floor(rest / 256);
      }
    }
  }

  /**
   * Parses the header at `source[offset]`, which must hold `headerLen` bytes.
   *
   * @param source The bytes holding the header.
   * @param offset Index of the header's first byte.
   * @returns The payload length.
   * @throws {MalformedHeader} When the bytes are not a header of this kind.
   * @throws {MessageTooLarge} When the length exceeds {@linkcode Framing.maxPayload}.
   */
  readHeader(source: Uint8Array, offset: number): number {
    const end = offset + this.headerLen;
    let length = 0;
    if (this.header === "ascii") {
      // One function, two loops: this runs once per frame, and is cheaper
      // for the compilers than a helper called for the spaces.
      let i = offset;
      for (; i < end; i++) {
        const byte = source[i];
        if (byte < DIGIT_0 || byte > DIGIT_9) break;
        // Past the limit the value only matters as "too large" (64 digits
        // still fit a double).
        length = length * 10 + (byte - DIGIT_0);
      }
      if (i === offset) {
        throw new MalformedHeader(source.subarray(offset, end), "no leading decimal digit");
      }
      for (; i < end; i++) {
        if (source[i] !== SPACE) throw new MalformedHeader(source.subarray(offset, end));
      }
    } else {
      for (let i = offset; i < end; i++) length = length * 256 + source[i];
    }
    // Refused from the header alone, before anything is allocated for it.
    if (length > this.maxPayload) throw new MessageTooLarge(length, this.maxPayload);
    return length;
  }
}

/**
 * Encodes one frame, header and payload, into a new array.
 *
 * @example
 * ```ts
 * import { encodeFrame, Framing } from "./framing.ts";
 * const frame = encodeFrame(new TextEncoder().encode("$USRCLOSE$"), new Framing());
 * console.log(new TextDecoder().decode(frame)); // "10              $USRCLOSE$"
 * ```
 *
 * @param payload The payload bytes.
 * @param framing The agreed framing.
 * @returns `header ‖ payload`.
 * @throws {MessageTooLarge} When the payload exceeds the limit.
 */
export function encodeFrame(payload: Uint8Array, framing: Framing): Uint8Array {
  const frame = new Uint8Array(framing.headerLen + payload.length);
  framing.writeHeader(frame, 0, payload.length);
  frame.set(payload, framing.headerLen);
  return frame;
}

/**
 * Called with each complete payload: the bytes `bytes[start, end)`. They are
 * given as a range, not a view of their own, because a decoder that makes a
 * typed array per frame spends more on it than on the frame; call
 * `bytes.subarray(start, end)` for a view. `owned` says whether the bytes
 * belong to the receiver for good (`true`) or lie in a buffer the reader will
 * reuse once the callback returns (`false`): copy them to keep them.
 */
export type FrameHandler = (bytes: Uint8Array, start: number, end: number, owned: boolean) => void;

/**
 * Payloads a buggy peer sends without a header, to be recognised where a
 * header was expected (Python hisock 3.0a sends `$KEEPALIVE$`, `$DISCONN$`
 * and its `$GETCLT$` answer that way). Only meaningful with `ascii` headers,
 * whose first byte is always a digit.
 */
export interface UnframedRule {
  /** Reserved words that may arrive bare; none may be a prefix of another. */
  readonly words: readonly Uint8Array[];
  /** Whether a bare JSON object (`{...}`) may arrive too. */
  readonly jsonObjects: boolean;
}

/**
 * A payload up to this long is allocated whole as soon as its header is
 * read; a longer one only once the stream has brought this many bytes.
 */
const ALLOCATION_CREDIT = 64 * 1024;

/** An assembly buffer up to this size is kept for reuse by the next large frame. */
const MAX_SPILL = 16 * 1024 * 1024;
/** After this many frames that needed no assembly, the kept buffer is let go. */
const SPILL_IDLE_FRAMES = 64;

/** The longest bare JSON object accepted, so a broken peer cannot grow memory. */
const MAX_UNFRAMED = 64 * 1024;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOLLAR = 0x24;

/**
 * An incremental frame decoder: feed it chunks of any size, split anywhere,
 * and it calls the handler with each complete payload, in order, without an
 * `await`. A frame that lies inside one chunk is passed as a range of it;
 * only a frame spanning chunks is assembled, into a buffer kept for the next
 * large frame.
 *
 * Memory follows the bytes that really arrived, not what a header claims: a
 * payload's buffer is allocated whole, once its header has been checked
 * against the limit, only when its length is within the connection's
 * allocation credit (64 KiB, or every byte received on it so far, whichever
 * is more). A longer one starts at 64 KiB and grows geometrically as its
 * bytes arrive, so a peer that claims 16 MiB and trickles costs what it sent.
 *
 * After a {@linkcode MalformedHeader} or {@linkcode MessageTooLarge} the
 * stream has lost its framing: the decoder refuses further input.
 *
 * @example Frames split across chunks
 * ```ts
 * import { encodeFrame, FrameDecoder, Framing } from "./framing.ts";
 * const framing = new Framing();
 * const bytes = encodeFrame(new TextEncoder().encode("hello"), framing);
 * const decoder = new FrameDecoder(framing, (bytes, start, end) => {
 *   console.log(new TextDecoder().decode(bytes.subarray(start, end))); // "hello"
 * });
 * decoder.push(bytes.subarray(0, 7), true);
 * decoder.push(bytes.subarray(7), true);
 * ```
 */
export class FrameDecoder {
  readonly #framing: Framing;
  readonly #onFrame: FrameHandler;
  /** Header bytes gathered so far when a header spans chunks (made on first need). */
  #headerBuf: Uint8Array | null = null;
  #headerFill = 0;
  /**
   * The payload being assembled across chunks, or null between frames. Its
   * buffer may be shorter than the payload while the bytes trickle in.
   */
  #payload: Uint8Array | null = null;
  /** The length the header announced for {@linkcode FrameDecoder.#payload}. */
  #payloadLength = 0;
  #payloadFill = 0;
  /** Bytes received on this stream so far: the allocation credit. */
  #received = 0;
  /** The assembly buffer of the last large frame, reused for the next one. */
  #spill: Uint8Array | null = null;
  #framesSinceSpill = 0;
  #failed: Error | null = null;
  readonly #unframed: UnframedRule | null;
  /** Bytes of a bare payload gathered so far, or null when not inside one. */
  #bare: number[] | null = null;
  #bareDepth = 0;
  #bareInString = false;
  #bareEscaped = false;

  /**
   * Makes a decoder that calls `onFrame` with each payload.
   *
   * @param framing The agreed framing.
   * @param onFrame Called with each complete payload.
   * @param unframed Bare payloads to tolerate where a header was expected.
   */
  constructor(framing: Framing, onFrame: FrameHandler, unframed?: UnframedRule) {
    this.#framing = framing;
    this.#onFrame = onFrame;
    this.#unframed = unframed && framing.header === "ascii" ? unframed : null;
  }

  /** Whether a frame has been started but not finished (header or payload). */
  get midFrame(): boolean {
    return this.#headerFill > 0 || this.#payload !== null || this.#bare !== null;
  }

  /**
   * Feeds the next chunk of the stream.
   *
   * @param chunk Bytes in stream order.
   * @param owned Whether `chunk` stays untouched after this call returns, so
   *   that payloads may be passed on as views of it.
   * @throws {MalformedHeader} On a header that is not of the agreed kind.
   * @throws {MessageTooLarge} On a length above the limit.
   */
  push(chunk: Uint8Array, owned: boolean): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#push(chunk, owned);
    } catch (error) {
      this.#failed = error as Error;
      this.#payload = null;
      throw error;
    }
  }

  #push(chunk: Uint8Array, owned: boolean): void {
    const framing = this.#framing;
    const headerLen = framing.headerLen;
    const unframed = this.#unframed;
    const end = chunk.length;
    this.#received += end;
    let offset = 0;
    while (offset < end) {
      // The common case stays in this loop: a whole header at `offset`, its
      // payload in the chunk. Everything else takes one step elsewhere, so
      // that rare paths never disturb the type feedback of this one.
      if (
        this.#payload !== null || this.#headerFill !== 0 || this.#bare !== null ||
        end - offset < headerLen ||
        (unframed !== null && (chunk[offset] === DOLLAR || chunk[offset] === OPEN_BRACE))
      ) {
        offset = this.#step(chunk, offset, end, owned);
        continue;
      }
      const length = framing.readHeader(chunk, offset);
      const start = offset + headerLen;
      if (end - start < length) {
        this.#beginPayload(length, end - start);
        offset = start;
        continue;
      }
      offset = start + length;
      this.#onFrame(chunk, start, offset, owned);
      // Small frames again: the assembly buffer of past large ones may go.
      if (this.#spill !== null && ++this.#framesSinceSpill > SPILL_IDLE_FRAMES) this.#spill = null;
    }
  }

  /**
   * One step of the uncommon cases: more of a payload being assembled, a
   * header split across chunks, or a bare payload.
   *
   * @returns The offset after the bytes consumed.
   */
  #step(chunk: Uint8Array, offset: number, end: number, owned: boolean): number {
    let payload = this.#payload;
    if (payload !== null) {
      const fill = this.#payloadFill;
      const take = Math.min(this.#payloadLength - fill, end - offset);
      if (fill + take > payload.length) payload = this.#grow(fill + take);
      payload.set(chunk.subarray(offset, offset + take), fill);
      this.#payloadFill = fill + take;
      if (this.#payloadFill === this.#payloadLength) this.#deliverAssembled();
      return offset + take;
    }
    if (
      this.#unframed !== null && this.#headerFill === 0 &&
      (this.#bare !== null || chunk[offset] === DOLLAR || chunk[offset] === OPEN_BRACE)
    ) {
      return this.#pushBare(chunk, offset, end);
    }
    const framing = this.#framing;
    const headerLen = framing.headerLen;
    const header = this.#headerBuf ??= new Uint8Array(headerLen);
    const take = Math.min(headerLen - this.#headerFill, end - offset);
    header.set(chunk.subarray(offset, offset + take), this.#headerFill);
    this.#headerFill += take;
    offset += take;
    if (this.#headerFill < headerLen) {
      // Refuse a bad start now rather than wait for bytes that may not come.
      if (framing.header === "ascii") this.#checkHeaderStart();
      return offset;
    }
    this.#headerFill = 0;
    const length = framing.readHeader(header, 0);
    if (end - offset >= length) {
      this.#onFrame(chunk, offset, offset + length, owned);
      return offset + length;
    }
    this.#beginPayload(length, end - offset);
    return offset;
  }

  /**
   * Starts assembling a payload of `length` bytes of which `available` are
   * in the current chunk. Within the credit the whole buffer is ready now;
   * beyond it, only what this chunk holds (at least 64 KiB), grown as bytes
   * come.
   */
  #beginPayload(length: number, available: number): void {
    const credit = Math.max(ALLOCATION_CREDIT, this.#received);
    const wanted = length <= credit ? length : Math.max(ALLOCATION_CREDIT, available);
    const spill = this.#spill;
    // The assembly buffer is reused from frame to frame: fresh memory of
    // this size is zeroed and faulted in page by page, which costs far
    // more than the copy a handler that keeps the bytes makes.
    this.#payload = spill !== null && spill.length >= wanted ? spill : new Uint8Array(wanted);
    this.#payloadLength = length;
    this.#payloadFill = 0;
  }

  /**
   * Checks the part of an ASCII header gathered so far: digits, then spaces.
   *
   * @throws {MalformedHeader} When it cannot become a header.
   */
  #checkHeaderStart(): void {
    const header = this.#headerBuf!;
    const fill = this.#headerFill;
    let i = 0;
    while (i < fill && header[i] >= DIGIT_0 && header[i] <= DIGIT_9) i++;
    if (i === 0) {
      throw new MalformedHeader(header.subarray(0, fill), "no leading decimal digit");
    }
    for (; i < fill; i++) {
      if (header[i] !== SPACE) throw new MalformedHeader(header.subarray(0, fill));
    }
  }

  /**
   * Grows the payload buffer to hold at least `needed` bytes: at least
   * double, at most the announced length, keeping what was filled.
   */
  #grow(needed: number): Uint8Array {
    const old = this.#payload!;
    const size = Math.min(this.#payloadLength, Math.max(needed, old.length * 2));
    const grown = new Uint8Array(size);
    grown.set(old.subarray(0, this.#payloadFill));
    this.#payload = grown;
    return grown;
  }

  /**
   * Hands over a payload assembled across chunks. The buffer is kept for
   * the next large frame, so the payload is lent (`owned` false): a handler
   * that keeps the bytes gets a copy, one that only reads them costs nothing.
   */
  #deliverAssembled(): void {
    const payload = this.#payload!;
    const length = this.#payloadLength;
    this.#payload = null;
    this.#spill = payload.length <= MAX_SPILL ? payload : null;
    this.#framesSinceSpill = 0;
    this.#onFrame(payload, 0, length, false);
  }

  /**
   * Gathers a bare payload byte by byte (they are rare and short) until it
   * is a whole known word or a balanced JSON object, then delivers it.
   *
   * @returns The offset after the bytes consumed.
   * @throws {MalformedHeader} When the bytes cannot become a bare payload.
   */
  #pushBare(chunk: Uint8Array, offset: number, end: number): number {
    const rule = this.#unframed!;
    const bare = this.#bare ??= [];
    while (offset < end) {
      const byte = chunk[offset++];
      bare.push(byte);
      let complete: boolean;
      if (bare[0] === OPEN_BRACE && rule.jsonObjects && bare.length <= MAX_UNFRAMED) {
        complete = this.#jsonStep(byte);
      } else {
        const candidates = rule.words.filter((word) =>
          bare.length <= word.length && bare.every((b, i) => word[i] === b)
        );
        if (candidates.length === 0) {
          throw new MalformedHeader(
            Uint8Array.from(bare.slice(0, 64)),
            "neither a header nor a known bare word",
          );
        }
        complete = candidates.some((word) => word.length === bare.length);
      }
      if (complete) {
        this.#bare = null;
        this.#onFrame(Uint8Array.from(bare), 0, bare.length, true);
        return offset;
      }
    }
    return offset;
  }

  /** Tracks a JSON object's nesting, outside strings; true when it closes. */
  #jsonStep(byte: number): boolean {
    if (this.#bareInString) {
      if (this.#bareEscaped) this.#bareEscaped = false;
      else if (byte === BACKSLASH) this.#bareEscaped = true;
      else if (byte === QUOTE) this.#bareInString = false;
      return false;
    }
    if (byte === QUOTE) this.#bareInString = true;
    else if (byte === OPEN_BRACE) this.#bareDepth++;
    else if (byte === CLOSE_BRACE) return --this.#bareDepth === 0;
    return false;
  }

  /**
   * When a large payload is being assembled, the part of its buffer still to
   * be filled, so that a reader can read straight into it and skip a copy;
   * otherwise `null`. The buffer grows (geometrically, as bytes arrive) so
   * that the target holds at least `minimum` bytes, but it may hold fewer
   * than the payload still lacks. Report what was read with
   * {@linkcode FrameDecoder.commitDirect}.
   *
   * @param minimum Only offer a target at least this large.
   * @returns The unfilled tail of the payload's buffer, or `null`.
   */
  directTarget(minimum: number): Uint8Array | null {
    let payload = this.#payload;
    if (payload === null || this.#payloadLength - this.#payloadFill < minimum) return null;
    if (payload.length - this.#payloadFill < minimum) {
      payload = this.#grow(this.#payloadFill + Math.max(minimum, 1));
    }
    // The buffer may be a reused one longer than this frame: stop at its end.
    return payload.subarray(this.#payloadFill, this.#payloadLength);
  }

  /**
   * Accounts for `count` bytes read into the array {@linkcode FrameDecoder.directTarget}
   * returned, and delivers the payload when it is complete.
   *
   * @param count How many bytes the read placed there.
   */
  commitDirect(count: number): void {
    const payload = this.#payload;
    if (payload === null) throw new Error("commitDirect without a direct target");
    this.#received += count;
    this.#payloadFill += count;
    if (this.#payloadFill === this.#payloadLength) this.#deliverAssembled();
  }
}

const textEncoder = new TextEncoder();
const NO_BYTES = new Uint8Array(0);

/**
 * A source of reusable buffers for a {@linkcode FrameWriter} (a pool).
 *
 * @example A pool that keeps nothing
 * ```ts
 * import type { BufferSource } from "./framing.ts";
 * const none: BufferSource = { take: () => undefined, give: () => {} };
 * console.log(none.take(1024)); // undefined
 * ```
 */
export interface BufferSource {
  /** A buffer of exactly `size` bytes whose contents may be overwritten, if one is at hand. */
  take(size: number): Uint8Array | undefined;
  /** A buffer the writer no longer uses. */
  give(buffer: Uint8Array): void;
}

/**
 * Up to this many bytes are copied in a plain loop rather than with
 * `Uint8Array.prototype.set`, whose call costs more than a short copy. The
 * loop costs about a nanosecond and a half a byte, the call some 20–30 ns
 * whatever the size, on Deno and Node alike (Xeon, AVX-512): they cross near
 * 8–12 bytes. At 64, a command's 31-byte head and 32-byte content went
 * through the loop, and a client's send took 255 ns on Node, 107 on Deno,
 * against 110 and 83 with `set` (in-process, medians of 5).
 */
const SMALL_COPY = 8;
/**
 * Up to this many UTF-16 units of text are written by a loop that handles
 * ASCII, rather than by `TextEncoder.encodeInto`, which costs a call into the
 * runtime and a view per string.
 */
const SMALL_TEXT = 64;

const DEFAULT_FRAMING = new Framing();

/**
 * The framing for a peer's options: one shared instance when they leave
 * every framing option at its default (most peers), a new one otherwise.
 * Sharing it saves an object per client, and lets caches keyed by framing
 * (see `commandFrameHead`) serve every client of a process.
 *
 * @example
 * ```ts
 * import { framingFor } from "./framing.ts";
 * console.log(framingFor({}) === framingFor({ name: "alice" } as never)); // true
 * console.log(framingFor({ headerLen: 8 }).headerLen); // 8
 * ```
 *
 * @param options The peer's options (other keys are ignored).
 * @returns The framing.
 * @throws {RangeError} When an option is out of range.
 */
export function framingFor(options: FramingOptions): Framing {
  if (
    options.headerLen === undefined && options.header === undefined &&
    options.maxMessageSize === undefined
  ) {
    return DEFAULT_FRAMING;
  }
  return new Framing(options);
}

/**
 * A growable output buffer that frames are encoded straight into: the header
 * is reserved, the payload parts appended, then the header filled in. Many
 * small frames thus end up contiguous, ready to leave in one write.
 *
 * @example Two frames in one buffer
 * ```ts
 * import { Framing, FrameWriter } from "./framing.ts";
 * const writer = new FrameWriter(new Framing({ headerLen: 4 }));
 * writer.begin();
 * writer.text("hi");
 * writer.end();
 * writer.frame(new TextEncoder().encode("yo"));
 * console.log(new TextDecoder().decode(writer.take())); // "2   hi2   yo"
 * ```
 */
export class FrameWriter {
  /** The agreed framing. */
  readonly framing: Framing;
  #buffer: Uint8Array;
  #length = 0;
  #frameStart = -1;

  readonly #buffers: BufferSource | undefined;

  /**
   * Makes an empty writer.
   *
   * @param framing The agreed framing.
   * @param initialSize The buffer's first capacity in bytes.
   * @param buffers Where to take bigger buffers from, and give outgrown ones
   *   back to, when the writer grows (fresh large buffers are costly).
   */
  constructor(framing: Framing, initialSize = 1024, buffers?: BufferSource) {
    this.framing = framing;
    // Thousands of idle connections share one empty array until they write.
    this.#buffer = initialSize === 0 ? NO_BYTES : new Uint8Array(initialSize);
    this.#buffers = buffers;
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /** The size of the buffer being written into. */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** Makes room for `extra` more bytes; callers check first, so this only grows. */
  #grow(extra: number): void {
    const needed = this.#length + extra;
    let size = Math.max(this.#buffer.length * 2, 256);
    while (size < needed) size *= 2;
    const old = this.#buffer;
    const grown = this.#buffers?.take(size) ?? new Uint8Array(size);
    grown.set(old.subarray(0, this.#length));
    this.#buffer = grown;
    this.#buffers?.give(old);
  }

  /** Starts a frame: reserves its header. */
  begin(): void {
    if (this.#frameStart !== -1) throw new Error("a frame is already open");
    const headerLen = this.framing.headerLen;
    if (this.#length + headerLen > this.#buffer.length) this.#grow(headerLen);
    this.#frameStart = this.#length;
    this.#length += headerLen;
  }

  /**
   * Appends bytes to the open frame's payload.
   *
   * @param bytes The bytes to append.
   */
  bytes(bytes: Uint8Array): void {
    const count = bytes.length;
    if (this.#length + count > this.#buffer.length) this.#grow(count);
    const buffer = this.#buffer;
    const at = this.#length;
    if (count <= SMALL_COPY) {
      // A few bytes copy faster in a loop than through the builtin set().
      for (let i = 0; i < count; i++) buffer[at + i] = bytes[i];
    } else buffer.set(bytes, at);
    this.#length = at + count;
  }

  /**
   * Appends a whole frame given as two parts: `head`, whose header is
   * already filled in for the whole payload, and `tail`, the rest of the
   * payload (see `commandFrameHead` in `dialect_common.ts`).
   *
   * @param head The header and the payload's first bytes.
   * @param tail The payload's last bytes; the header must count them.
   */
  framed(head: Uint8Array, tail: Uint8Array): void {
    if (this.#frameStart !== -1) throw new Error("a frame is open");
    this.bytes(head);
    this.bytes(tail);
  }

  /**
   * Appends text, as UTF-8, to the open frame's payload.
   *
   * @param text The text to append.
   */
  text(text: string): void {
    const units = text.length;
    // Three bytes per UTF-16 unit is UTF-8's worst case.
    if (this.#length + units * 3 > this.#buffer.length) this.#grow(units * 3);
    const buffer = this.#buffer;
    const at = this.#length;
    if (units <= SMALL_TEXT) {
      // Short ASCII (command names, numbers) is written here: encodeInto
      // costs a call into the runtime and a view per string.
      let i = 0;
      for (; i < units; i++) {
        const unit = text.charCodeAt(i);
        if (unit >= 0x80) break;
        buffer[at + i] = unit;
      }
      if (i === units) {
        this.#length = at + units;
        return;
      }
    }
    const { written } = textEncoder.encodeInto(text, buffer.subarray(at));
    this.#length = at + written;
  }

  /**
   * Appends one byte to the open frame's payload.
   *
   * @param byte The byte value, 0–255.
   */
  byte(byte: number): void {
    if (this.#length + 1 > this.#buffer.length) this.#grow(1);
    this.#buffer[this.#length++] = byte;
  }

  /**
   * Closes the open frame by writing its header. When the payload is too
   * large the frame is removed again, leaving earlier frames intact.
   *
   * @throws {MessageTooLarge} When the payload exceeds the limit.
   */
  end(): void {
    const start = this.#frameStart;
    if (start === -1) throw new Error("no frame is open");
    this.#frameStart = -1;
    const payloadLength = this.#length - start - this.framing.headerLen;
    try {
      this.framing.writeHeader(this.#buffer, start, payloadLength);
    } catch (error) {
      this.#length = start;
      throw error;
    }
  }

  /** Drops the open frame, if any, keeping earlier frames. */
  abort(): void {
    if (this.#frameStart === -1) return;
    this.#length = this.#frameStart;
    this.#frameStart = -1;
  }

  /**
   * Appends a whole frame around `payload`.
   *
   * @param payload The payload bytes.
   * @throws {MessageTooLarge} When the payload exceeds the limit.
   */
  frame(payload: Uint8Array): void {
    if (payload.length > this.framing.maxPayload) {
      throw new MessageTooLarge(payload.length, this.framing.maxPayload);
    }
    this.begin();
    this.bytes(payload);
    this.end();
  }

  /**
   * Appends bytes that are already framed (a broadcast encoded once).
   *
   * @param frames Complete frames.
   */
  raw(frames: Uint8Array): void {
    if (this.#frameStart !== -1) throw new Error("a frame is open");
    this.bytes(frames);
  }

  /**
   * Returns a copy of everything written and empties the writer.
   *
   * @returns The frames written so far.
   */
  take(): Uint8Array {
    if (this.#frameStart !== -1) throw new Error("a frame is open");
    const out = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    return out;
  }

  /**
   * A view of what was written from `start` on, without a copy. It stays
   * valid as long as nothing overwrites those bytes: the writer must not be
   * emptied and refilled in the same buffer while the view is in use.
   *
   * @param start Where the bytes begin (a past {@linkcode FrameWriter.length}).
   * @returns The bytes from `start` to the end of what was written.
   */
  since(start: number): Uint8Array {
    if (this.#frameStart !== -1) throw new Error("a frame is open");
    return this.#buffer.subarray(start, this.#length);
  }

  /**
   * Hands over the internal buffer without a copy and continues in
   * `replacement`: for a writer whose frames are about to be written out and
   * not read again here.
   *
   * @param replacement The empty buffer to continue in.
   * @returns The frames written so far, as a view of the old buffer.
   */
  detach(replacement: Uint8Array): Uint8Array {
    if (this.#frameStart !== -1) throw new Error("a frame is open");
    const out = this.#buffer.subarray(0, this.#length);
    // An empty replacement is fine: the first frame grows it.
    this.#buffer = replacement;
    this.#length = 0;
    return out;
  }
}
