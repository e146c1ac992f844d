/**
 * Dialect v3: what Python hisock 3.0a (the repository's unreleased head)
 * speaks.
 *
 * - hello: `$CLTHELLO$` + `{"name": ..., "group": ...}`
 * - command: `$CMD$` + command + `$MSG$` + an 8-byte space-padded length of a
 *   format string + the format string + the data; no content is `0` and seven
 *   spaces (see {@linkcode encodeTyped} for the format)
 * - raw: a payload that is not a command is read as a command named after the
 *   whole payload, without content (as 3.0a reads it)
 * - presence: `$CLTCONN$` / `$CLTDISCONN$` + client-info JSON with `ipstr`, to
 *   everyone, the joining client included
 * - `$CHNAME$` / `$CHGROUP$` + value (empty keeps the current one),
 *   `$GETCLT$` + name or `host:port`, answered with the client-info JSON
 * - `$KEEPALIVE$` / `$KEEPACK$`, `$DISCONN$`, `$USRCLOSE$`
 *
 * 3.0a servers send `$KEEPALIVE$`, some `$DISCONN$` and the `$GETCLT$` answer
 * without a header: a v3 client reads them anyway. We always send headers.
 *
 * @module
 */

import {
  castBytes,
  type CastResult,
  type CastType,
  decodeUtf8,
  isTuple,
  type Sendable,
  tuple,
} from "./content.ts";
import {
  clientInfoJsonV3,
  commandHeadBytes,
  commandHeads,
  DOLLAR,
  parseClientWord,
  parseHelloJson,
  parseLegacyClientInfoReply,
  parseServerWord,
  payloadOf,
  peekPresence,
  sharedWriters,
  startsWith,
  WORDS,
  writeWord,
} from "./dialect_common.ts";
import type { ClientBoundMessage, Dialect, Hello, ServerBoundMessage } from "./dialect.ts";
import { ProtocolError, TypeCastError, UnsupportedContent } from "./errors.ts";
import type { FrameWriter } from "./framing.ts";
import { pyJsonDumps } from "./pyjson.ts";

const EMPTY = new Uint8Array(0);
const OPEN_BRACE = 0x7b;
const FMT_HEADER_LEN = 8;
const encoder = new TextEncoder();

/**
 * Content of a received v3 command, still encoded: decoded by
 * {@linkcode Dialect.cast}, so that a malformed value is a cast error for one
 * handler rather than a broken connection. `null` tail: no content at all.
 */
class V3Content {
  constructor(readonly tail: Uint8Array | null) {}
}

const NO_CONTENT = new V3Content(null);

/**
 * The v3 codec.
 *
 * @example Parsing a captured Python 3.0a frame
 * ```ts
 * import { v3 } from "./dialect_v3.ts";
 * const message = v3.parseClientBound(new TextEncoder().encode("$CMD$nums$MSG$7       l1i1s1b1ab"));
 * if (message.kind === "command") console.log(v3.cast(message.content, "json", true)); // [1, "a", Uint8Array(1)]
 * ```
 */
export const v3: Dialect = {
  name: "v3",
  announceJoinToSelf: true,
  peekPresence,
  keepaliveByDefault: false,
  unframedToClient: {
    words: [WORDS.keepalive, WORDS.disconnect],
    jsonObjects: true,
  },

  parseHello(payload: Uint8Array): Hello {
    if (!startsWith(payload, WORDS.hello)) throw new ProtocolError("expected a $CLTHELLO$");
    return parseHelloJson(payload.subarray(WORDS.hello.length));
  },

  parseServerBound(bytes: Uint8Array, start = 0, end = bytes.length): ServerBoundMessage {
    const payload = payloadOf(bytes, start, end);
    if (startsWith(payload, WORDS.cmd)) return parseCommand(payload);
    if (payload[0] === DOLLAR) {
      const word = parseClientWord(payload, SERVER_ONLY);
      if (word !== undefined) return word;
    }
    return rawAsCommand(payload);
  },

  parseClientBound(bytes: Uint8Array, start = 0, end = bytes.length): ClientBoundMessage {
    const payload = payloadOf(bytes, start, end);
    if (startsWith(payload, WORDS.cmd)) return parseCommand(payload);
    const word = parseServerWord(payload);
    if (word !== undefined) return word;
    if (payload[0] === OPEN_BRACE) {
      const info = parseLegacyClientInfoReply(payload);
      if (info !== undefined) return { kind: "client_info", info };
    }
    return rawAsCommand(payload);
  },

  cast<T extends CastType>(content: unknown, type: T, owned: boolean): CastResult[T] {
    return castTyped(content, type, owned) as CastResult[T];
  },

  writeHello(writer, name, group, extra) {
    writeWord(writer, WORDS.hello, pyJsonDumps({ name, group, ...extra }));
  },
  writeCommand(writer: FrameWriter, command: string, content: Sendable): void {
    // Encode first: content v3 cannot carry is refused before a byte is written.
    const [format, data] = encodeTyped(content);
    writer.begin();
    try {
      writer.bytes(commandHeadBytes(command));
      const length = String(format.length);
      if (length.length > FMT_HEADER_LEN) {
        throw new UnsupportedContent("the content's format string is too long for v3");
      }
      writer.text(length.padEnd(FMT_HEADER_LEN, " "));
      writer.text(format);
      for (const part of data) writer.bytes(part);
      writer.end();
    } catch (error) {
      writer.abort();
      throw error;
    }
  },
  ...sharedWriters(clientInfoJsonV3),
};

/** `$CMD$name$MSG$<content>`; without `$MSG$` the rest is the command. */
function parseCommand(
  payload: Uint8Array,
): { kind: "command"; command: string; content: V3Content } {
  commandHeads.read(payload);
  const { command, contentAt } = commandHeads;
  if (contentAt === -1) return { kind: "command", command, content: NO_CONTENT };
  const tail = payload.subarray(contentAt);
  // 3.0a reads an empty tail as no content, too.
  return {
    kind: "command",
    command,
    content: tail.length === 0 ? NO_CONTENT : new V3Content(tail),
  };
}

/**
 * 3.0a reads a payload that is not a command as a command named after the
 * whole payload, without content. Bytes that are not text stay raw.
 */
function rawAsCommand(
  payload: Uint8Array,
): { kind: "command"; command: string; content: V3Content } | { kind: "raw"; content: V3Content } {
  try {
    return { kind: "command", command: decodeUtf8(payload), content: NO_CONTENT };
  } catch {
    return { kind: "raw", content: NO_CONTENT };
  }
}

/**
 * Words only a server sends: a client that sends one is refused. A bare
 * `$DISCONN$` from a client stays what v3 makes of any raw payload, a
 * command named after it.
 */
const SERVER_ONLY = [WORDS.hello, WORDS.join, WORDS.leave, WORDS.keepalive];

// Encoding.

/**
 * Encodes a value in v3's typed format: returns the format string and the
 * data parts, to be concatenated.
 *
 * - text: `<UTF-8 length>s`; integers (`number` integers and `bigint`):
 *   `<digits>i` with the decimal digits as data; other numbers (and NaN,
 *   ±Infinity): `4f` with a big-endian IEEE-754 single; `Uint8Array`:
 *   `<length>b`.
 * - a top-level array is `l` + its items' formats, a {@linkcode tuple} `t`,
 *   a `Map` or plain object `d` + keys and values alternating. A nested
 *   container is `<data length>[...]`, `(...)` or `{...}`.
 * - `null` / `undefined` at the top: no content (format `""`).
 *
 * @example
 * ```ts
 * import { encodeTyped } from "./dialect_v3.ts";
 * console.log(encodeTyped([[1, 2], [3]])[0]); // "l2[1i1i]1[1i]"
 * ```
 *
 * @param value The content.
 * @returns `[format, dataParts]`.
 * @throws {UnsupportedContent} For booleans, `null` / `undefined` inside a
 *   container, functions, symbols, other objects, and cycles.
 */
export function encodeTyped(value: Sendable): [string, Uint8Array[]] {
  if (value === null || value === undefined) return ["", []];
  const data: Uint8Array[] = [];
  const seen = new Set<object>();
  if (isContainer(value)) {
    const letter = isTuple(value) ? "t" : Array.isArray(value) ? "l" : "d";
    const inner: string[] = [];
    encodeItems(value, inner, data, seen);
    return [letter + inner.join(""), data];
  }
  const [format] = encodeItem(value, data, seen);
  return [format, data];
}

function isContainer(value: unknown): value is object {
  return value !== null && typeof value === "object" && !(value instanceof Uint8Array);
}

/** Encodes a container's items (keys and values alternating for dicts); returns the data length. */
function encodeItems(
  value: object,
  formats: string[],
  data: Uint8Array[],
  seen: Set<object>,
): number {
  if (seen.has(value)) throw new UnsupportedContent("cyclic content cannot be sent");
  seen.add(value);
  let length = 0;
  const add = (item: unknown) => {
    const [format, size] = encodeItem(item, data, seen);
    formats.push(format);
    length += size;
  };
  if (Array.isArray(value)) {
    for (const item of value) add(item);
  } else if (value instanceof Map) {
    for (const [key, item] of value) {
      if (Array.isArray(key) && !isTuple(key) || key instanceof Map || isPlainObject(key)) {
        throw new UnsupportedContent("a dict key must be a string, number, bytes or tuple");
      }
      add(key);
      add(item);
    }
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      add(key);
      add(item);
    }
  } else {
    throw new UnsupportedContent(`a ${value.constructor?.name ?? "object"} cannot be sent in v3`);
  }
  seen.delete(value);
  return length;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** One item's format and its data length. */
function encodeItem(value: unknown, data: Uint8Array[], seen: Set<object>): [string, number] {
  switch (typeof value) {
    case "string": {
      const bytes = encoder.encode(value);
      data.push(bytes);
      return [`${bytes.length}s`, bytes.length];
    }
    case "number": {
      if (Number.isInteger(value)) {
        return pushInt(
          Math.abs(value) < 1e21 ? String(value === 0 ? 0 : value) : BigInt(value).toString(),
          data,
        );
      }
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setFloat32(0, value, false);
      data.push(bytes);
      return ["4f", 4];
    }
    case "bigint":
      return pushInt(value.toString(), data);
    case "object": {
      if (value === null) break;
      if (value instanceof Uint8Array) {
        data.push(value);
        return [`${value.length}b`, value.length];
      }
      const formats: string[] = [];
      const length = encodeItems(value, formats, data, seen);
      const [open, close] = isTuple(value)
        ? ["(", ")"]
        : Array.isArray(value)
        ? ["[", "]"]
        : ["{", "}"];
      return [`${length}${open}${formats.join("")}${close}`, length];
    }
  }
  const what = value === null || value === undefined
    ? `${value} inside a container`
    : `a ${typeof value}`;
  throw new UnsupportedContent(`${what} cannot be sent in v3`);
}

function pushInt(digits: string, data: Uint8Array[]): [string, number] {
  const bytes = encoder.encode(digits);
  data.push(bytes);
  return [`${bytes.length}i`, bytes.length];
}

// Decoding.

/** A parsed format: a primitive, or a container with its items. */
type Fmt =
  | { kind: "s" | "i" | "f" | "b"; length: number }
  | { kind: "l" | "t" | "d"; length: number; items: Fmt[] };

const CLOSERS: Record<string, string> = { "[": "]", "(": ")", "{": "}" };
const KIND_OF: Record<string, "l" | "t" | "d"> = { "[": "l", "(": "t", "{": "d" };

/**
 * Decodes v3 typed content (the bytes after `$MSG$`): `undefined` for no
 * content; strings, numbers (`bigint` past 2^53), `Uint8Array`, arrays,
 * {@linkcode tuple}s, and plain objects (or a `Map` when some key is not a
 * string).
 *
 * @example
 * ```ts
 * import { decodeTyped } from "./dialect_v3.ts";
 * console.log(decodeTyped(new TextEncoder().encode("7       l1i1s1b1ab"), true));
 * ```
 *
 * @param tail The bytes after `$MSG$`.
 * @param owned Whether byte values may be views of `tail`.
 * @returns The value.
 * @throws {TypeCastError} When the bytes are not valid typed content.
 */
export function decodeTyped(tail: Uint8Array, owned: boolean): unknown {
  if (tail.length === 0) return undefined;
  if (tail.length < FMT_HEADER_LEN) throw malformed("content shorter than its format header");
  const lengthText = latin1(tail.subarray(0, FMT_HEADER_LEN));
  if (!/^\d+ *$/.test(lengthText)) {
    throw malformed(`bad format length ${JSON.stringify(lengthText)}`);
  }
  const formatLength = Number.parseInt(lengthText, 10);
  const formatEnd = FMT_HEADER_LEN + formatLength;
  if (formatEnd > tail.length) throw malformed("the format string runs past the payload");
  const format = latin1(tail.subarray(FMT_HEADER_LEN, formatEnd));
  const data = tail.subarray(formatEnd);
  if (format === "") {
    if (data.length !== 0) throw malformed("data without a format");
    return undefined;
  }
  const reader = new FormatReader(format);
  let top: Fmt;
  const first = format[0];
  if (first === "l" || first === "t" || first === "d") {
    reader.pos = 1;
    const items = reader.items("");
    top = { kind: first, length: data.length, items };
  } else {
    const items = reader.items("");
    // 3.0a reads several top-level primitives without a letter as a list.
    top = items.length === 1 ? items[0] : { kind: "l", length: data.length, items };
  }
  const state = { offset: 0 };
  const value = readValue(top, data, state, owned);
  if (state.offset !== data.length) throw malformed("data left over after the last value");
  return value;
}

/** The deepest nesting read, so a hostile format cannot exhaust the stack. */
const MAX_DEPTH = 200;

class FormatReader {
  pos = 0;
  constructor(readonly format: string) {}

  /** Items up to `closer` (consumed), or to the end of the format when `""`. */
  items(closer: string, depth = 0): Fmt[] {
    if (depth > MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH}`);
    const items: Fmt[] = [];
    const format = this.format;
    while (this.pos < format.length) {
      const char = format[this.pos];
      if (char === closer) {
        this.pos++;
        return items;
      }
      const start = this.pos;
      while (this.pos < format.length && format[this.pos] >= "0" && format[this.pos] <= "9") {
        this.pos++;
      }
      if (this.pos === start || this.pos === format.length) {
        throw malformed(`bad format ${JSON.stringify(format)} at ${start}`);
      }
      const length = Number(format.slice(start, this.pos));
      const kind = format[this.pos++];
      if (kind === "s" || kind === "i" || kind === "f" || kind === "b") {
        items.push({ kind, length });
      } else if (kind in CLOSERS) {
        items.push({ kind: KIND_OF[kind], length, items: this.items(CLOSERS[kind], depth + 1) });
      } else {
        throw malformed(`unknown format letter ${JSON.stringify(kind)}`);
      }
    }
    if (closer !== "") throw malformed(`unclosed container in format ${JSON.stringify(format)}`);
    return items;
  }
}

function readValue(fmt: Fmt, data: Uint8Array, state: { offset: number }, owned: boolean): unknown {
  const start = state.offset;
  const end = start + fmt.length;
  if (end > data.length) throw malformed("a value runs past the data");
  switch (fmt.kind) {
    case "s":
      state.offset = end;
      try {
        return decodeUtf8(data.subarray(start, end));
      } catch {
        throw malformed("a string is not valid UTF-8");
      }
    case "i": {
      state.offset = end;
      const text = latin1(data.subarray(start, end));
      if (!/^[+-]?\d+$/.test(text)) throw malformed(`not an integer: ${JSON.stringify(text)}`);
      const number = Number(text);
      return Number.isSafeInteger(number) ? number : BigInt(text);
    }
    case "f":
      state.offset = end;
      if (fmt.length !== 4) throw malformed("a float must be 4 bytes");
      return new DataView(data.buffer, data.byteOffset + start, 4).getFloat32(0, false);
    case "b":
      state.offset = end;
      return owned ? data.subarray(start, end) : data.slice(start, end);
    default: {
      const items = fmt.items.map((item) => readValue(item, data, state, owned));
      if (state.offset !== end) throw malformed("a container's length does not match its items");
      if (fmt.kind === "l") return items;
      if (fmt.kind === "t") return tuple(...items);
      return makeDict(items);
    }
  }
}

function makeDict(items: unknown[]): unknown {
  if (items.length % 2 !== 0) throw malformed("a dict with an odd number of keys and values");
  let allStrings = true;
  for (let i = 0; i < items.length; i += 2) {
    if (typeof items[i] !== "string") allStrings = false;
  }
  if (!allStrings) {
    const map = new Map<unknown, unknown>();
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
    return map;
  }
  const object: Record<string, unknown> = {};
  for (let i = 0; i < items.length; i += 2) {
    // defineProperty, so that a "__proto__" key is data, not a prototype.
    Object.defineProperty(object, items[i] as string, {
      value: items[i + 1],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return object;
}

function malformed(reason: string): TypeCastError {
  return new TypeCastError("json", `malformed v3 content: ${reason}`);
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return text;
}

// Casting.

/**
 * Casts v3 content to a declared type:
 *
 * | declared | text | integer | float | bytes | nothing | containers |
 * |---|---|---|---|---|---|---|
 * | `json` | as is | as is | as is | as is | `null` | as decoded |
 * | `bytes` | UTF-8 | decimal digits | decimal text | as is | empty | error |
 * | `str` | as is | decimal | decimal | UTF-8 | `""` | error |
 * | `int` / `bigint` / `float` / `bool` | parsed as v2 parses text | converted | converted | parsed | 0 / false | error |
 */
function castTyped(content: unknown, type: CastType, owned: boolean): unknown {
  if (!(content instanceof V3Content)) {
    throw new TypeCastError(type, "not v3 content");
  }
  const value = content.tail === null ? undefined : decodeTyped(content.tail, owned);
  if (type === "json") return value === undefined ? null : value;
  switch (typeof value) {
    case "undefined":
      return castBytes(EMPTY, type, true);
    case "string":
      return type === "str" ? value : castBytes(encoder.encode(value), type, true);
    case "number":
    case "bigint":
      return castNumber(value, type);
    case "object":
      if (value instanceof Uint8Array) return castBytes(value, type, true);
  }
  const what = Array.isArray(value) ? (isTuple(value) ? "a tuple" : "a list") : "a dict";
  throw new TypeCastError(type, `${what} cannot be cast to ${type}; declare "json"`);
}

function castNumber(value: number | bigint, type: CastType): unknown {
  switch (type) {
    case "int":
      if (typeof value === "number" && Number.isSafeInteger(value)) return value;
      throw new TypeCastError(
        type,
        typeof value === "bigint"
          ? `${value} is not a safe integer; declare "bigint"`
          : `${value} is not an integer`,
      );
    case "bigint":
      if (typeof value === "bigint") return value;
      if (Number.isInteger(value)) return BigInt(value);
      throw new TypeCastError(type, `${value} is not an integer`);
    case "float":
      return Number(value);
    case "bool":
      return typeof value === "bigint" ? value !== 0n : value !== 0 && !Number.isNaN(value);
    case "str":
      return String(value);
    default:
      return encoder.encode(String(value));
  }
}
