/**
 * Values in one comparable form, shared by the capture replay and the live
 * interop tests: what `interop/py_scenarios.py` prints for a received value
 * (`{"t": ...}`), and the same form for what our peers received.
 *
 * @module
 */

import { castBytes, isTuple } from "../content.ts";
import type { Dialect } from "../dialect.ts";

// deno-lint-ignore no-explicit-any
export type PyEvent = Record<string, any>;

/** Bytes to standard base64. */
export const toB64 = (bytes: Uint8Array): string => {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return btoa(text);
};

/** A value in comparable form. */
export type Canon = unknown;

/** The Python side's typed value, with 3.0a's float-as-1-tuple bug undone. */
export function canonPy(value: PyEvent, dialect: string): Canon {
  switch (value.t) {
    case "none":
      return ["none"];
    case "bool":
    case "str":
      return [value.t, value.v];
    case "int":
      return ["int", String(value.v)];
    case "float":
      return ["float", value.v];
    case "bytes":
      return ["bytes", value.b64];
    case "tuple":
      // 3.0a decodes a float as a 1-tuple (README item 18): we decode a number.
      if (dialect === "v3" && value.v.length === 1 && value.v[0].t === "float") {
        return canonPy(value.v[0], dialect);
      }
      return ["tuple", value.v.map((item: PyEvent) => canonPy(item, dialect))];
    case "list":
      return ["list", value.v.map((item: PyEvent) => canonPy(item, dialect))];
    case "dict":
      return [
        "dict",
        value.v.map(([k, v]: PyEvent[]) => [canonPy(k, dialect), canonPy(v, dialect)]),
      ];
  }
  return ["?", value];
}

/** A JavaScript value (v3 decoded content, or parsed JSON) in the same form. */
export function canonJs(value: unknown): Canon {
  if (value === null || value === undefined) return ["none"];
  switch (typeof value) {
    case "boolean":
      return ["bool", value];
    case "string":
      return ["str", value];
    case "bigint":
      return ["int", value.toString()];
    case "number":
      return Number.isInteger(value) ? ["int", String(value)] : ["float", value];
  }
  if (value instanceof Uint8Array) return ["bytes", toB64(value)];
  if (Array.isArray(value)) return [isTuple(value) ? "tuple" : "list", value.map(canonJs)];
  const entries = value instanceof Map ? [...value] : Object.entries(value as object);
  return ["dict", entries.map(([k, v]) => [canonJs(k), canonJs(v)])];
}

/**
 * Our received content as the Python side typed it. v3 content is
 * self-describing; v1/v2 bytes are cast to the type the Python handler
 * declared, which its typed output reveals.
 */
export function canonOurs(dialect: Dialect, content: unknown, like: Canon): Canon {
  if (dialect.name === "v3") return canonJs(content);
  const bytes = content as Uint8Array;
  const kind = (like as [string])[0];
  switch (kind) {
    case "none":
      // 2.0.2 reads empty content as None.
      return bytes.length === 0 ? ["none"] : ["bytes", toB64(bytes)];
    case "str":
      return ["str", castBytes(bytes, "str", true)];
    case "int":
      return ["int", castBytes(bytes, "bigint", true).toString()];
    case "float":
      return ["float", castBytes(bytes, "float", true)];
    case "bytes":
      return ["bytes", toB64(bytes)];
    default:
      return canonJs(castBytes(bytes, "json", true));
  }
}
