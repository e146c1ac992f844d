/**
 * Helpers shared by the integration tests. Runtime-neutral on purpose: only
 * web-standard APIs and `node:net`, so the same tests run under Deno, Node and
 * Bun. Every wait here is bounded.
 *
 * @module
 */

import net from "node:net";
import assert from "node:assert/strict";
import { FrameWriter, Framing } from "./framing.ts";
import {
  type ClientInfo,
  type ClientOptions,
  connect,
  type FrameHandler,
  type HiSockClient,
  type HiSockError,
  type HiSockServer,
  type ServerOptions,
  startServer,
} from "./mod.ts";

/** The only host the tests use. */
export const HOST = "127.0.0.1";

/** The default bound of one wait, in milliseconds. */
export const WAIT_MS = 5_000;

/**
 * Races a promise against a timer; the timer is always cleared.
 *
 * @param promise What to wait for.
 * @param ms The bound.
 * @param label What is being waited for, for the failure message.
 * @returns What the promise resolves with.
 * @throws {Error} `timed out after <ms> ms waiting for <label>` when it takes too long.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its settle functions. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Polls a condition every few milliseconds until it holds.
 *
 * @param condition What must become true.
 * @param label What is being waited for.
 * @param ms The bound.
 */
export async function until(
  condition: () => boolean,
  label: string,
  ms = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await sleep(5);
  }
}

/**
 * A queue of things that happened (handler calls, usually), read in order
 * with bounded waits.
 */
export class Inbox<T> {
  readonly #items: T[] = [];
  #waiters: Array<() => void> = [];
  /** Everything ever pushed, in order (not consumed by {@linkcode Inbox.next}). */
  readonly all: T[] = [];

  /** Adds an item. */
  push = (item: T): void => {
    this.#items.push(item);
    this.all.push(item);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  };

  /** Items pushed and not yet taken. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * Takes the next item, waiting for it at most `ms`.
   *
   * @param label What is expected, for the failure message.
   * @param ms The bound.
   */
  async next(label: string, ms = WAIT_MS): Promise<T> {
    const deadline = Date.now() + ms;
    while (this.#items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
      const arrived = new Promise<void>((resolve) => this.#waiters.push(resolve));
      await withTimeout(arrived, left, label);
    }
    return this.#items.shift()!;
  }

  /**
   * Takes the next `count` items.
   *
   * @param count How many.
   * @param label What is expected.
   * @param ms The bound for all of them.
   */
  async take(count: number, label: string, ms = WAIT_MS): Promise<T[]> {
    const deadline = Date.now() + ms;
    const out: T[] = [];
    while (out.length < count) {
      out.push(await this.next(`${label} (${out.length + 1} of ${count})`, deadline - Date.now()));
    }
    return out;
  }

  /**
   * Asserts that nothing more arrives within `ms`.
   *
   * @param ms How long to watch.
   * @param label What must not happen.
   */
  async expectNone(ms: number, label: string): Promise<void> {
    await sleep(ms);
    assert.equal(
      this.#items.length,
      0,
      `${label}: unexpected ${safeText(this.#items[0])}`,
    );
  }
}

/**
 * Anything with an `on(event, handler)` method: a server or a client.
 */
export interface Emitter {
  // deno-lint-ignore no-explicit-any
  on(event: any, ...rest: any[]): unknown;
}

/**
 * Records every call of an event's handler (its arguments) in an inbox.
 *
 * @param emitter The server or client.
 * @param event The event or command.
 * @param type A content type to declare, for commands.
 * @returns The inbox of argument lists.
 */
// deno-lint-ignore no-explicit-any
export function record<A extends unknown[] = any[]>(
  emitter: Emitter,
  event: string,
  type?: string,
): Inbox<A> {
  const inbox = new Inbox<A>();
  // Named parameters reach every event's content, so that content is passed
  // (a rest parameter alone would not get it: see takesContent); `arguments`
  // holds exactly what the handler was called with.
  const handler = function (_a?: unknown, _b?: unknown, _c?: unknown) {
    inbox.push([...arguments] as A);
  };
  if (type === undefined) emitter.on(event, handler);
  else emitter.on(event, type, handler);
  return inbox;
}

/** Something the test must close or destroy at its end. */
export interface Closable {
  close(): Promise<unknown> | void;
}

/**
 * What a test opened, closed at its end whatever happened, each close bounded.
 */
export class Scope {
  readonly #open: Closable[] = [];

  /**
   * Tracks something to close at the end; returns it.
   *
   * @param item The server, client or raw peer.
   */
  add<C extends Closable>(item: C): C {
    this.#open.push(item);
    return item;
  }

  /** Closes everything, newest first (clients before their server). */
  async close(): Promise<void> {
    const failures: unknown[] = [];
    for (const item of this.#open.reverse()) {
      try {
        await withTimeout(Promise.resolve(item.close()), WAIT_MS, "closing a test resource");
      } catch (error) {
        failures.push(error);
      }
    }
    this.#open.length = 0;
    if (failures.length > 0) throw failures[0];
  }
}

/**
 * Runs a test body with a {@linkcode Scope}, bounded as a whole, and closes
 * the scope however the body ended.
 *
 * @param body The test.
 * @param ms The bound of the whole body.
 * @returns The test function for `test(name, fn)`.
 */
export function scoped(
  body: (scope: Scope) => Promise<void>,
  ms = 15_000,
): () => Promise<void> {
  return async () => {
    const scope = new Scope();
    try {
      await withTimeout(body(scope), ms, "the test body");
    } finally {
      await scope.close();
    }
  };
}

const encoder = new TextEncoder();

/**
 * Bytes of text or bytes.
 *
 * @param data Text (UTF-8) or bytes.
 */
export function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/**
 * One frame with hisock's ASCII header, for raw sockets.
 *
 * @param payload The payload.
 * @param headerLen The header length.
 */
export function asciiFrame(payload: string | Uint8Array, headerLen = 16): Uint8Array {
  const body = bytesOf(payload);
  const header = String(body.length).padEnd(headerLen, " ");
  assert.equal(header.length, headerLen, "payload too long for the header");
  return concat(encoder.encode(header), body);
}

/**
 * Concatenates byte arrays.
 *
 * @param parts The arrays.
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A tiny deterministic PRNG (mulberry32), so that a failing random case can
 * be replayed from its seed.
 *
 * @param seed The seed.
 * @returns Numbers in [0, 1).
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A plain TCP socket (`node:net`), to play a broken or hand-written peer.
 */
export class RawPeer implements Closable {
  readonly socket: net.Socket;
  /** Every byte received, in order. */
  received: Uint8Array = new Uint8Array(0);
  /** Resolves when the socket has closed (either side). */
  readonly ended: Promise<void>;
  #ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const ended = deferred();
    this.ended = ended.promise;
    socket.on("data", (chunk: Uint8Array) => {
      this.received = concat(this.received, new Uint8Array(chunk));
    });
    // A reset from the server is an expected way for the peer to end.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#ended = true;
      ended.resolve();
    });
  }

  /** Whether the socket has closed. */
  get isEnded(): boolean {
    return this.#ended;
  }

  /**
   * Wraps a socket that is already connected (one a {@linkcode RawServer} accepted).
   *
   * @param socket The socket.
   */
  static wrap(socket: net.Socket): RawPeer {
    socket.setNoDelay(true);
    return new RawPeer(socket);
  }

  /**
   * Connects to `host:port`.
   *
   * @param port The port.
   * @param host The host.
   */
  static connect(port: number, host = "127.0.0.1"): Promise<RawPeer> {
    return withTimeout(
      new Promise<RawPeer>((resolve, reject) => {
        const socket = net.connect({ host, port });
        socket.once("error", reject);
        socket.once("connect", () => {
          socket.off("error", reject);
          socket.setNoDelay(true);
          resolve(new RawPeer(socket));
        });
      }),
      WAIT_MS,
      `a raw connection to port ${port}`,
    );
  }

  /** Our end's `[host, port]`. */
  get addr(): [string, number] {
    return [this.socket.localAddress!, this.socket.localPort!];
  }

  /**
   * Writes bytes and waits until they are handed to the OS.
   *
   * @param data The bytes, or text as UTF-8.
   */
  write(data: string | Uint8Array): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.socket.write(bytesOf(data), (error) => error ? reject(error) : resolve());
      }),
      WAIT_MS,
      "a raw write",
    );
  }

  /** Destroys the socket at once. */
  close(): Promise<void> {
    this.socket.destroy();
    return withTimeout(this.ended, WAIT_MS, "a raw socket to close");
  }
}

/**
 * A deterministic pseudo-random byte pattern (xorshift32), cheap to make and
 * to check, that no off-by-one shift of itself matches.
 *
 * @param size How many bytes.
 * @param seed Which pattern.
 */
export function pattern(size: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = i & 0xff;
  return out;
}

/**
 * Asserts that two byte arrays are equal, reporting the first difference
 * (faster and terser than a deep equality on megabytes).
 *
 * @param actual What arrived.
 * @param expected What was sent.
 * @param label What is compared.
 */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, label: string): void {
  assert.ok(actual instanceof Uint8Array, `${label}: not a Uint8Array`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${label}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
    }
  }
}

/**
 * Text of bytes (UTF-8).
 *
 * @param bytes The bytes.
 */
export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/**
 * Asserts that a promise rejects within the bound, with an error matching.
 *
 * @param promise The promise.
 * @param expected A class or a validation object, as `assert.rejects` takes.
 * @param label What is expected.
 */
export async function rejectsWithin(
  promise: Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  expected: any,
  label: string,
): Promise<void> {
  await assert.rejects(withTimeout(promise, WAIT_MS, label), expected, label);
}

function safeText(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v) => typeof v === "bigint" ? `${v}n` : v) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * A plain TCP server (`node:net`), to play a hand-written hisock server.
 */
export class RawServer implements Closable {
  readonly server: net.Server;
  /** The connections it accepted, in order. */
  readonly peers: Inbox<RawPeer> = new Inbox();
  readonly #accepted: RawPeer[] = [];

  private constructor(server: net.Server) {
    this.server = server;
    server.on("connection", (socket: net.Socket) => {
      const peer = RawPeer.wrap(socket);
      this.#accepted.push(peer);
      this.peers.push(peer);
    });
  }

  /** Listens on a free port of 127.0.0.1. */
  static listen(): Promise<RawServer> {
    const server = net.createServer();
    return withTimeout(
      new Promise<RawServer>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(new RawServer(server)));
      }),
      WAIT_MS,
      "a raw server to listen",
    );
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Destroys every accepted socket and stops listening. */
  async close(): Promise<void> {
    await Promise.all(this.#accepted.map((peer) => peer.close()));
    await withTimeout(
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      WAIT_MS,
      "a raw server to close",
    );
  }
}

/** What a server's `error` handler gets. */
export type ErrorArgs = [HiSockError, ClientInfo | null];

/**
 * Starts a server on a free port of 127.0.0.1, closed with the scope, with
 * its `error` events recorded.
 *
 * @param scope The test's scope.
 * @param options Server options.
 */
export async function serve(
  scope: Scope,
  options: ServerOptions = {},
): Promise<{ server: HiSockServer; errors: Inbox<ErrorArgs> }> {
  const server = scope.add(await startServer([HOST, 0], options));
  const errors = record<ErrorArgs>(server, "error");
  return { server, errors };
}

/**
 * Whether the server has registered this client (has read its hello).
 *
 * @param server The server.
 * @param client The client.
 */
export function isJoined(server: HiSockServer, client: HiSockClient): boolean {
  const port = client.addr[1];
  return server.getAllClients().some((info) => info.ip[1] === port);
}

/**
 * Connects a client, closed with the scope, and waits until the server has
 * registered it.
 *
 * @param scope The test's scope.
 * @param server The server.
 * @param options Client options.
 */
export async function join(
  scope: Scope,
  server: HiSockServer,
  options: ClientOptions = {},
): Promise<HiSockClient> {
  const client = scope.add(await connect(server.getAddr(), options));
  await until(() => isJoined(server, client), `the join of ${options.name ?? "a client"}`);
  return client;
}

/**
 * A frame handler for tests that want each payload as a view of its own
 * (the decoder passes ranges: see `FrameHandler`).
 *
 * @param fn Called with the payload's view and whether it is owned.
 */
export function viewing(fn: (payload: Uint8Array, owned: boolean) => void): FrameHandler {
  return (bytes, start, end, owned) => fn(bytes.subarray(start, end), owned);
}

/**
 * Bytes as latin-1 text: one character per byte, so frames read as written.
 *
 * @param data The bytes.
 */
export function latin1(data: Uint8Array): string {
  return String.fromCharCode(...data);
}

/**
 * The frames a writer function writes (default framing), as latin-1 text.
 *
 * @param write Writes frames into the writer given.
 */
export function written(write: (writer: FrameWriter) => void): string {
  const writer = new FrameWriter(new Framing());
  write(writer);
  return latin1(writer.take());
}
