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
  | { readonly [key: string]: Sendable };

/** The words a handler may declare its content type with. */
export type CastType = "bytes" | "str" | "int" | "bigint" | "float" | "bool" | "json";

/** The TypeScript type each {@linkcode CastType} word produces. */
export interface CastResult {
  /** Raw bytes, as received. */
  bytes: Uint8Array;
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
  return strictDecoder.decode(bytes);
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
 * @param owned Whether `bytes` may be kept as is; otherwise `"bytes"` gets a copy.
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
    case "bytes":
      return owned ? bytes : bytes.slice();
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
