/**
 * The hisock server: accepts clients, learns their names and groups from
 * their hellos, runs handlers for their commands, and sends to one client, a
 * group or everyone.
 *
 * @module
 */

import {
  type ClientInfo,
  type ClientRef,
  makeClientInfo,
  resolveClientRef,
} from "./client_info.ts";
import {
  Connection,
  type EncodedFrames,
  type QueueLimits,
  resolveQueueLimits,
  SharedFrames,
  SharedRun,
} from "./connection.ts";
import type { CastResult, CastType, Sendable } from "./content.ts";
import {
  CommandReading,
  commandWriter,
  type Dialect,
  type DialectName,
  type Hello,
  rawWriter,
} from "./dialect.ts";
import { resolveDialect } from "./dialects.ts";
import {
  checkDispatchOptions,
  Dispatcher,
  type DispatchMode,
  type EventArgs,
} from "./dispatcher.ts";
import {
  asHiSockError,
  AuthenticationFailed,
  ClientNotFound,
  ConnectionClosed,
  GroupNotFound,
  HiSockError,
  KeepaliveTimeout,
  ProtocolError,
  QueueFull,
  SlowConsumer,
} from "./errors.ts";
import { type FrameWriter, type Framing, framingFor, type FramingOptions } from "./framing.ts";
import { defaultTransport } from "./runtime.ts";
import { ClientRegistry } from "./registry.ts";
import type { ServerTlsOptions, Transport, TransportConn, TransportListener } from "./transport.ts";
import { type Address, parseAddress } from "./address.ts";

/**
 * What happens when a send would take a peer's queue of outgoing bytes past
 * `maxQueuedBytes`:
 *
 * - `"disconnect"` (default): the peer is dropped, its queue freed, and a
 *   {@linkcode SlowConsumer} error reported on `error`; others are unaffected.
 * - `"throw"`: nothing is queued; a send to one peer throws
 *   {@linkcode QueueFull}, a broadcast skips that recipient and reports a
 *   `QueueFull` for it on `error`.
 */
export type SlowClientPolicy = "disconnect" | "throw";

/**
 * Keepalive settings of a server, in milliseconds. Any frame a client sends
 * counts as a sign of life; only a client silent for `interval` is pinged
 * (`$KEEPALIVE$`), and only one still silent `timeout` after the ping is
 * dropped (a {@linkcode KeepaliveTimeout} on `error`).
 */
export interface KeepaliveOptions {
  /** Silence before a ping. Default 30,000. */
  interval?: number;
  /** Silence after the ping before the client is dropped. Default 30,000. */
  timeout?: number;
}

/** What the {@linkcode ServerOptions.authenticate} hook is told about a hello. */
export interface AuthenticationRequest {
  /** The name the client asks for. */
  name: string | null;
  /** The group the client asks for. */
  group: string | null;
  /** Every key of the hello, extra ones (a token, say) included. */
  fields: Record<string, unknown>;
  /** The client's `[host, port]`. */
  address: [string, number];
}

/** Options of {@linkcode HiSockServer.close}. */
export interface CloseOptions {
  /**
   * Milliseconds to wait for queued data to leave before the remaining
   * connections are cut. Default 30,000; `Infinity` waits as long as it takes.
   */
  timeout?: number;
}

/** The default {@linkcode CloseOptions.timeout}. */
const DEFAULT_CLOSE_TIMEOUT = 30_000;
const DEFAULT_KEEPALIVE_INTERVAL = 30_000;
const DEFAULT_KEEPALIVE_TIMEOUT = 30_000;

/** Options of {@linkcode startServer}. */
export interface ServerOptions extends FramingOptions, QueueLimits {
  /**
   * What {@linkcode HiSockServer.run} does when nothing is pending: wait for
   * an event (`true`, the default, as in Python hisock) or return at once.
   */
  blocking?: boolean;
  /**
   * The most clients connected at once (counting those still saying hello);
   * 0, the default, for no limit. A client past the cap is sent `$DISCONN$`
   * and closed before its hello is read.
   */
  maxConnections?: number;
  /**
   * How many connections the OS may queue before the server accepts them
   * (the `listen(2)` backlog; the OS caps it, at `net.core.somaxconn` on
   * Linux). Default {@linkcode DEFAULT_BACKLOG}, where Node and Deno take
   * 511: a storm of connections to a busy server overflows that, and a
   * connection dropped from a full queue retries only a second later.
   */
  backlog?: number;
  /** The dialect clients speak: `"v2"` (the default, hisock 2.0.x) or an implementation. */
  dialect?: DialectName | Dialect;
  /**
   * `"immediate"` (default): handlers run as messages arrive. `"manual"`:
   * events wait until {@linkcode HiSockServer.run} is called.
   */
  dispatch?: DispatchMode;
  /**
   * Whether joins and leaves are announced to every client (`$CLTCONN$` /
   * `$CLTDISCONN$`), as Python hisock does. Default `true`; switch it off on
   * large servers, where N joins cost N² announcements.
   */
  announcePresence?: boolean;
  /**
   * Refuse a hello, or a rename, that takes a name another client holds.
   * Default `false` (Python hisock allows duplicates; lookups by name then
   * find the client that has held the name longest).
   */
  uniqueNames?: boolean;
  /** Milliseconds a new connection has to send its hello. Default 10,000. */
  helloTimeout?: number;
  /** Serve TLS with this certificate and key (PEM). */
  tls?: ServerTlsOptions;
  /** The network implementation; the runtime's own by default. */
  transport?: Transport;
  /**
   * What a send does when a client's queue would pass `maxQueuedBytes`
   * (see {@linkcode SlowClientPolicy}). Default `"disconnect"`.
   */
  slowClientPolicy?: SlowClientPolicy;
  /**
   * With `dispatch: "manual"`: past this many events waiting for
   * {@linkcode HiSockServer.run}, the server stops reading from clients
   * until `run()` has handled them. Default 10,000.
   */
  maxPendingEvents?: number;
  /**
   * Ping silent clients and drop those that stay silent (see
   * {@linkcode KeepaliveOptions}). `true` for the defaults (30 s, 30 s),
   * `false` for none. Default: on where the dialect's Python peers do it
   * (v2), off otherwise. One timer serves every client.
   */
  keepalive?: boolean | KeepaliveOptions;
  /**
   * Decides whether a client may join, from its hello (extra hello fields,
   * such as a token, are in `fields`). `true` admits; `false`, or a string
   * giving the reason, refuses: the client is sent `$DISCONN$` and closed,
   * and an {@linkcode AuthenticationFailed} is reported on `error`. A throw
   * or rejection refuses too. It runs before `join`; while a promise is
   * pending the client's later frames wait, in order, and it must settle
   * within `helloTimeout`.
   */
  authenticate?: (
    hello: AuthenticationRequest,
  ) => boolean | string | Promise<boolean | string>;
}

/** Handlers of the server's reserved events. */
export interface ServerEventHandlers {
  /** A client said hello and is now registered. */
  join: (client: ClientInfo) => unknown;
  /** A registered client is gone (it left, was dropped, or the server closed). */
  leave: (client: ClientInfo) => unknown;
  /** A client renamed itself. */
  name_change: (client: ClientInfo, oldName: string | null, newName: string | null) => unknown;
  /** A client changed its group. */
  group_change: (client: ClientInfo, oldGroup: string | null, newGroup: string | null) => unknown;
  /**
   * Something went wrong that did not stop the server: a handler threw, a
   * content cast failed, a client broke the protocol (and was dropped). The
   * client is `null` when it had not said hello yet or none is concerned.
   */
  error: (error: HiSockError, client: ClientInfo | null) => unknown;
}

/** The reserved event names of the server. */
const SERVER_EVENTS = new Set([
  "join",
  "leave",
  "message",
  "name_change",
  "group_change",
  "error",
  "*",
]);

/** One TCP connection, from accept to close. */
interface Peer {
  readonly conn: Connection;
  /** `null` until the hello has been read. */
  info: ClientInfo | null;
  /** When the hello must have been decided by (`Date.now()` ms), while it is awaited. */
  helloDeadline: number;
  /** Frames that arrived while `authenticate` was pending, else `null`. */
  backlog: Uint8Array[] | null;
  /** The hello being authenticated, while `authenticate` is pending. */
  pendingHello: Hello | null;
  /** Whether reading is held because manual dispatch is behind. */
  pressureHeld: boolean;
  /** Keepalive: the byte counts seen at the last tick. */
  seenReceived: number;
  seenWritten: number;
  /** Keepalive: when the peer last showed life, and when it was pinged (0: not). */
  lastSeen: number;
  pingedAt: number;
}

type JoinedPeer = Peer & { info: ClientInfo };

/**
 * A hisock server. Make one with {@linkcode startServer}.
 *
 * @example A server that answers pings
 * ```ts
 * import { startServer } from "./server.ts";
 * const server = await startServer(["127.0.0.1", 0]);
 * server.on("join", (client) => console.log("joined:", client.name));
 * server.on("ping", "str", (client, text) => server.sendClient(client, "pong", text));
 * console.log(server.getAddr());
 * await server.close();
 * ```
 */
export class HiSockServer {
  readonly #listener: TransportListener;
  readonly #dialect: Dialect;
  /** Where commands are read in place (see {@linkcode Dialect.readCommand}); reused. */
  readonly #reading = new CommandReading();
  readonly #framing: Framing;
  readonly #dispatcher: Dispatcher;
  readonly #registry = new ClientRegistry<JoinedPeer>();
  readonly #peers = new Set<Peer>();
  readonly #blocking: boolean;
  readonly #maxConnections: number;
  readonly #announce: boolean;
  readonly #uniqueNames: boolean;
  readonly #helloTimeout: number;
  /** Connections whose hello is not decided yet, oldest first, and the one timer they share. */
  readonly #awaitingHello = new Set<Peer>();
  #helloTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #limits: Required<QueueLimits>;
  readonly #slowClientPolicy: SlowClientPolicy;
  readonly #authenticate: ServerOptions["authenticate"];
  readonly #keepalive: Required<KeepaliveOptions> | null;
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  #keepaliveTickMs = 0;
  #lastKeepaliveTick = 0;
  /** Whether reading is paused because manual dispatch is behind. */
  #readPaused = false;
  /** Where broadcasts are encoded, once for all their recipients. */
  readonly #shared: SharedFrames;
  /**
   * The newest broadcast's run and its recipients: the next broadcast to
   * the same ones may lengthen it (see SharedRun).
   */
  #run: SharedRun | null = null;
  #runPeers: readonly Peer[] | null = null;
  /** Connections holding presence announcements not yet flushed (see PRESENCE_DELAY_MS). */
  #presenceWaiting = new Set<Connection>();
  #presenceTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #closing: Promise<void> | null = null;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  /** Use {@linkcode startServer}. @internal */
  constructor(listener: TransportListener, options: ServerOptions) {
    this.#listener = listener;
    this.#dialect = resolveDialect(options.dialect);
    this.#framing = framingFor(options);
    this.#shared = new SharedFrames(this.#framing);
    this.#dispatcher = new Dispatcher(
      options.dispatch ?? "immediate",
      (error, client) => this.#reportError(error, client as ClientInfo | null),
      { maxPending: options.maxPendingEvents, onPressure: (high) => this.#onPressure(high) },
    );
    this.#blocking = options.blocking ?? true;
    this.#maxConnections = nonNegativeInteger(options.maxConnections ?? 0, "maxConnections");
    this.#announce = options.announcePresence ?? true;
    this.#uniqueNames = options.uniqueNames ?? false;
    this.#helloTimeout = nonNegativeInteger(options.helloTimeout ?? 10_000, "helloTimeout");
    this.#limits = resolveQueueLimits(options, this.#framing);
    this.#slowClientPolicy = checkPolicy(options.slowClientPolicy);
    if (options.authenticate !== undefined && typeof options.authenticate !== "function") {
      throw new TypeError("authenticate must be a function");
    }
    this.#authenticate = options.authenticate;
    this.#keepalive = resolveKeepalive(options.keepalive, this.#dialect.keepaliveByDefault);
    if (this.#keepalive !== null) {
      const { interval, timeout } = this.#keepalive;
      // A quarter of the shorter period: a ping or a drop comes at most that late.
      const tick = Math.max(5, Math.floor(Math.min(interval, timeout) / 4));
      this.#keepaliveTickMs = tick;
      this.#lastKeepaliveTick = Date.now();
      this.#keepaliveTimer = setInterval(() => this.#keepaliveTick(), tick);
    }
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    listener.start(
      (conn) => this.#accept(conn),
      (error) => this.#reportError(asHiSockError(error, "accept failed"), null),
    );
  }

  // Handlers.

  /**
   * Registers a handler for a reserved event or a command.
   *
   * Reserved events: `join`, `leave`, `name_change`, `group_change`, `error`
   * (see {@linkcode ServerEventHandlers}), `message` (every command, after its
   * own handlers) and `*` (commands without a handler, and raw messages with
   * `command` `null`). Any other name is a command. A command handler may
   * declare the type its content is cast to (see {@linkcode CastType}); the
   * default is the raw bytes.
   *
   * @example
   * ```ts
   * import { startServer } from "./server.ts";
   * const server = await startServer(["127.0.0.1", 0]);
   * server.on("score", "int", (client, score) => console.log(client.name, score + 1));
   * server.on("message", (client, command, content) => console.log(command, content.length));
   * await server.close();
   * ```
   *
   * @param event The event or command name.
   * @param handler What to run.
   * @returns The server, for chaining.
   */
  on<E extends keyof ServerEventHandlers>(event: E, handler: ServerEventHandlers[E]): this;
  /**
   * Handles every command, with its content cast to `type`.
   *
   * @param event `"message"`.
   * @param type The content type.
   * @param handler Gets the client, the command and the content.
   * @returns The server, for chaining.
   */
  on<T extends CastType>(
    event: "message",
    type: T,
    handler: (client: ClientInfo, command: string, content: CastResult[T]) => unknown,
  ): this;
  /**
   * Handles every command, with its content as bytes.
   *
   * @param event `"message"`.
   * @param handler Gets the client, the command and the content.
   * @returns The server, for chaining.
   */
  on(
    event: "message",
    handler: (client: ClientInfo, command: string, content: Uint8Array) => unknown,
  ): this;
  /**
   * Handles commands without a handler, and raw messages (command `null`),
   * with the content cast to `type`.
   *
   * @param event `"*"`.
   * @param type The content type.
   * @param handler Gets the client, the command or `null`, and the content.
   * @returns The server, for chaining.
   */
  on<T extends CastType>(
    event: "*",
    type: T,
    handler: (client: ClientInfo, command: string | null, content: CastResult[T]) => unknown,
  ): this;
  /**
   * Handles commands without a handler, and raw messages (command `null`).
   *
   * @param event `"*"`.
   * @param handler Gets the client, the command or `null`, and the content.
   * @returns The server, for chaining.
   */
  on(
    event: "*",
    handler: (client: ClientInfo, command: string | null, content: Uint8Array) => unknown,
  ): this;
  /**
   * Handles a command, with its content cast to `type`.
   *
   * @param command The command.
   * @param type The content type.
   * @param handler Gets the client and the content.
   * @returns The server, for chaining.
   */
  on<T extends CastType>(
    command: string,
    type: T,
    handler: (client: ClientInfo, content: CastResult[T]) => unknown,
  ): this;
  /**
   * Handles a command, with its content as bytes.
   *
   * @param command The command.
   * @param handler Gets the client and the content.
   * @returns The server, for chaining.
   */
  on(command: string, handler: (client: ClientInfo, content: Uint8Array) => unknown): this;
  on(name: string, typeOrHandler: unknown, maybeHandler?: unknown): this {
    this.#dispatcher.on(SERVER_EVENTS, name, typeOrHandler, maybeHandler);
    return this;
  }

  /**
   * Removes a handler, or every handler of an event or command.
   *
   * @example
   * ```ts
   * import { startServer } from "./server.ts";
   * const server = await startServer(["127.0.0.1", 0]);
   * const onJoin = () => {};
   * server.on("join", onJoin).off("join", onJoin);
   * await server.close();
   * ```
   *
   * @param name The event or command.
   * @param handler The handler to remove; all of them when omitted.
   * @returns The server, for chaining.
   */
  off(name: string, handler?: (...args: never[]) => unknown): this {
    this.#dispatcher.off(SERVER_EVENTS, name, handler);
    return this;
  }

  /**
   * Runs the event loop once, in Python hisock's style. Handlers normally run
   * as messages arrive, so this only matters for `dispatch: "manual"`, where
   * it runs every queued event, or for pacing a loop: with `blocking` it
   * resolves only after at least one event has been handled (or the server
   * closed); without, it returns at once.
   *
   * @example A loop at its own pace
   * ```ts
   * import { startServer } from "./server.ts";
   * const server = await startServer(["127.0.0.1", 0], { dispatch: "manual", blocking: false });
   * for (let tick = 0; tick < 3; tick++) await server.run();
   * await server.close();
   * ```
   *
   * @returns How many queued events ran (manual dispatch).
   */
  run(): Promise<number> {
    return this.#dispatcher.run(this.#blocking && this.#closing === null, this.#closed);
  }

  // Lookups.

  /**
   * The address the server listens on; the real port when 0 was asked for.
   *
   * @example
   * ```ts
   * import { startServer } from "./server.ts";
   * const server = await startServer(["127.0.0.1", 0]);
   * const [host, port] = server.getAddr();
   * console.log(host, port > 0);
   * await server.close();
   * ```
   *
   * @returns `[host, port]`.
   */
  getAddr(): [string, number] {
    return [this.#listener.addr.hostname, this.#listener.addr.port];
  }

  /**
   * A connected client's info.
   *
   * @example
   * ```ts ignore
   * const alice = server.getClient("alice");
   * const same = server.getClient(alice.ipstr);
   * ```
   *
   * @param client A name, `"host:port"`, `[host, port]` or client info.
   * @returns The client's current info.
   * @throws {ClientNotFound} When no connected client matches.
   * @throws {TypeError} When the reference is malformed.
   */
  getClient(client: ClientRef): ClientInfo {
    return this.#find(client).info;
  }

  /**
   * The clients in a group.
   *
   * @example
   * ```ts ignore
   * for (const client of server.getGroup("red")) console.log(client.name);
   * ```
   *
   * @param group The group.
   * @returns Their infos, in the order they entered the group.
   * @throws {GroupNotFound} When no connected client is in it.
   */
  getGroup(group: string): ClientInfo[] {
    return this.#groupMembers(group).map((peer) => peer.info);
  }

  /**
   * Every connected client, or one field of each, or those a predicate keeps.
   *
   * @example
   * ```ts ignore
   * const names = server.getAllClients("name");
   * const red = server.getAllClients((client) => client.group === "red");
   * ```
   *
   * @param key `"ip"`, `"name"` or `"group"` for that field of each client,
   *   a predicate to filter them, or nothing for all.
   * @returns In join order.
   */
  getAllClients(): ClientInfo[];
  /**
   * The address of every connected client.
   *
   * @param key `"ip"`.
   * @returns `[host, port]` of each, in join order.
   */
  getAllClients(key: "ip"): Array<readonly [string, number]>;
  /**
   * The name, or the group, of every connected client.
   *
   * @param key `"name"` or `"group"`.
   * @returns The field of each, in join order.
   */
  getAllClients(key: "name" | "group"): Array<string | null>;
  /**
   * The connected clients a predicate keeps.
   *
   * @param key The predicate.
   * @returns Those kept, in join order.
   */
  getAllClients(key: (client: ClientInfo) => boolean): ClientInfo[];
  getAllClients(
    key?: "ip" | "name" | "group" | ((client: ClientInfo) => boolean),
  ): unknown[] {
    const infos = Array.from(this.#registry.entries(), (peer) => peer.info);
    if (key === undefined) return infos;
    if (typeof key === "function") return infos.filter(key);
    if (key !== "ip" && key !== "name" && key !== "group") {
      throw new TypeError(`key must be "ip", "name", "group" or a function, not ${String(key)}`);
    }
    return infos.map((info) => info[key]);
  }

  /**
   * Outgoing bytes queued for a client and not yet taken by the network.
   * Sends return `false` once this reaches `highWaterMark`.
   *
   * @example
   * ```ts ignore
   * if (server.bufferedAmount("alice") > 1 << 20) await server.drain("alice");
   * ```
   *
   * @param client Which client.
   * @returns The byte count.
   */
  bufferedAmount(client: ClientRef): number {
    return this.#find(client).conn.bufferedAmount;
  }

  /**
   * Resolves when everything queued for a client has been taken by the network.
   *
   * @example
   * ```ts ignore
   * server.sendClient("alice", "bulk", bigBytes);
   * await server.drain("alice");
   * ```
   *
   * @param client Which client.
   * @param below Resolve as soon as no more than this many bytes are queued
   *   for it (a low-water mark); default 0, everything taken.
   */
  drain(client: ClientRef, below = 0): Promise<void> {
    return this.#find(client).conn.drain(below);
  }

  // Sends.

  /**
   * Sends a command to one client. Nothing is awaited: the frame is queued
   * and leaves with the others of this tick. A client whose connection is
   * closing (it left, or was disconnected) gets nothing more, as in broadcasts.
   *
   * Returns `false` when the client's queue has reached `highWaterMark`
   * (await {@linkcode HiSockServer.drain} before sending more), or nothing
   * was queued. A send past `maxQueuedBytes` follows `slowClientPolicy`.
   *
   * @example
   * ```ts ignore
   * server.sendClient("alice", "welcome", { motd: "hi" });
   * if (!server.sendClient("127.0.0.1:50123", "score", 42)) await server.drain("127.0.0.1:50123");
   * ```
   *
   * @param client A name, `"host:port"`, `[host, port]` or client info.
   * @param command The command.
   * @param content The content (see {@linkcode Sendable}).
   * @returns Whether the client's queue is still under `highWaterMark`.
   * @throws {ClientNotFound} When no connected client matches.
   * @throws {ConnectionClosed} When the server is closed.
   * @throws {MessageTooLarge} When the frame would exceed the limit.
   * @throws {UnsupportedContent} When the dialect cannot carry the content.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full.
   */
  sendClient(client: ClientRef, command: string, content: Sendable = null): boolean {
    const conn = this.#target(client);
    if (conn === null) return false;
    if (conn.roomy) {
      // Far from the cap: encode straight into the output buffer.
      this.#dialect.writeCommand(conn.out, command, content);
      conn.flushSoon();
      return conn.writable;
    }
    return this.#sendNearCap(conn, commandWriter(this.#dialect, command, content));
  }

  /**
   * Sends a message without a command to one client.
   *
   * @example
   * ```ts ignore
   * server.sendClientRaw("alice", new Uint8Array([1, 2, 3]));
   * ```
   *
   * @param client Which client.
   * @param content The content.
   * @returns Whether the client's queue is still under `highWaterMark`
   *   (see {@linkcode HiSockServer.sendClient}).
   * @throws {ClientNotFound} When no connected client matches.
   * @throws {ConnectionClosed} When the server is closed.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full.
   */
  sendClientRaw(client: ClientRef, content: Sendable): boolean {
    const conn = this.#target(client);
    if (conn === null) return false;
    if (conn.roomy) {
      this.#dialect.writeRaw(conn.out, content);
      conn.flushSoon();
      return conn.writable;
    }
    return this.#sendNearCap(conn, rawWriter(this.#dialect, content));
  }

  /**
   * Sends a command to every client in a group; the frame is encoded once.
   *
   * @example
   * ```ts ignore
   * server.sendGroup("red", "team", "attack");
   * ```
   *
   * @param group The group.
   * @param command The command.
   * @param content The content.
   * @returns Whether every recipient's queue is still under `highWaterMark`
   *   (a recipient whose queue was full is handled per `slowClientPolicy`,
   *   never by a throw).
   * @throws {GroupNotFound} When no connected client is in it.
   * @throws {ConnectionClosed} When the server is closed.
   */
  sendGroup(group: string, command: string, content: Sendable = null): boolean {
    this.#checkOpen();
    return this.#broadcast(
      this.#groupMembers(group),
      commandWriter(this.#dialect, command, content),
    );
  }

  /**
   * Sends a message without a command to every client in a group.
   *
   * @example
   * ```ts ignore
   * server.sendGroupRaw("red", "raw text");
   * ```
   *
   * @param group The group.
   * @param content The content.
   * @returns Whether every recipient's queue is still under `highWaterMark`.
   * @throws {GroupNotFound} When no connected client is in it.
   * @throws {ConnectionClosed} When the server is closed.
   */
  sendGroupRaw(group: string, content: Sendable): boolean {
    this.#checkOpen();
    return this.#broadcast(
      this.#groupMembers(group),
      rawWriter(this.#dialect, content),
    );
  }

  /**
   * Sends a command to every connected client; the frame is encoded once.
   *
   * @example
   * ```ts ignore
   * server.sendAllClients("tick", 1);
   * ```
   *
   * @param command The command.
   * @param content The content.
   * @returns Whether every recipient's queue is still under `highWaterMark`
   *   (a recipient whose queue was full is handled per `slowClientPolicy`,
   *   never by a throw).
   * @throws {ConnectionClosed} When the server is closed.
   */
  sendAllClients(command: string, content: Sendable = null): boolean {
    this.#checkOpen();
    return this.#broadcast(
      this.#registry.list(),
      commandWriter(this.#dialect, command, content),
    );
  }

  /**
   * Sends a message without a command to every connected client.
   *
   * @example
   * ```ts ignore
   * server.sendAllClientsRaw("hello, all");
   * ```
   *
   * @param content The content.
   * @returns Whether every recipient's queue is still under `highWaterMark`.
   * @throws {ConnectionClosed} When the server is closed.
   */
  sendAllClientsRaw(content: Sendable): boolean {
    this.#checkOpen();
    return this.#broadcast(
      this.#registry.list(),
      rawWriter(this.#dialect, content),
    );
  }

  // Ending.

  /**
   * Drops a client: it is sent `$DISCONN$`, what is queued for it is
   * flushed, and its connection closed; `leave` fires.
   *
   * @example
   * ```ts ignore
   * await server.disconnectClient("mallory");
   * ```
   *
   * @param client Which client.
   * @returns Resolves when its connection is closed.
   * @throws {ClientNotFound} When no connected client matches.
   */
  disconnectClient(client: ClientRef): Promise<void> {
    const peer = this.#find(client);
    if (!peer.conn.closed) this.#dialect.writeDisconnect(peer.conn.out);
    return peer.conn.close();
  }

  /**
   * Stops accepting, tells every client (`$DISCONN$`), flushes what is
   * queued, and resolves once every connection is closed and the port is
   * free. Connections whose queued data has not left after `timeout` ms
   * (default 30,000: a client that reads nothing cannot hold the server
   * open) are cut. Calling it again returns the same promise; a shorter
   * timeout given then applies too.
   *
   * @example
   * ```ts
   * import { startServer } from "./server.ts";
   * const server = await startServer(["127.0.0.1", 0]);
   * await server.close({ timeout: 5_000 });
   * ```
   *
   * @param options How long to wait for queued data.
   * @returns Resolves when every connection is closed and the port is free.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const timeout = options.timeout ?? DEFAULT_CLOSE_TIMEOUT;
    if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
      throw new RangeError(`timeout must be a non-negative number, not ${timeout}`);
    }
    const closing = this.#closing ??= this.#shutdown();
    if (Number.isFinite(timeout)) {
      const timer = setTimeout(() => {
        for (const peer of this.#peers) {
          peer.conn.abort(
            new ConnectionClosed(`close() cut the connection after ${timeout} ms: data was left`),
          );
        }
      }, timeout);
      const clear = () => clearTimeout(timer);
      closing.then(clear, clear);
    }
    return closing;
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#keepaliveTimer);
    clearTimeout(this.#helloTimer);
    // Closing flushes every connection, announcements included.
    clearTimeout(this.#presenceTimer);
    this.#presenceWaiting.clear();
    // A transport may release the port only later (Deno: once the pending
    // accept is cancelled); it then returns a promise for that moment.
    const released = Promise.resolve(this.#listener.close() as void | Promise<void>);
    const closing: Promise<void>[] = [released];
    for (const peer of this.#peers) {
      if (peer.info !== null && !peer.conn.closed) this.#dialect.writeDisconnect(peer.conn.out);
      closing.push(peer.conn.close());
    }
    await Promise.all(closing);
    this.#resolveClosed();
  }

  /** Whether {@linkcode HiSockServer.close} has been called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  // Internals.

  #accept(transport: TransportConn): void {
    const peer: Peer = {
      conn: undefined as unknown as Connection,
      info: null,
      helloDeadline: 0,
      backlog: null,
      pendingHello: null,
      pressureHeld: false,
      seenReceived: 0,
      seenWritten: 0,
      lastSeen: 0,
      pingedAt: 0,
    };
    (peer as { conn: Connection }).conn = new Connection(
      transport,
      this.#framing,
      {
        onFrame: (bytes, start, end, owned) => this.#onFrame(peer, bytes, start, end, owned),
        onClose: (error) => this.#onClose(peer, error),
      },
      this.#dialect.unframedToServer ?? this.#dialect.unframed,
      this.#limits,
    );
    if (this.#closing !== null) {
      transport.close();
      return;
    }
    this.#peers.add(peer);
    if (this.#maxConnections > 0 && this.#peers.size > this.#maxConnections) {
      // Refused cleanly: the client hears why instead of a bare reset.
      this.#dialect.writeDisconnect(peer.conn.out);
      peer.conn.close();
      return;
    }
    if (this.#helloTimeout > 0) {
      peer.helloDeadline = Date.now() + this.#helloTimeout;
      this.#awaitingHello.add(peer);
      this.#helloTimer ??= setTimeout(this.#expireHellos, this.#helloTimeout);
    }
    peer.conn.start();
  }

  /**
   * Drops the connections whose hello was not decided in time. One timer
   * serves them all, armed for the oldest: every connection gets the same
   * time, so they expire in the order they came (a timer per connection
   * measured as a large share of accepting thousands of them on Node).
   */
  readonly #expireHellos = (): void => {
    this.#helloTimer = undefined;
    const now = Date.now();
    for (const peer of this.#awaitingHello) {
      if (peer.helloDeadline > now) {
        this.#helloTimer = setTimeout(this.#expireHellos, peer.helloDeadline - now);
        return;
      }
      this.#helloDecided(peer);
      const error = peer.backlog === null
        ? new ProtocolError(`no hello within ${this.#helloTimeout} ms`)
        : this.#authFailure(
          peer,
          peer.pendingHello,
          `not decided within ${this.#helloTimeout} ms`,
        );
      peer.conn.abort(error);
    }
  };

  /** The peer's hello no longer runs against the clock. */
  #helloDecided(peer: Peer): void {
    this.#awaitingHello.delete(peer);
  }

  /** A frame from a peer: the payload `bytes[start, end)`. */
  #onFrame(peer: Peer, bytes: Uint8Array, start: number, end: number, owned: boolean): void {
    // A connection being closed (it said $USRCLOSE$, or was told $DISCONN$)
    // has nothing more to say: what it sent after that is not dispatched.
    if (peer.conn.closed) return;
    // A joined client's command, the bulk of the traffic, is read and
    // dispatched here; the rest in #onOtherFrame. Kept this small, this
    // function is inlined into the frame decoder's loop, where with the rest
    // in it, it exceeded the optimizing compiler's limit and was called.
    const reading = this.#reading;
    const dialect = this.#dialect;
    if (
      peer.info !== null && dialect.readCommand !== undefined &&
      dialect.readCommand(bytes, start, end, reading)
    ) {
      this.#dispatchCommand(peer as JoinedPeer, reading.command, reading.content, owned);
      return;
    }
    this.#onOtherFrame(peer, bytes, start, end, owned);
  }

  /** A frame that is not a joined client's command: a hello, a reserved word or raw. */
  #onOtherFrame(peer: Peer, bytes: Uint8Array, start: number, end: number, owned: boolean): void {
    if (peer.info === null) {
      if (peer.backlog !== null) {
        // authenticate is pending: keep what follows the hello, in order.
        peer.backlog.push(owned ? bytes.subarray(start, end) : bytes.slice(start, end));
        return;
      }
      this.#onHello(peer, this.#dialect.parseHello(bytes.subarray(start, end)));
      return;
    }
    const joined = peer as JoinedPeer;
    const message = this.#dialect.parseServerBound(bytes, start, end);
    switch (message.kind) {
      case "command":
        this.#dispatchCommand(joined, message.command, message.content, owned);
        return;
      case "raw":
        this.#dispatchRaw(joined, message.content, owned);
        return;
      case "rename":
        this.#change(joined, "name", message.value);
        return;
      case "regroup":
        this.#change(joined, "group", message.value);
        return;
      case "get_client":
        this.#answerGetClient(joined, message.ref);
        return;
      case "close":
        peer.conn.close();
        return;
      case "tls_probe":
        // v1's TLS stub: say that there is no TLS here (`$NOTLS$`).
        if (this.#dialect.writeTlsRefusal) {
          const refuse = this.#dialect.writeTlsRefusal.bind(this.#dialect);
          this.#deliver(peer, refuse);
        }
        return;
      case "keepalive_ack":
        return;
    }
  }

  #onHello(peer: Peer, hello: Hello): void {
    if (this.#closing !== null || peer.conn.closed) return;
    if (this.#nameTaken(hello)) return this.#refuseTaken(peer, hello);
    const authenticate = this.#authenticate;
    if (authenticate === undefined) return this.#admit(peer, hello);
    const { hostname, port } = peer.conn.remoteAddr;
    let verdict: unknown;
    try {
      verdict = authenticate({
        name: hello.name,
        group: hello.group,
        fields: hello.fields,
        address: [hostname, port],
      });
    } catch (error) {
      return this.#refuse(peer, this.#authFailure(peer, hello, "authenticate threw", error));
    }
    if (!isThenable(verdict)) return this.#decide(peer, hello, verdict, undefined);
    // Until the verdict, read nothing more; what was already read waits.
    peer.backlog = [];
    peer.pendingHello = hello;
    peer.conn.hold();
    verdict.then(
      (value) => this.#decide(peer, hello, value, undefined),
      (error) => this.#decide(peer, hello, undefined, error ?? "rejected"),
    );
  }

  /** Acts on what authenticate said; `failure` is what it threw. */
  #decide(peer: Peer, hello: Hello, verdict: unknown, failure: unknown): void {
    const backlog = peer.backlog;
    peer.backlog = null;
    peer.pendingHello = null;
    if (this.#closing !== null || peer.conn.closed) return;
    if (failure !== undefined) {
      return this.#refuse(peer, this.#authFailure(peer, hello, "authenticate threw", failure));
    }
    if (verdict !== true) {
      const reason = typeof verdict === "string"
        ? verdict
        : verdict === false
        ? "refused"
        : `authenticate returned ${String(verdict)}, not true`;
      return this.#refuse(peer, this.#authFailure(peer, hello, reason));
    }
    // The name may have been taken while the verdict was pending.
    if (this.#nameTaken(hello)) return this.#refuseTaken(peer, hello);
    this.#admit(peer, hello);
    if (backlog !== null) {
      for (const payload of backlog) {
        if (peer.conn.closed) break;
        try {
          this.#onFrame(peer, payload, 0, payload.length, true);
        } catch (error) {
          peer.conn.abort(error);
          break;
        }
      }
      peer.conn.release();
    }
  }

  #nameTaken(hello: Hello): boolean {
    return this.#uniqueNames && hello.name !== null && this.#registry.nameCount(hello.name) > 0;
  }

  #refuseTaken(peer: Peer, hello: Hello): void {
    this.#refuse(peer, new ProtocolError(`the name ${JSON.stringify(hello.name)} is taken`));
  }

  #authFailure(
    peer: Peer,
    hello: Hello | null,
    reason: string,
    cause?: unknown,
  ): AuthenticationFailed {
    const { hostname, port } = peer.conn.remoteAddr;
    return new AuthenticationFailed(
      cause === undefined ? reason : `${reason}: ${String(cause)}`,
      hello?.name ?? null,
      [hostname, port],
      cause === undefined ? undefined : { cause },
    );
  }

  /** Turns a client away before it joins: `$DISCONN$`, then a clean close. */
  #refuse(peer: Peer, error: HiSockError): void {
    this.#helloDecided(peer);
    if (!peer.conn.closed) this.#dialect.writeDisconnect(peer.conn.out);
    peer.conn.close();
    this.#reportError(error, null);
  }

  #admit(peer: Peer, hello: Hello): void {
    this.#helloDecided(peer);
    const { hostname, port } = peer.conn.remoteAddr;
    const info = makeClientInfo(hostname, port, hello.name, hello.group);
    peer.info = info;
    const joined = peer as JoinedPeer;
    joined.seenReceived = joined.conn.bytesReceived;
    joined.seenWritten = joined.conn.bytesWritten;
    joined.lastSeen = Date.now();
    if (this.#readPaused) {
      joined.pressureHeld = true;
      joined.conn.hold();
    }
    this.#registry.add(joined);
    if (this.#announce) {
      this.#announcePresence(
        (writer) => this.#dialect.writeJoin(writer, info),
        this.#dialect.announceJoinToSelf ? null : joined,
      );
    }
    this.#emit("join", [info], info);
  }

  #onClose(peer: Peer, error: unknown): void {
    this.#helloDecided(peer);
    peer.backlog = null;
    this.#peers.delete(peer);
    const info = peer.info;
    if (error !== undefined && error instanceof HiSockError) {
      this.#reportError(error, info);
    } else if (peer.conn.midFrame) {
      this.#reportError(
        new ConnectionClosed("the connection ended in the middle of a frame"),
        info,
      );
    }
    if (info === null) return;
    const joined = peer as JoinedPeer;
    if (!this.#registry.remove(joined)) return;
    if (this.#announce && this.#closing === null && this.#registry.size > 0) {
      const current = joined.info;
      this.#announcePresence((writer) => this.#dialect.writeLeave(writer, current), null);
    }
    this.#emit("leave", [joined.info], joined.info);
  }

  #dispatchCommand(peer: JoinedPeer, command: string, content: unknown, owned: boolean): void {
    const dispatcher = this.#dispatcher;
    const dialect = this.#dialect;
    const info = peer.info;
    const handlers = dispatcher.commands.get(command);
    if (handlers.length > 0) {
      dispatcher.deliver(command, handlers, info, 1, info, undefined, content, owned, dialect);
    } else {
      const any = dispatcher.events.get("*");
      dispatcher.deliver("*", any, info, 2, info, command, content, owned, dialect);
    }
    // Checked here, though deliver would loop zero times: a call that never
    // runs is one the optimizing compiler leaves out of this, the per-message
    // path, instead of inlining a second copy of deliver.
    const watchers = dispatcher.events.get("message");
    if (watchers.length > 0) {
      dispatcher.deliver("message", watchers, info, 2, info, command, content, owned, dialect);
    }
  }

  #dispatchRaw(peer: JoinedPeer, content: unknown, owned: boolean): void {
    const info = peer.info;
    const any = this.#dispatcher.events.get("*");
    this.#dispatcher.deliver("*", any, info, 2, info, null, content, owned, this.#dialect);
  }

  #change(peer: JoinedPeer, key: "name" | "group", value: string | null | undefined): void {
    const old = peer.info;
    if (value === undefined || value === old[key]) return;
    if (key === "name" && this.#uniqueNames && value !== null && this.#registry.nameCount(value)) {
      this.#reportError(
        new ProtocolError(`rename refused: the name ${JSON.stringify(value)} is taken`),
        old,
      );
      return;
    }
    const info = makeClientInfo(
      old.ip[0],
      old.ip[1],
      key === "name" ? value : old.name,
      key === "group" ? value : old.group,
    );
    this.#registry.update(peer, info);
    this.#emit(key === "name" ? "name_change" : "group_change", [info, old[key], value], info);
  }

  #answerGetClient(peer: JoinedPeer, ref: string): void {
    let found: ClientInfo | null = null;
    try {
      found = this.#find(ref).info;
    } catch {
      // Unknown or malformed: answered as "no such client".
    }
    // A client asking and never reading the answers meets the queue's cap.
    this.#deliver(peer, (out) => this.#dialect.writeClientInfo(out, found));
  }

  /**
   * Queues a frame the server sends on its own (a lookup's answer, a ping)
   * under the slow-client policy.
   */
  #deliver(peer: Peer, write: (out: FrameWriter) => void): void {
    try {
      peer.conn.send(write);
    } catch (error) {
      this.#skip(peer, error);
    }
  }

  /** A send to one client past the cap, with the queue untouched. */
  #sendNearCap(conn: Connection, write: (out: FrameWriter) => void): boolean {
    try {
      return conn.send(write);
    } catch (error) {
      if (!(error instanceof QueueFull) || this.#slowClientPolicy === "throw") throw error;
      conn.abort(new SlowConsumer(error.queued, error.limit));
      return false;
    }
  }

  /** A peer whose queue is full: dropped, or reported and skipped. */
  #overflow(peer: Peer, error: QueueFull): void {
    if (this.#slowClientPolicy === "disconnect") {
      // Reported on `error` when the connection has closed (onClose).
      peer.conn.abort(new SlowConsumer(error.queued, error.limit));
    } else {
      this.#reportError(error, peer.info);
    }
  }

  /** Manual dispatch fell behind (`true`) or caught up: hold or release reading. */
  #onPressure(high: boolean): void {
    this.#readPaused = high;
    for (const peer of this.#registry.entries()) {
      if (high && !peer.pressureHeld) {
        peer.pressureHeld = true;
        peer.conn.hold();
      } else if (!high && peer.pressureHeld) {
        peer.pressureHeld = false;
        peer.conn.release();
      }
    }
  }

  /**
   * One pass over the clients, every quarter of the shorter keepalive
   * period: a client that sent anything, or is taking data we queued, is
   * alive; one silent for `interval` is pinged; one still silent `timeout`
   * after the ping is dropped.
   */
  #keepaliveTick(): void {
    const { interval, timeout } = this.#keepalive!;
    const now = Date.now();
    // A tick that comes much too late means this process was stalled (a
    // long handler, an overloaded machine): while it could not read, its
    // peers' bytes waited in the kernel. That time is not their silence.
    const stalled = now - this.#lastKeepaliveTick - 2 * this.#keepaliveTickMs;
    this.#lastKeepaliveTick = now;
    for (const peer of this.#registry.entries()) {
      if (stalled > 0) {
        peer.lastSeen += stalled;
        if (peer.pingedAt !== 0) peer.pingedAt += stalled;
      }
      const conn = peer.conn;
      if (conn.closed) continue;
      const received = conn.bytesReceived;
      const written = conn.bytesWritten;
      if (
        received !== peer.seenReceived || conn.held ||
        (written !== peer.seenWritten && conn.bufferedAmount > 0)
      ) {
        peer.seenReceived = received;
        peer.seenWritten = written;
        peer.lastSeen = now;
        peer.pingedAt = 0;
        continue;
      }
      peer.seenWritten = written;
      if (peer.pingedAt === 0) {
        if (now - peer.lastSeen >= interval) {
          peer.pingedAt = now;
          this.#deliver(peer, (out) => this.#dialect.writeKeepalive(out));
        }
      } else if (now - peer.pingedAt >= timeout) {
        conn.abort(new KeepaliveTimeout(now - peer.lastSeen));
      }
    }
  }

  #emit(event: string, args: EventArgs, info: ClientInfo | null): void {
    this.#dispatcher.emit(event, info, args);
  }

  #reportError(error: HiSockError, client: ClientInfo | null): void {
    const handlers = this.#dispatcher.events.get("error");
    if (handlers.length === 0) {
      console.error(`hisock server: ${error.message}`, client?.ipstr ?? "");
      return;
    }
    for (const handler of handlers) {
      try {
        const result = handler.fn(error, client);
        if (result instanceof Promise) result.catch((cause) => console.error(cause));
      } catch (cause) {
        // An error handler that fails cannot report to itself.
        console.error("hisock server: the error handler threw", cause);
      }
    }
  }

  #find(ref: ClientRef): JoinedPeer {
    if (typeof ref === "object" && !Array.isArray(ref)) {
      // The info a handler was given: when it is still that client's current
      // info, its address finds it without parsing or formatting (a reply
      // per message would otherwise build and hash a new key each time).
      const peer = this.#registry.byAddress((ref as ClientInfo).ipstr);
      if (peer !== undefined && peer.info === ref) return peer;
    }
    const key = resolveClientRef(ref);
    const peer = key.address !== undefined
      ? this.#registry.byAddress(key.address)
      : this.#registry.byName(key.name);
    if (peer === undefined) {
      throw new ClientNotFound(key.address ?? key.name);
    }
    return peer;
  }

  /**
   * The connection a send to one client goes to: `null` when it is already
   * closing (it was told `$DISCONN$` or said `$USRCLOSE$`; nothing may follow
   * that), as broadcasts skip it too.
   */
  #target(ref: ClientRef): Connection | null {
    this.#checkOpen();
    const { conn } = this.#find(ref);
    return conn.closed ? null : conn;
  }

  #checkOpen(): void {
    if (this.#closing !== null) throw new ConnectionClosed("the server is closed");
  }

  #groupMembers(group: string): readonly JoinedPeer[] {
    if (typeof group !== "string") throw new TypeError("a group must be a string");
    const members = this.#registry.group(group);
    if (members === undefined) throw new GroupNotFound(group);
    return members;
  }

  /**
   * Writes one frame to many connections: encoded once, then queued on each
   * by reference (see {@linkcode SharedFrames}), leaving with that
   * connection's next write; or, when the last broadcast went to the same
   * `peers` and nothing came between, added to its run (see SharedRun).
   * `peers` is one of the registry's arrays, which never change (see
   * {@linkcode ClientRegistry.list}): the same array, the same recipients.
   */
  #broadcast(peers: readonly Peer[], write: (writer: FrameWriter) => void): boolean {
    const frame = this.#shared.encode(write);
    const last = this.#run;
    if (last !== null && this.#runPeers === peers && last.extend(frame)) return last.writable;
    const run = new SharedRun(frame);
    this.#run = run;
    this.#runPeers = peers;
    let writable = true;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i];
      if (peer.conn.closed) continue;
      try {
        if (!peer.conn.sendFrames(frame, true, run)) writable = false;
      } catch (error) {
        // The run cannot grow for the recipient left out.
        run.open = false;
        this.#skip(peer, error);
        writable = false;
      }
    }
    return writable;
  }

  /**
   * Announces a join or leave to every client but `except`. Announcements
   * that follow each other closely leave together (see PRESENCE_DELAY_MS);
   * anything else sent to a connection meanwhile flushes them first, in
   * order. The registry is walked as it is, not copied: a storm of joins
   * announces each to all, and an array of every client per join (16 KB at
   * 2,000) took 3-4 KiB per connection of server memory in W5p on Deno.
   */
  #announcePresence(write: (writer: FrameWriter) => void, except: Peer | null): void {
    // Kept and put back: a client dropped during the walk may be announced
    // leaving from within it, if its transport ends it at once.
    const outer = this.#announcing;
    const outerExcept = this.#announcingExcept;
    this.#announcing = this.#shared.encode(write);
    this.#announcingExcept = except;
    try {
      this.#registry.forEach(this.#announceTo);
    } finally {
      this.#announcing = outer;
      this.#announcingExcept = outerExcept;
    }
    if (this.#presenceTimer === undefined) {
      const delay = presenceDelay(this.#presenceWaiting.size);
      this.#presenceTimer = setTimeout(this.#flushPresence, delay);
    }
  }

  /** The announcement {@linkcode HiSockServer.#announceTo} queues, and who is left out. */
  #announcing: EncodedFrames | null = null;
  #announcingExcept: Peer | null = null;

  /**
   * Queues the announcement being made on one client. Bound once, and given
   * the announcement in fields, so that walking the registry with it
   * allocates nothing per client (see ClientRegistry.forEach).
   */
  readonly #announceTo = (peer: Peer): void => {
    if (peer === this.#announcingExcept || peer.conn.closed) return;
    try {
      peer.conn.sendFrames(this.#announcing!, false);
      this.#presenceWaiting.add(peer.conn);
    } catch (error) {
      this.#skip(peer, error);
    }
  };

  /**
   * A send to `peer` that met its full queue: the peer is dropped or the
   * error reported (see #overflow), and a broadcast goes on to the others.
   * Any other error is thrown on.
   */
  #skip(peer: Peer, error: unknown): void {
    if (!(error instanceof QueueFull)) throw error;
    this.#overflow(peer, error);
  }

  /**
   * Flushes the connections holding presence announcements. Bound once: an
   * arrow made in #announcePresence would make every announcement allocate a context.
   */
  readonly #flushPresence = (): void => {
    this.#presenceTimer = undefined;
    const waiting = this.#presenceWaiting;
    this.#presenceWaiting = new Set();
    // forEach, not for...of: no iterator result per connection (see ClientRegistry.forEach).
    waiting.forEach(flushSoon);
  };
}

/**
 * The default {@linkcode ServerOptions.backlog}: Linux's own cap since 5.4.
 * A server of thousands of clients may see them all connect at once
 * (W5p, Node, 2,000 clients: with 511, 15 to 269 listen overflows in four
 * runs out of six, each a second's wait for a client).
 */
export const DEFAULT_BACKLOG = 4096;

/**
 * Presence announcements (`$CLTCONN$`, `$CLTDISCONN$`) wait at least this
 * long for others to leave with them. Every join is announced to every
 * client, so N joins cost N² frames: sent one join at a time, each is a write
 * per client; gathered, one write carries many. W5p (2,000 joins), Node: 22 s
 * without, 6.2-6.5 s with 2 ms, 2.7 s with 5 ms, 2.5 s with 10 ms; Deno:
 * 2.9-3.3 s without, 0.8-1.7 s with 10 ms. Anything else sent to a client
 * meanwhile takes the waiting announcements with it, in order.
 */
export const PRESENCE_DELAY_MS = 10;
/** How much longer announcements wait per connection they are flushed to (see presenceDelay). */
const PRESENCE_DELAY_PER_CONNECTION_MS = 0.025;
/** The longest announcements wait. */
export const PRESENCE_DELAY_MAX_MS = 100;

/**
 * How long presence announcements wait when they are to be flushed to
 * `connections` connections: {@linkcode PRESENCE_DELAY_MS}, or longer on a
 * big server. A flush is a write per connection (15-30 µs each on Node
 * here: 25-39 ms for 1,300-2,000 connections), so during a storm of joins on
 * a fixed 10 ms a server of 2,000 clients did little but flush: it fell
 * behind accepting, its listen queue overflowed, and the dropped connections
 * came back a second later (Node W5p: 2.1-2.3 s). Waiting 25 µs more per
 * connection spaces the flushes out as they grow: 10 ms up to 400
 * connections, 50 ms at 2,000, at most {@linkcode PRESENCE_DELAY_MAX_MS}
 * (W5p: 1.2-1.3 s, with {@linkcode DEFAULT_BACKLOG}).
 *
 * @example
 * ```ts
 * import { presenceDelay } from "./server.ts";
 * console.log(presenceDelay(10), presenceDelay(2000)); // 10 50
 * ```
 *
 * @param connections How many connections hold announcements to flush.
 * @returns The wait in milliseconds.
 */
export function presenceDelay(connections: number): number {
  const scaled = connections * PRESENCE_DELAY_PER_CONNECTION_MS;
  return Math.min(PRESENCE_DELAY_MAX_MS, Math.max(PRESENCE_DELAY_MS, scaled));
}

function flushSoon(conn: Connection): void {
  conn.flushSoon();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

function checkPolicy(policy: SlowClientPolicy | undefined): SlowClientPolicy {
  policy ??= "disconnect";
  if (policy !== "disconnect" && policy !== "throw") {
    throw new RangeError(`slowClientPolicy must be "disconnect" or "throw", not ${String(policy)}`);
  }
  return policy;
}

function resolveKeepalive(
  option: boolean | KeepaliveOptions | undefined,
  byDefault: boolean,
): Required<KeepaliveOptions> | null {
  const chosen = option ?? byDefault;
  if (chosen === false) return null;
  const settings = chosen === true ? {} : chosen;
  if (typeof settings !== "object" || settings === null) {
    throw new TypeError("keepalive must be a boolean or { interval, timeout }");
  }
  const interval = settings.interval ?? DEFAULT_KEEPALIVE_INTERVAL;
  const timeout = settings.timeout ?? DEFAULT_KEEPALIVE_TIMEOUT;
  for (const [name, value] of [["interval", interval], ["timeout", timeout]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`keepalive.${name} must be a positive integer (ms), not ${value}`);
    }
  }
  return { interval, timeout };
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, not ${value}`);
  }
  return value;
}

/**
 * Starts a server listening at `addr`.
 *
 * @example
 * ```ts
 * import { startServer } from "./server.ts";
 * const server = await startServer({ hostname: "127.0.0.1", port: 0 }, { maxConnections: 100 });
 * console.log("listening on", server.getAddr());
 * await server.close();
 * ```
 *
 * @param addr `[hostname, port]` or `{ hostname, port }`; port 0 picks a free port.
 * @param options See {@linkcode ServerOptions}.
 * @returns The running server.
 * @throws {TypeError} When the address is malformed.
 */
export async function startServer(
  addr: Address,
  options: ServerOptions = {},
): Promise<HiSockServer> {
  const { hostname, port } = parseAddress(addr);
  // Validate the options before taking the port.
  const dialect = resolveDialect(options.dialect);
  resolveQueueLimits(options, framingFor(options));
  checkPolicy(options.slowClientPolicy);
  resolveKeepalive(options.keepalive, dialect.keepaliveByDefault);
  checkDispatchOptions(options.dispatch ?? "immediate", options.maxPendingEvents);
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
    throw new RangeError(`backlog must be an integer from 1 to 65535, not ${backlog}`);
  }
  const transport = options.transport ?? defaultTransport;
  const listener = await transport.listen({ hostname, port, tls: options.tls, backlog });
  try {
    return new HiSockServer(listener, options);
  } catch (error) {
    listener.close();
    throw error;
  }
}
