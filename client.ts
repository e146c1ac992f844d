/**
 * The hisock client: connects to a server with a name and a group, sends
 * commands and raw messages, and runs handlers for what the server sends.
 *
 * @module
 */

import { type Address, parseAddress } from "./address.ts";
import type { ClientInfo } from "./client_info.ts";
import { Connection, type QueueLimits, resolveQueueLimits } from "./connection.ts";
import type { CastResult, CastType, Sendable } from "./content.ts";
import {
  CommandReading,
  commandWriter,
  type Dialect,
  type DialectName,
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
  ClientNotFound,
  ConnectionClosed,
  HiSockError,
  KeepaliveTimeout,
  QueueFull,
  SlowConsumer,
} from "./errors.ts";
import { type FrameWriter, framingFor, type FramingOptions } from "./framing.ts";
import type { CloseOptions, SlowClientPolicy } from "./server.ts";
import { defaultTransport } from "./runtime.ts";
import type { ClientTlsOptions, Transport, TransportConn } from "./transport.ts";

/** Keepalive settings of a client. */
export interface ClientKeepaliveOptions {
  /**
   * Close the connection (a {@linkcode KeepaliveTimeout} on `error`) when
   * the server has sent nothing for this many milliseconds: it is gone
   * without a word (a crash, a cable pulled). Make it longer than the
   * server's keepalive interval plus its timeout (Python and default: 30 s
   * each), since a server with nothing to say only pings that often. Off by
   * default. `$KEEPALIVE$` pings are always answered, whatever this says.
   */
  deadAfter?: number;
}

/** Options of {@linkcode connect}. */
export interface ClientOptions extends FramingOptions, QueueLimits {
  /** The name to go by, or `null` (the default) for none. */
  name?: string | null;
  /** The group to join, or `null` (the default) for none. */
  group?: string | null;
  /**
   * What {@linkcode HiSockClient.update} does when nothing is pending: wait
   * for an event (`true`, the default) or return at once.
   */
  blocking?: boolean;
  /**
   * `"immediate"` (default): handlers run as messages arrive. `"manual"`:
   * events wait until {@linkcode HiSockClient.update} is called.
   */
  dispatch?: DispatchMode;
  /** The dialect the server speaks: `"v2"` (the default) or an implementation. */
  dialect?: DialectName | Dialect;
  /**
   * Extra keys for the hello JSON (an authentication token, say). Python
   * servers ignore them.
   */
  hello?: Record<string, unknown>;
  /**
   * Raw messages kept for {@linkcode HiSockClient.recvRaw} when no `*`
   * handler takes them. Past this many the oldest is dropped and an `error`
   * event says so. Default 1,024.
   */
  maxPendingRaw?: number;
  /** Speak TLS, verifying the server against these settings. */
  tls?: ClientTlsOptions;
  /** The network implementation; the runtime's own by default. */
  transport?: Transport;
  /**
   * What a send does when the queue of outgoing bytes would pass
   * `maxQueuedBytes` (the server reads nothing): `"disconnect"` (default)
   * closes the connection with a {@linkcode SlowConsumer} on `error`;
   * `"throw"` throws {@linkcode QueueFull} and queues nothing.
   */
  slowClientPolicy?: SlowClientPolicy;
  /**
   * With `dispatch: "manual"`: past this many events waiting for
   * {@linkcode HiSockClient.update}, the client stops reading until
   * `update()` has handled them. Default 10,000.
   */
  maxPendingEvents?: number;
  /** Detect a server that vanished (see {@linkcode ClientKeepaliveOptions}). */
  keepalive?: ClientKeepaliveOptions;
}

/** Handlers of the client's reserved events. */
export interface ClientEventHandlers {
  /** The server announced a client that joined (Python's `$CLTCONN$`). */
  client_connect: (client: ClientInfo) => unknown;
  /** The server announced a client that left. */
  client_disconnect: (client: ClientInfo) => unknown;
  /** The server dropped this client (`$DISCONN$`). */
  force_disconnect: () => unknown;
  /** Something went wrong that did not stop the client (a handler threw, a cast failed). */
  error: (error: HiSockError) => unknown;
}

const CLIENT_EVENTS = new Set([
  "client_connect",
  "client_disconnect",
  "force_disconnect",
  "error",
  "*",
]);

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * A connection to a hisock server. Make one with {@linkcode connect}.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./client.ts";
 * const client = await connect(["127.0.0.1", 5000], { name: "alice", group: "red" });
 * client.on("pong", "str", (text) => console.log("pong:", text));
 * client.send("ping", "hello");
 * ```
 */
export class HiSockClient {
  readonly #conn: Connection;
  readonly #dialect: Dialect;
  /** Where commands are read in place (see {@linkcode Dialect.readCommand}); reused. */
  readonly #reading = new CommandReading();
  readonly #dispatcher: Dispatcher;
  readonly #blocking: boolean;
  readonly #maxPendingRaw: number;
  #name: string | null;
  #group: string | null;
  #rawInbox: Uint8Array[] = [];
  #rawWaiters: Waiter<Uint8Array>[] = [];
  #lookups: Waiter<ClientInfo>[] = [];
  #closing: Promise<void> | null = null;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;
  readonly #slowClientPolicy: SlowClientPolicy;
  #deadTimer: ReturnType<typeof setInterval> | undefined;

  /** Use {@linkcode connect}. @internal */
  constructor(transport: TransportConn, options: ClientOptions) {
    this.#dialect = resolveDialect(options.dialect);
    this.#name = options.name ?? null;
    this.#group = options.group ?? null;
    this.#blocking = options.blocking ?? true;
    this.#maxPendingRaw = options.maxPendingRaw ?? 1024;
    this.#slowClientPolicy = options.slowClientPolicy ?? "disconnect";
    this.#dispatcher = new Dispatcher(
      options.dispatch ?? "immediate",
      (error) => this.#reportError(error),
      {
        maxPending: options.maxPendingEvents,
        onPressure: (high) => high ? this.#conn.hold() : this.#conn.release(),
      },
    );
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const framing = framingFor(options);
    this.#conn = new Connection(
      transport,
      framing,
      {
        onFrame: (bytes, start, end, owned) => this.#onFrame(bytes, start, end, owned),
        onClose: (error) => this.#onClose(error),
      },
      this.#dialect.unframedToClient ?? this.#dialect.unframed,
      resolveQueueLimits(options, framing),
    );
    const deadAfter = checkDeadAfter(options.keepalive);
    if (deadAfter !== undefined) this.#watchServer(deadAfter);
    this.#dialect.writeHello(this.#conn.out, this.#name, this.#group, options.hello);
    this.#conn.flushSoon();
    this.#conn.start();
  }

  /** The name this client goes by, as last set. */
  get name(): string | null {
    return this.#name;
  }

  /** The group this client is in, as last set. */
  get group(): string | null {
    return this.#group;
  }

  /** Our own address as the server sees it (`[host, port]`). */
  get addr(): [string, number] {
    const { hostname, port } = this.#conn.transport.localAddr;
    return [hostname, port];
  }

  /** Resolves once the connection is closed, whichever side closed it. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Outgoing bytes queued and not yet taken by the network. Sends return
   * `false` once this reaches `highWaterMark`.
   */
  get bufferedAmount(): number {
    return this.#conn.bufferedAmount;
  }

  /**
   * Resolves when everything queued so far has been taken by the network
   * (or the connection closed); with `below`, as soon as no more than that
   * many bytes are still queued (a low-water mark keeps a pipeline full).
   *
   * @example
   * ```ts ignore
   * if (!client.send("bulk", bigBytes)) await client.drain(256 * 1024);
   * ```
   *
   * @param below The queue size to wait for, in bytes; default 0.
   */
  drain(below = 0): Promise<void> {
    return this.#conn.drain(below);
  }

  /**
   * Registers a handler for a reserved event or a command.
   *
   * Reserved events: `client_connect`, `client_disconnect`,
   * `force_disconnect`, `error` (see {@linkcode ClientEventHandlers}) and `*`
   * (commands without a handler, and raw messages with `command` `null`).
   * Any other name is a command; its handler may declare the type its
   * content is cast to (default: the raw bytes).
   *
   * @example
   * ```ts ignore
   * client.on("score", "int", (score) => console.log(score + 1));
   * client.on("client_connect", (info) => console.log(info.name, "joined"));
   * ```
   *
   * @param event The event or command name.
   * @param handler What to run.
   * @returns The client, for chaining.
   */
  on<E extends keyof ClientEventHandlers>(event: E, handler: ClientEventHandlers[E]): this;
  /**
   * Handles commands without a handler, and raw messages (command `null`),
   * with the content cast to `type`.
   *
   * @param event `"*"`.
   * @param type The content type.
   * @param handler Gets the command or `null`, and the content.
   * @returns The client, for chaining.
   */
  on<T extends CastType>(
    event: "*",
    type: T,
    handler: (command: string | null, content: CastResult[T]) => unknown,
  ): this;
  /**
   * Handles commands without a handler, and raw messages (command `null`).
   *
   * @param event `"*"`.
   * @param handler Gets the command or `null`, and the content.
   * @returns The client, for chaining.
   */
  on(event: "*", handler: (command: string | null, content: Uint8Array) => unknown): this;
  /**
   * Handles a command, with its content cast to `type`.
   *
   * @param command The command.
   * @param type The content type.
   * @param handler Gets the content.
   * @returns The client, for chaining.
   */
  on<T extends CastType>(
    command: string,
    type: T,
    handler: (content: CastResult[T]) => unknown,
  ): this;
  /**
   * Handles a command, with its content as bytes.
   *
   * @param command The command.
   * @param handler Gets the content.
   * @returns The client, for chaining.
   */
  on(command: string, handler: (content: Uint8Array) => unknown): this;
  on(name: string, typeOrHandler: unknown, maybeHandler?: unknown): this {
    this.#dispatcher.on(CLIENT_EVENTS, name, typeOrHandler, maybeHandler);
    return this;
  }

  /**
   * Removes a handler, or every handler of an event or command.
   *
   * @example
   * ```ts ignore
   * client.off("score");
   * ```
   *
   * @param name The event or command.
   * @param handler The handler to remove; all of them when omitted.
   * @returns The client, for chaining.
   */
  off(name: string, handler?: (...args: never[]) => unknown): this {
    this.#dispatcher.off(CLIENT_EVENTS, name, handler);
    return this;
  }

  /**
   * Sends a command to the server. Nothing is awaited: the frame is queued
   * and leaves with the others of this tick.
   *
   * @example
   * ```ts ignore
   * client.send("move", { x: 1, y: 2 });
   * ```
   *
   * @param command The command.
   * @param content The content (see {@linkcode Sendable}).
   * @returns Whether the queue is still under `highWaterMark`; when `false`,
   *   await {@linkcode HiSockClient.drain} before sending more.
   * @throws {ConnectionClosed} When the client is closed.
   * @throws {MessageTooLarge} When the frame would exceed the limit.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full.
   */
  send(command: string, content: Sendable = null): boolean {
    this.#writable();
    const conn = this.#conn;
    if (conn.roomy) {
      this.#dialect.writeCommand(conn.out, command, content);
      conn.flushSoon();
      return conn.writable;
    }
    return this.#sendNearCap(commandWriter(this.#dialect, command, content), true);
  }

  /**
   * Sends a message without a command.
   *
   * @example
   * ```ts ignore
   * client.rawSend(new Uint8Array([1, 2, 3]));
   * ```
   *
   * @param content The content.
   * @returns Whether the queue is still under `highWaterMark`.
   * @throws {ConnectionClosed} When the client is closed.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full.
   */
  rawSend(content: Sendable): boolean {
    this.#writable();
    const conn = this.#conn;
    if (conn.roomy) {
      this.#dialect.writeRaw(conn.out, content);
      conn.flushSoon();
      return conn.writable;
    }
    return this.#sendNearCap(rawWriter(this.#dialect, content), true);
  }

  /**
   * Resolves with the next raw message (one without a command), or one that
   * arrived earlier and was kept because no `*` handler took it.
   *
   * @example
   * ```ts ignore
   * const bytes = await client.recvRaw();
   * ```
   *
   * @returns The message's bytes.
   * @throws {ConnectionClosed} When the connection closes first.
   */
  recvRaw(): Promise<Uint8Array> {
    const kept = this.#rawInbox.shift();
    if (kept !== undefined) return Promise.resolve(kept);
    if (this.#conn.closed) return Promise.reject(new ConnectionClosed());
    return new Promise((resolve, reject) => this.#rawWaiters.push({ resolve, reject }));
  }

  /**
   * Asks the server for a client's info (`$GETCLT$`).
   *
   * @example
   * ```ts ignore
   * const bob = await client.getClient("bob");
   * console.log(bob.ipstr);
   * ```
   *
   * @param client A name or `"host:port"`.
   * @returns The client's info.
   * @throws {ClientNotFound} When the server knows no such client.
   */
  getClient(client: string | readonly [string, number]): Promise<ClientInfo> {
    this.#writable();
    const ref = typeof client === "string" ? client : `${client[0]}:${client[1]}`;
    this.#dialect.writeGetClient(this.#conn.out, ref);
    this.#conn.flushSoon();
    return new Promise((resolve, reject) => {
      this.#lookups.push({
        resolve,
        reject: (error) => reject(error ?? new ClientNotFound(ref)),
      });
    });
  }

  /**
   * Runs the event loop once, in Python hisock's style: with
   * `dispatch: "manual"` it runs every queued event; with `blocking` it
   * resolves only after at least one event has been handled (or the client
   * closed); without, it returns at once.
   *
   * @example
   * ```ts ignore
   * while (!done) await client.update();
   * ```
   *
   * @returns How many queued events ran (manual dispatch).
   */
  update(): Promise<number> {
    return this.#dispatcher.run(this.#blocking && !this.#conn.closed, this.#closed);
  }

  /**
   * Changes this client's name on the server (`$CHNAME$`).
   *
   * @example
   * ```ts ignore
   * client.changeName("alicia");
   * ```
   *
   * @param name The new name.
   * @throws {ConnectionClosed} When the client is closed.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full; the name
   *   stays as it was.
   */
  changeName(name: string): void {
    this.#writable();
    if (typeof name !== "string") throw new TypeError("a name must be a string");
    // Through the queue cap like any send: near it, the policy applies.
    this.#sendNearCap((out) => this.#dialect.writeRename(out, name), true);
    if (!this.#conn.closed) this.#name = name;
  }

  /**
   * Changes this client's group on the server (`$CHGROUP$`).
   *
   * @example
   * ```ts ignore
   * client.changeGroup("blue");
   * ```
   *
   * @param group The new group.
   * @throws {ConnectionClosed} When the client is closed.
   * @throws {QueueFull} With `slowClientPolicy: "throw"`, when the queue is full; the group
   *   stays as it was.
   */
  changeGroup(group: string): void {
    this.#writable();
    if (typeof group !== "string") throw new TypeError("a group must be a string");
    // Through the queue cap like any send: near it, the policy applies.
    this.#sendNearCap((out) => this.#dialect.writeRegroup(out, group), true);
    if (!this.#conn.closed) this.#group = group;
  }

  /**
   * Leaves: tells the server (`$USRCLOSE$`), flushes what is queued, and
   * resolves once the connection is closed. When what is queued has not
   * left after `timeout` ms (default 30,000; a server that reads nothing),
   * the connection is cut. Calling it again returns the same promise.
   *
   * @example
   * ```ts ignore
   * await client.close({ timeout: 5_000 });
   * ```
   *
   * @param options How long to wait for queued data.
   * @returns Resolves once the connection is closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const timeout = options.timeout ?? 30_000;
    if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
      throw new RangeError(`timeout must be a non-negative number, not ${timeout}`);
    }
    if (this.#closing === null) {
      if (!this.#conn.closed) this.#dialect.writeClose(this.#conn.out);
      this.#closing = this.#conn.close().then(() => this.#closed);
    }
    if (Number.isFinite(timeout)) {
      const timer = setTimeout(() => {
        this.#conn.abort(
          new ConnectionClosed(`close() cut the connection after ${timeout} ms: data was left`),
        );
      }, timeout);
      const clear = () => clearTimeout(timer);
      this.#closing.then(clear, clear);
    }
    return this.#closing;
  }

  #writable(): void {
    if (this.#conn.closed) throw new ConnectionClosed("the client is closed");
  }

  /**
   * Queues frames near the cap. `caller`: a send the caller made (which may
   * throw under "throw"), else one the client makes on its own (an answer).
   */
  #sendNearCap(write: (out: FrameWriter) => void, caller: boolean): boolean {
    try {
      return this.#conn.send(write);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      if (this.#slowClientPolicy === "disconnect") {
        this.#conn.abort(new SlowConsumer(error.queued, error.limit));
      } else if (caller) {
        throw error;
      } else {
        this.#reportError(error);
      }
      return false;
    }
  }

  /** Closes the connection when the server stays silent for `deadAfter` ms. */
  #watchServer(deadAfter: number): void {
    let seen = this.#conn.bytesReceived;
    let since = Date.now();
    this.#deadTimer = setInterval(() => {
      const now = Date.now();
      const received = this.#conn.bytesReceived;
      // Reading held back by manual dispatch is not the server's silence.
      if (received !== seen || this.#conn.held) {
        seen = received;
        since = now;
      } else if (now - since >= deadAfter) {
        clearInterval(this.#deadTimer);
        this.#conn.abort(new KeepaliveTimeout(now - since));
      }
    }, Math.max(5, Math.floor(deadAfter / 4)));
  }

  /** A frame from the server: the payload `bytes[start, end)`. */
  #onFrame(bytes: Uint8Array, start: number, end: number, owned: boolean): void {
    // After $DISCONN$ (or our own close()) nothing more is dispatched, even
    // frames that arrived in the same read.
    if (this.#conn.closed) return;
    const dialect = this.#dialect;
    const reading = this.#reading;
    if (dialect.readCommand !== undefined && dialect.readCommand(bytes, start, end, reading)) {
      this.#dispatchCommand(reading.command, reading.content, owned);
      return;
    }
    this.#onOtherFrame(bytes, start, end, owned);
  }

  /**
   * A frame that is not a command: an announcement, a reserved word or raw.
   * Apart from #onFrame so that the command path stays small enough to be
   * inlined into the frame decoder's loop (as the server's is).
   */
  #onOtherFrame(bytes: Uint8Array, start: number, end: number, owned: boolean): void {
    const dialect = this.#dialect;
    // An announcement no handler listens to is not parsed (see the README):
    // on a big server they are most of what a client receives.
    const presence = dialect.peekPresence?.(bytes, start, end);
    if (
      presence !== undefined &&
      !this.#dispatcher.events.has(presence === "join" ? "client_connect" : "client_disconnect")
    ) return;
    const message = dialect.parseClientBound(bytes, start, end);
    switch (message.kind) {
      case "command":
        // v1 cannot tell a raw message from a command: unhandled ones are raw.
        if (
          message.payload !== undefined &&
          this.#dispatcher.commands.get(message.command).length === 0 &&
          this.#dispatcher.events.get("*").length === 0
        ) {
          this.#onRaw(message.payload, owned);
          return;
        }
        this.#dispatchCommand(message.command, message.content, owned);
        return;
      case "raw":
        this.#onRaw(message.content, owned);
        return;
      case "join":
        this.#emit("client_connect", [message.info]);
        return;
      case "leave":
        this.#emit("client_disconnect", [message.info]);
        return;
      case "client_info":
        this.#settleLookup(message.info);
        return;
      case "keepalive":
        this.#answerKeepalive();
        return;
      case "disconnect":
        this.#emit("force_disconnect", []);
        this.#conn.close();
        return;
    }
  }

  #dispatchCommand(command: string, content: unknown, owned: boolean): void {
    const dispatcher = this.#dispatcher;
    const dialect = this.#dialect;
    const handlers = dispatcher.commands.get(command);
    if (handlers.length > 0) {
      dispatcher.deliver(
        command,
        handlers,
        undefined,
        0,
        undefined,
        undefined,
        content,
        owned,
        dialect,
      );
      return;
    }
    const any = dispatcher.events.get("*");
    dispatcher.deliver("*", any, undefined, 1, command, undefined, content, owned, dialect);
  }

  /**
   * Answers the server's heartbeat; always, so that a server that pings and
   * never reads meets the cap. Its own method: an arrow in #onFrame would
   * make every frame allocate a context for `this` until the optimizing
   * compiler removed it.
   */
  #answerKeepalive(): void {
    this.#sendNearCap((out) => this.#dialect.writeKeepaliveAck(out), false);
  }

  #onRaw(content: unknown, owned: boolean): void {
    // A lookup's answer arrives as a raw message in dialects that do not tag it.
    if (this.#lookups.length > 0) {
      const reply = this.#dialect.parseClientInfoReply?.(content);
      if (reply !== undefined) {
        this.#settleLookup(reply);
        return;
      }
    }
    const waiter = this.#rawWaiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(this.#dialect.cast(content, "bytes", owned));
      return;
    }
    const handlers = this.#dispatcher.events.get("*");
    if (handlers.length > 0) {
      this.#dispatcher.deliver(
        "*",
        handlers,
        undefined,
        1,
        null,
        undefined,
        content,
        owned,
        this.#dialect,
      );
      return;
    }
    this.#rawInbox.push(this.#dialect.cast(content, "bytes", owned));
    if (this.#rawInbox.length > this.#maxPendingRaw) {
      this.#rawInbox.shift();
      this.#reportError(
        new HiSockError(
          `more than ${this.#maxPendingRaw} raw messages waiting for recvRaw(): dropped the oldest`,
          "RAW_OVERFLOW",
        ),
      );
    }
  }

  #settleLookup(info: ClientInfo | null): void {
    const waiter = this.#lookups.shift();
    if (waiter === undefined) return;
    if (info === null) waiter.reject(undefined);
    else waiter.resolve(info);
  }

  #emit(event: string, args: EventArgs): void {
    this.#dispatcher.emit(event, undefined, args);
  }

  #onClose(error: unknown): void {
    clearInterval(this.#deadTimer);
    if (error instanceof HiSockError) this.#reportError(error);
    if (this.#rawWaiters.length > 0 || this.#lookups.length > 0) {
      // Made only for someone waiting: an error's stack costs, per client.
      const closed = new ConnectionClosed("the connection closed", { cause: error });
      for (const waiter of this.#rawWaiters) waiter.reject(closed);
      for (const waiter of this.#lookups) waiter.reject(closed);
    }
    this.#rawWaiters = [];
    this.#lookups = [];
    this.#resolveClosed();
  }

  #reportError(error: HiSockError): void {
    const handlers = this.#dispatcher.events.get("error");
    if (handlers.length === 0) {
      console.error(`hisock client: ${error.message}`);
      return;
    }
    for (const handler of handlers) {
      try {
        const result = handler.fn(error);
        if (result instanceof Promise) result.catch((cause) => console.error(cause));
      } catch (cause) {
        console.error("hisock client: the error handler threw", cause);
      }
    }
  }
}

function checkDeadAfter(keepalive: ClientKeepaliveOptions | undefined): number | undefined {
  if (keepalive === undefined) return undefined;
  if (typeof keepalive !== "object" || keepalive === null) {
    throw new TypeError("keepalive must be { deadAfter }");
  }
  const deadAfter = keepalive.deadAfter;
  if (deadAfter === undefined) return undefined;
  if (!Number.isSafeInteger(deadAfter) || deadAfter < 1) {
    throw new RangeError(`keepalive.deadAfter must be a positive integer (ms), not ${deadAfter}`);
  }
  return deadAfter;
}

function checkPolicy(policy: SlowClientPolicy | undefined): void {
  if (policy !== undefined && policy !== "disconnect" && policy !== "throw") {
    throw new RangeError(`slowClientPolicy must be "disconnect" or "throw", not ${String(policy)}`);
  }
}

/**
 * Connects to a hisock server and says hello.
 *
 * @example
 * ```ts
 * import { connect } from "./client.ts";
 * import { startServer } from "./server.ts";
 * const server = await startServer(["127.0.0.1", 0]);
 * const client = await connect(server.getAddr(), { name: "alice", group: "red" });
 * await client.close();
 * await server.close();
 * ```
 *
 * @param addr `[hostname, port]` or `{ hostname, port }`.
 * @param options See {@linkcode ClientOptions}.
 * @returns The connected client. There is no reply to a hello, so this
 *   resolves once the TCP connection is up and the hello is queued.
 * @throws {ServerNotRunning} When nothing listens at the address.
 * @throws {TypeError} When the address or a name is malformed.
 */
export async function connect(addr: Address, options: ClientOptions = {}): Promise<HiSockClient> {
  const { hostname, port } = parseAddress(addr);
  for (const key of ["name", "group"] as const) {
    const value = options[key];
    if (value !== undefined && value !== null && typeof value !== "string") {
      throw new TypeError(`${key} must be a string or null`);
    }
  }
  // Validate the options before connecting.
  resolveQueueLimits(options, framingFor(options));
  resolveDialect(options.dialect);
  checkDispatchOptions(options.dispatch ?? "immediate", options.maxPendingEvents);
  checkPolicy(options.slowClientPolicy);
  checkDeadAfter(options.keepalive);
  const transport = options.transport ?? defaultTransport;
  const conn = await transport.connect({ hostname, port, tls: options.tls });
  try {
    return new HiSockClient(conn, options);
  } catch (error) {
    conn.close();
    throw error;
  }
}
