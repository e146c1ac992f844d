/**
 * The address forms accepted by `startServer` and `connect`.
 *
 * @module
 */

/**
 * Where a server listens or a client connects: `[hostname, port]`, as in
 * Python hisock, or `{ hostname, port }`.
 */
export type Address = readonly [string, number] | {
  readonly hostname: string;
  readonly port: number;
};

/**
 * Reads an {@linkcode Address}.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * console.log(parseAddress(["127.0.0.1", 5000])); // { hostname: "127.0.0.1", port: 5000 }
 * ```
 *
 * @param addr The address.
 * @returns Its hostname and port.
 * @throws {TypeError} When it is not one of the two forms, or the port is
 *   not an integer from 0 to 65535.
 */
export function parseAddress(addr: Address): { hostname: string; port: number } {
  let hostname: unknown;
  let port: unknown;
  if (Array.isArray(addr)) {
    if (addr.length !== 2) throw new TypeError("an address must be [hostname, port]");
    [hostname, port] = addr;
  } else if (addr !== null && typeof addr === "object") {
    ({ hostname, port } = addr as { hostname: unknown; port: unknown });
  } else {
    throw new TypeError("an address must be [hostname, port] or { hostname, port }");
  }
  if (typeof hostname !== "string" || hostname.length === 0) {
    throw new TypeError("an address's hostname must be a non-empty string");
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(
      `an address's port must be an integer from 0 to 65535, not ${String(port)}`,
    );
  }
  return { hostname, port };
}
