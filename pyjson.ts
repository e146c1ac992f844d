/**
 * JSON written the way Python's `json.dumps` writes it by default, so that the
 * hello and presence messages we send are byte for byte what a Python peer
 * sends: `", "` between items, `": "` after keys, every non-ASCII character
 * escaped as `\uXXXX`.
 *
 * @module
 */

import { UnsupportedContent } from "./errors.ts";

/**
 * Serialises a value as Python's `json.dumps(value)` does.
 *
 * Integers are written without a fraction (`1`), as JavaScript has no separate
 * float type; `bigint` is written as an integer; `NaN` and the infinities as
 * Python spells them. `undefined` in an object is skipped, and in an array is
 * `null`, as `JSON.stringify` does.
 *
 * @example
 * ```ts
 * import { pyJsonDumps } from "./pyjson.ts";
 * console.log(pyJsonDumps({ name: "zoë", group: null }));
 * // {"name": "zo\u00eb", "group": null}
 * ```
 *
 * @param value The value to serialise.
 * @returns The JSON text, ASCII only.
 * @throws {UnsupportedContent} For values JSON cannot hold (bytes, functions,
 *   symbols, cycles).
 */
export function pyJsonDumps(value: unknown): string {
  return dump(value, new Set());
}

function dump(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case "string":
      return quoteString(value);
    case "number":
      if (Number.isNaN(value)) return "NaN";
      if (value === Infinity) return "Infinity";
      if (value === -Infinity) return "-Infinity";
      return String(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
      return "null";
    case "object": {
      if (value === null) return "null";
      if (value instanceof Uint8Array) {
        throw new UnsupportedContent("bytes cannot be nested inside JSON content");
      }
      if (seen.has(value)) throw new UnsupportedContent("cyclic content cannot be sent");
      seen.add(value);
      let text: string;
      if (Array.isArray(value)) {
        text = "[" + value.map((item) => dump(item, seen)).join(", ") + "]";
      } else {
        const parts: string[] = [];
        for (const [key, item] of Object.entries(value)) {
          if (item === undefined) continue;
          parts.push(quoteString(key) + ": " + dump(item, seen));
        }
        text = "{" + parts.join(", ") + "}";
      }
      seen.delete(value);
      return text;
    }
    default:
      throw new UnsupportedContent(`a ${typeof value} cannot be sent as JSON`);
  }
}

// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

function quoteString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return '"' + text + '"';
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const char = text[i];
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (char === "\b") out += "\\b";
    else if (char === "\f") out += "\\f";
    else if (code < 0x20 || code > 0x7e) {
      // Python escapes DEL (0x7f) too under ensure_ascii; surrogate pairs stay
      // as two escapes, exactly as Python writes astral characters.
      out += "\\u" + code.toString(16).padStart(4, "0");
    } else out += char;
  }
  return out + '"';
}
