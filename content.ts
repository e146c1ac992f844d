/**
 * What a message may carry, and how received content is cast to the type a
 * handler declares. TypeScript's types vanish at run time, so where Python
 * hisock read a handler's type hints, a handler here names its type with a
 * word: `on("score", "int", (client, score) => ...)`.
 *
 * @module
 */

import { TypeCastError } from "./errors.ts";

/** A JSON value, as `JSON.stringify` and Python's `json.dumps` both write it. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * What may be sent as a message's content: bytes, text, numbers, booleans,
 * `null` / `undefined` (no content), or a JSON value. Each dialect says how it
 * spells each one on the wire.
 */
export type Sendable =
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | readonly Sendable[]
  | ReadonlyMap<Sendable, Sendable>
  | { readonly [key: string]: Sendable };

const TUPLES = new WeakSet<readonly unknown[]>();

/**
 * Makes a tuple: a frozen array marked as a tuple, which dialect v3 sends as
 * a Python `tuple` (format `t`) instead of a `list`. Tuples v3 receives are
 * such arrays too. Other dialects send a tuple as the JSON array it is.
 *
 * @example
 * ```ts
 * import { isTuple, tuple } from "./content.ts";
 * const point = tuple(1, 2);
 * console.log(isTuple(point), isTuple([1, 2])); // true false
 * ```
 *
 * @param items The tuple's items.
 * @returns A frozen array that {@linkcode isTuple} recognises.
 */
export function tuple<T extends readonly unknown[]>(...items: T): Readonly<T> {
  const value = Object.freeze(items);
  TUPLES.add(value);
  return value;
}

/**
 * Whether a value was made by {@linkcode tuple} (or decoded from a v3 tuple).
 *
 * @example
 * ```ts
 * import { isTuple, tuple } from "./content.ts";
 * console.log(isTuple(tuple()), isTuple([])); // true false
 * ```
 *
 * @param value Any value.
 * @returns `true` for a tuple.
 */
export function isTuple(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && TUPLES.has(value);
}

/** The words a handler may declare its content type with. */
export type CastType = "bytes" | "view" | "str" | "int" | "bigint" | "float" | "bool" | "json";

/** The TypeScript type each {@linkcode CastType} word produces. */
export interface CastResult {
  /** Raw bytes, as received; the handler may keep them. */
  bytes: Uint8Array;
  /**
   * Raw bytes lent for the synchronous part of the handler only (no copy):
   * read them before returning or awaiting, or copy what you keep. With
   * `dispatch: "manual"` handlers run later, so they get a copy anyway.
   */
  view: Uint8Array;
  /** UTF-8 text. */
  str: string;
  /** A safe integer. */
  int: number;
  /** An integer of any size. */
  bigint: bigint;
  /** A number. */
  float: number;
  /** A boolean. */
  bool: boolean;
  /** A parsed JSON value (or, in v3, the decoded typed value). */
  json: unknown;
}

/** Every valid {@linkcode CastType}, for validating untyped callers. */
export const CAST_TYPES: ReadonlySet<string> = new Set([
  "bytes",
  "view",
  "str",
  "int",
  "bigint",
  "float",
  "bool",
  "json",
]);

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 strictly.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./content.ts";
 * console.log(decodeUtf8(new Uint8Array([0x68, 0x69]))); // "hi"
 * ```
 *
 * @param bytes The bytes to decode.
 * @returns The text.
 * @throws {TypeError} On invalid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const length = bytes.length;
  if (length <= SHORT_TEXT) {
    // Short ASCII, the usual command name or number: a TextDecoder call costs
    // far more than building the string here (measured 3x on 5–16 bytes).
    let text = "";
    for (let i = 0; i < length; i++) {
      const byte = bytes[i];
      if (byte >= 0x80) return strictDecoder.decode(bytes);
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return strictDecoder.decode(bytes);
}

/** Texts up to this many bytes are tried as ASCII before the TextDecoder. */
const SHORT_TEXT = 24;

/**
 * Copies of small payloads are cut from a shared slab, as Node's `Buffer`
 * does: allocating a typed array measured about 0.4–0.7 µs in Deno whatever
 * its size, against well under 0.1 µs for a view of a slab. A kept copy thus
 * keeps its slab (at most {@linkcode SLAB_SIZE} bytes) alive, and its
 * `.buffer` is the slab's: use `byteOffset` and `byteLength` with it.
 */
const SLAB_SIZE = 8 * 1024;
/** Payloads above this size get an array of their own. */
const SLAB_MAX = 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * A copy of `bytes` that the caller may keep. Small copies are views of a
 * shared slab (see {@linkcode SLAB_SIZE}).
 *
 * @param bytes The bytes to copy.
 * @returns A copy, of the same length.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  if (length > SLAB_MAX) return bytes.slice();
  if (slabUsed + length > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const start = slabUsed;
  if (length <= 64) {
    for (let i = 0; i < length; i++) slab[start + i] = bytes[i];
  } else slab.set(bytes, start);
  slabUsed = start + length;
  return slab.subarray(start, start + length);
}

/**
 * Content that is a range of a larger buffer, `bytes[start, end)`, not yet
 * made into a view of its own. A dialect that reads commands in place (see
 * `Dialect.readCommand`) gives its content in this form, so that a handler
 * that takes no content costs no view; {@linkcode contentBytes} makes the
 * view when content is cast. One range is reused for every message: it is
 * valid only while the message is being dispatched.
 *
 * @example
 * ```ts
 * import { BytesRange, contentBytes } from "./content.ts";
 * const range = new BytesRange();
 * range.set(new TextEncoder().encode("$CMD$a$MSG$hi"), 11, 13);
 * console.log(new TextDecoder().decode(contentBytes(range))); // "hi"
 * ```
 */
export class BytesRange {
  /** The buffer the content lies in. */
  bytes: Uint8Array = NO_BYTES;
  /** Index of the content's first byte. */
  start = 0;
  /** Index after its last byte. */
  end = 0;

  /**
   * Points the range at `bytes[start, end)`.
   *
   * @param bytes The buffer.
   * @param start Index of the first byte.
   * @param end Index after the last byte.
   */
  set(bytes: Uint8Array, start: number, end: number): void {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
  }
}

const NO_BYTES = new Uint8Array(0);

/**
 * The bytes of content received as bytes: the content itself, or a view of
 * a {@linkcode BytesRange}.
 *
 * @example
 * ```ts
 * import { contentBytes } from "./content.ts";
 * console.log(contentBytes(new Uint8Array([1, 2])).length); // 2
 * ```
 *
 * @param content A `Uint8Array` or a {@linkcode BytesRange}.
 * @returns The bytes.
 */
export function contentBytes(content: unknown): Uint8Array {
  if (content instanceof BytesRange) {
    return content.start === content.end
      ? NO_BYTES
      : content.bytes.subarray(content.start, content.end);
  }
  return content as Uint8Array;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;
const FLOAT = /^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)\s*$/i;

/**
 * Casts content received as bytes (dialects v1 and v2) to a declared type,
 * reading the bytes the way a Python hisock peer writes each type: numbers as
 * decimal text, `True` as the single byte 0x00 and `False` / `None` as nothing,
 * lists and dicts as JSON.
 *
 * @example
 * ```ts
 * import { castBytes } from "./content.ts";
 * console.log(castBytes(new TextEncoder().encode("42"), "int", true)); // 42
 * ```
 *
 * @param bytes The content as received.
 * @param type The declared type.
 * @param owned Whether `bytes` may be kept as is; otherwise `"bytes"` gets a
 *   copy (for small payloads, a view of a shared slab: see {@linkcode copyBytes}).
 * @returns The content as the declared type.
 * @throws {TypeCastError} When the bytes are not a value of that type.
 */
export function castBytes<T extends CastType>(
  bytes: Uint8Array,
  type: T,
  owned: boolean,
): CastResult[T];
export function castBytes(bytes: Uint8Array, type: CastType, owned: boolean): unknown {
  switch (type) {
    case "view":
      return bytes;
    case "bytes":
      return owned ? bytes : copyBytes(bytes);
    case "str":
      return textOf(bytes, type);
    case "int": {
      if (bytes.length === 0) return 0;
      const text = textOf(bytes, type);
      if (!INTEGER.test(text)) throw new TypeCastError(type, `not an integer: ${quote(text)}`);
      const value = Number(text);
      if (!Number.isSafeInteger(value)) {
        throw new TypeCastError(type, `${quote(text)} is not a safe integer; declare "bigint"`);
      }
      return value;
    }
    case "bigint": {
      if (bytes.length === 0) return 0n;
      const text = textOf(bytes, type);
      if (!INTEGER.test(text)) throw new TypeCastError(type, `not an integer: ${quote(text)}`);
      return BigInt(text.trim());
    }
    case "float": {
      if (bytes.length === 0) return 0;
      const text = textOf(bytes, type).trim();
      if (!FLOAT.test(text)) throw new TypeCastError(type, `not a number: ${quote(text)}`);
      const lower = text.toLowerCase().replace(/^\+/, "");
      if (lower.endsWith("nan")) return NaN;
      if (lower.endsWith("inf") || lower.endsWith("infinity")) {
        return lower.startsWith("-") ? -Infinity : Infinity;
      }
      return Number(text);
    }
    case "bool":
      return boolOf(bytes);
    case "json": {
      // Python sends None as nothing, so nothing is null.
      if (bytes.length === 0) return null;
      const text = textOf(bytes, type);
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new TypeCastError(type, `invalid JSON: ${(error as Error).message}`);
      }
    }
    default:
      throw new TypeCastError(String(type), "unknown type");
  }
}

function textOf(bytes: Uint8Array, type: CastType): string {
  try {
    return decodeUtf8(bytes);
  } catch {
    throw new TypeCastError(type, "invalid UTF-8");
  }
}

/** Python's `bytes(True)` is one zero byte and `bytes(False)` is empty. */
function boolOf(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  if (bytes.length === 1 && bytes[0] === 0) return true;
  const text = textOf(bytes, "bool").trim();
  if (text === "true" || text === "True" || text === "1") return true;
  if (text === "false" || text === "False" || text === "0") return false;
  throw new TypeCastError("bool", `not a boolean: ${quote(text)}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + "…" : text);
}
