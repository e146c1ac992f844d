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
  return dump(value, null);
}

/**
 * `ancestors`: the objects being dumped around `value`, for cycles; made by
 * the first object met, since most content is one flat object or a scalar.
 * Built by concatenation, without a Set, entry pairs or parts to join: this
 * runs for every hello, announcement and JSON send.
 */
function dump(value: unknown, ancestors: object[] | null): string {
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
      if (ancestors !== null && ancestors.includes(value)) {
        throw new UnsupportedContent("cyclic content cannot be sent");
      }
      const stack = ancestors ?? [];
      stack.push(value);
      let text: string;
      if (Array.isArray(value)) {
        text = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) text += ", ";
          text += dump(value[i], stack);
        }
        text += "]";
      } else {
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record);
        text = "{";
        let first = true;
        for (let i = 0; i < keys.length; i++) {
          const item = record[keys[i]];
          if (item === undefined) continue;
          if (!first) text += ", ";
          first = false;
          text += quoteString(keys[i]) + ": " + dump(item, stack);
        }
        text += "}";
      }
      stack.pop();
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
