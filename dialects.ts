/**
 * The dialects this library speaks, by name.
 *
 * @module
 */

import type { Dialect, DialectName } from "./dialect.ts";
import { v1 } from "./dialect_v1.ts";
import { v2 } from "./dialect_v2.ts";
import { v3 } from "./dialect_v3.ts";

const DIALECTS: Record<string, Dialect> = { v1, v2, v3 };

/** The dialect used when none is given: v2, what `pip install hisock` speaks. */
export const DEFAULT_DIALECT: DialectName = "v2";

/**
 * The codec for a dialect name (or the codec itself, passed through).
 *
 * @example
 * ```ts
 * import { resolveDialect } from "./dialects.ts";
 * console.log(resolveDialect("v2").name); // "v2"
 * ```
 *
 * @param dialect A name, a codec, or `undefined` for the default.
 * @returns The codec.
 * @throws {RangeError} For an unknown name.
 */
export function resolveDialect(dialect: DialectName | Dialect | undefined): Dialect {
  if (dialect === undefined) return DIALECTS[DEFAULT_DIALECT];
  if (typeof dialect === "object" && dialect !== null) return dialect;
  const codec = DIALECTS[dialect];
  if (codec === undefined) {
    throw new RangeError(
      `unknown dialect ${JSON.stringify(dialect)}; known: ${Object.keys(DIALECTS).join(", ")}`,
    );
  }
  return codec;
}
