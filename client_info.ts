/**
 * Who a client is: its address, name and group, and the ways a caller may
 * refer to one.
 *
 * @module
 */

/**
 * A snapshot of a connected client, as handlers and lookups see it. A rename
 * or regroup makes a new snapshot; old ones keep their values.
 *
 * @example
 * ```ts
 * import type { ClientInfo } from "./client_info.ts";
 * const info: ClientInfo = {
 *   ip: ["127.0.0.1", 34208],
 *   ipstr: "127.0.0.1:34208",
 *   name: "alice",
 *   group: "g1",
 * };
 * console.log(info.ipstr);
 * ```
 */
export interface ClientInfo {
  /** The client's address as `[host, port]`, as Python hisock gives it. */
  readonly ip: readonly [string, number];
  /** The same address as `"host:port"` (IPv6 hosts in brackets). */
  readonly ipstr: string;
  /** The client's name, or `null` when it has none. */
  readonly name: string | null;
  /** The client's group, or `null` when it is in none. */
  readonly group: string | null;
}

/**
 * A way to name a client: its name, `"host:port"`, `[host, port]`, or a
 * {@linkcode ClientInfo} (by its address).
 */
export type ClientRef = string | readonly [string, number] | ClientInfo;

/**
 * Makes a {@linkcode ClientInfo}.
 *
 * @example
 * ```ts
 * import { makeClientInfo } from "./client_info.ts";
 * console.log(makeClientInfo("::1", 9000, "bob", null).ipstr); // "[::1]:9000"
 * ```
 *
 * @param host The client's IP address.
 * @param port The client's port.
 * @param name The client's name, or `null`.
 * @param group The client's group, or `null`.
 * @returns A frozen snapshot.
 */
export function makeClientInfo(
  host: string,
  port: number,
  name: string | null,
  group: string | null,
): ClientInfo {
  return Object.freeze({
    ip: Object.freeze([host, port] as const),
    ipstr: formatAddress(host, port),
    name,
    group,
  });
}

/**
 * Spells an address as `"host:port"`, with brackets around IPv6 hosts.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./client_info.ts";
 * console.log(formatAddress("127.0.0.1", 80)); // "127.0.0.1:80"
 * ```
 *
 * @param host The IP address.
 * @param port The port.
 * @returns The address as text.
 */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

const IPV4_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$/;
const IPV6_PORT = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/;

/**
 * What a {@linkcode ClientRef} means: an address key (`"host:port"`) or a name.
 *
 * @example
 * ```ts
 * import { resolveClientRef } from "./client_info.ts";
 * console.log(resolveClientRef("127.0.0.1:5000")); // { address: "127.0.0.1:5000" }
 * console.log(resolveClientRef("alice")); // { name: "alice" }
 * ```
 *
 * @param ref The reference.
 * @returns `{ address }` for an address, `{ name }` for a name.
 * @throws {TypeError} When the reference is malformed: not a string, pair or
 *   client info; a pair without a string host and integer port; an address
 *   with a port out of range.
 */
export function resolveClientRef(
  ref: ClientRef,
): { address: string; name?: undefined } | { name: string; address?: undefined } {
  if (typeof ref === "string") {
    const match = IPV4_PORT.exec(ref) ?? IPV6_PORT.exec(ref);
    if (match === null) {
      if (ref.length === 0) throw new TypeError("a client name cannot be empty");
      return { name: ref };
    }
    return { address: formatAddress(match[1], checkPort(Number(match[2]), ref)) };
  }
  if (Array.isArray(ref)) {
    const [host, port] = ref as unknown[];
    if (ref.length !== 2 || typeof host !== "string" || typeof port !== "number") {
      throw new TypeError(`a client address must be [host, port], not ${safeText(ref)}`);
    }
    return { address: formatAddress(host, checkPort(port, ref)) };
  }
  if (ref !== null && typeof ref === "object" && Array.isArray((ref as ClientInfo).ip)) {
    return resolveClientRef((ref as ClientInfo).ip);
  }
  throw new TypeError(`not a client reference: ${safeText(ref)}`);
}

function checkPort(port: number, ref: unknown): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`port out of range in client address ${safeText(ref)}`);
  }
  return port;
}

function safeText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
