/**
 * The `node:net` transport, for Node.js and Bun (and Deno, whose `node:net`
 * runs it too, which is how its tests run under `deno test`). TLS goes
 * through `node:tls` when `tls` options are given.
 *
 * Two ways of reading:
 *
 * - Plain TCP client sockets (in Node and Deno, not Bun) read through the
 *   socket's `onread` option into memory of ours: one read buffer that every
 *   such socket of the process reuses (so chunks are lent, `owned` false, and
 *   the core copies what it keeps), or straight into the large payload the
 *   sink is assembling
 *   ({@linkcode ByteSink.directTarget}). This is the fast path: `'data'`
 *   events allocate a fresh 64 KiB buffer per read.
 * - Accepted server sockets (Node has no `onread` for those), TLS sockets and
 *   Bun's sockets (whose `onread` neither calls a buffer function nor bounds a
 *   read by the buffer's length) stay in flowing mode, and every `'data'`
 *   chunk is handed to the sink as it comes: a new buffer per read, so the
 *   chunks are the sink's to keep (`owned`) and nothing is copied.
 *
 * @module
 */

import * as net from "node:net";
import process from "node:process";
import * as tls from "node:tls";
import { ServerNotRunning } from "./errors.ts";
import { DIRECT_READ_MIN, MAX_READ } from "./read_buffer.ts";
import type {
  ByteSink,
  ClientTlsOptions,
  ConnectOptions,
  ListenOptions,
  NetAddress,
  Transport,
  TransportConn,
  TransportListener,
  WriteListener,
} from "./transport.ts";

// The seam's types, so that this module's API is complete on its own (and
// the npm package's "./transport-node" entry serves those who wrap it).
export type {
  ByteSink,
  ClientTlsOptions,
  ConnectOptions,
  ListenOptions,
  NetAddress,
  ServerTlsOptions,
  Transport,
  TransportConn,
  TransportListener,
  WriteListener,
} from "./transport.ts";

/**
 * Whether plain TCP clients read with `onread` and a buffer function (see the
 * module's description). Bun's `onread` ignores a function and may deliver
 * more bytes than the buffer holds, so Bun reads through `'data'`.
 */
const USER_BUFFER_READS = typeof process.versions.bun !== "string";

/**
 * The memory every `onread` socket of the process reads into (see
 * {@linkcode UserBufferReader}), made on first use. Reads run one at a time
 * on the main thread and each is consumed before the next, so one buffer
 * serves every connection: none holds read memory of its own, and a busy
 * process reads into a buffer that stays in the cache. With a buffer per
 * connection, each grown to fit its traffic, 64 clients fanned out to (W4)
 * spent 5% of the process's time faulting in fresh read buffers.
 */
let sharedReadBuffer: Uint8Array | null = null;

/**
 * The `onread` reader of a client socket. Node calls `next` for the memory of
 * each read (once when the socket gets its handle, then after every read) and
 * `onRead` with the count read into the memory `next` gave last, always on
 * the main thread, so the memory is ours again as soon as `onRead` returns.
 */
class UserBufferReader {
  sink: ByteSink | null = null;
  /** The memory given last is the sink's direct target, not the read buffer. */
  #direct = false;

  /** The `onread.buffer` function: where the next read goes. */
  readonly next = (): Uint8Array => {
    const direct = this.sink?.directTarget?.(DIRECT_READ_MIN) ?? null;
    this.#direct = direct !== null;
    return direct ?? (sharedReadBuffer ??= new Uint8Array(MAX_READ));
  };

  /**
   * The `onread.callback`: `count` bytes were read into `into`. Returns true:
   * reading goes on (pause() stops it).
   */
  readonly onRead = (count: number, into: Uint8Array): boolean => {
    const sink = this.sink;
    // Reads start when the connection is started (the socket is paused
    // until then), so there is a sink unless the connection has ended.
    if (sink === null) return true;
    if (this.#direct) {
      sink.commitDirect!(count);
      return true;
    }
    sink.onData(into.subarray(0, count), false);
    return true;
  };
}

/**
 * The writes of one socket, in flight together. Node keeps (a view of) the
 * bytes of a write, without copying, until its callback: it runs once they
 * are handed to the kernel, or with the error that dropped them. So a write
 * ends there, never on `write()`'s return value alone, and the caller may
 * reuse the bytes after it. Bun calls back once it has taken the bytes into
 * a buffer of its own, which then grows without bound for a peer that reads
 * nothing; so when `write()` says the socket's buffer is full, the write also
 * waits for `'drain'` (which means that everything written before it has
 * left), and the caller's queue caps keep counting those bytes until then.
 * The socket keeps writes in order, and calls back in order.
 */
class SocketWrites {
  readonly #socket: net.Socket;
  /** Writes started, called back, and told of as ended, since the start. */
  #started = 0;
  #calledBack = 0;
  #told = 0;
  /** Per write not yet told of, oldest first: who hears, and whether it waits for 'drain'. */
  readonly #listeners: WriteListener[] = [];
  readonly #needsDrain: boolean[] = [];
  /** Set by a failed write: no other write is told of after it. */
  #failed = false;
  /** How many writes the last 'drain' covered (all started before it). */
  #drainedUpTo = 0;
  #drainListening = false;
  /** Set during socket.write(), which may call back at once. */
  #inWrite = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
  }

  write(bytes: Uint8Array, listener: WriteListener): void {
    this.#started++;
    this.#inWrite = true;
    const roomLeft = this.#socket.write(bytes, this.#afterWrite);
    this.#inWrite = false;
    this.#listeners.push(listener);
    this.#needsDrain.push(!roomLeft);
    if (!roomLeft && !this.#drainListening) {
      this.#drainListening = true;
      this.#socket.on("drain", this.#onDrain);
    }
    this.#tellEnded();
  }

  /** Bound once, so that a write allocates no callbacks. */
  readonly #afterWrite = (error?: Error | null): void => {
    if (!error) {
      this.#calledBack++;
      this.#tellEnded();
      return;
    }
    this.#fail(error);
  };

  /**
   * A write failed. Apart from #afterWrite, which runs once per write: its
   * closure over `error` would make every call allocate a context until the
   * optimizing compiler removed it.
   */
  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    // Every write not yet told of failed with it: the socket is done.
    const listeners = [...new Set(this.#listeners)];
    this.#listeners.length = 0;
    this.#needsDrain.length = 0;
    const tell = () => {
      for (const listener of listeners) listener.onWriteFailed(error);
    };
    // Never from inside write(), as the seam promises.
    if (this.#inWrite) queueMicrotask(tell);
    else tell();
  }

  readonly #onDrain = (): void => {
    this.#drainedUpTo = this.#started;
    this.#tellEnded();
  };

  /** Tells of every write, oldest first, that has both things it waits for. */
  #tellEnded(): void {
    if (this.#inWrite || this.#failed) return;
    const needsDrain = this.#needsDrain;
    while (
      this.#told < this.#calledBack && needsDrain.length > 0 &&
      (!needsDrain[0] || this.#drainedUpTo > this.#told)
    ) {
      needsDrain.shift();
      this.#told++;
      this.#listeners.shift()!.onWritten();
    }
  }
}

class NodeConn implements TransportConn {
  #remoteAddr: NetAddress | null = null;
  #localAddr: NetAddress | null = null;
  readonly #socket: net.Socket;
  /** The `onread` reader, or null when the socket reads through `'data'`. */
  readonly #reader: UserBufferReader | null;
  #sink: ByteSink | null = null;
  /** Set by pause(), cleared by resume(). */
  #paused = false;
  /** Set by our own close(): the end that follows is a clean one. */
  #closing = false;
  /** The socket's 'close' event has fired. */
  #ended = false;
  #error: unknown = undefined;
  /** Writes queue in the socket: several may be in flight (see write()). */
  readonly pipelinesWrites = true;
  /** The writes' bookkeeping, made by the first write (many sockets never write). */
  #writes: SocketWrites | null = null;

  /**
   * @param socket A connected socket; one made with `reader`'s `onread`
   *   must have been paused before it connected.
   * @param reader The socket's `onread` reader, if it has one.
   * @param accepted Whether a listener accepted it: then the peer's address,
   *   which the server needs for every client, is read at once.
   */
  constructor(socket: net.Socket, reader: UserBufferReader | null = null, accepted = false) {
    this.#socket = socket;
    this.#reader = reader;
    // Each address is a system call, read when first asked for (a client's
    // by its owner, if ever) and kept: Node forgets them once the socket is
    // destroyed, so close() reads them first.
    if (accepted) void this.remoteAddr;
    // Small frames must not wait for Nagle's algorithm: writes are already
    // coalesced per tick, so each write is worth sending at once.
    socket.setNoDelay(true);
    // Listen for errors from the start: an 'error' without a listener throws.
    socket.on("error", (error) => this.#error ??= error);
    // 'close' comes once: on(), not once(), which wraps the listener.
    socket.on("close", () => {
      this.#ended = true;
      this.#end();
    });
  }

  get remoteAddr(): NetAddress {
    const socket = this.#socket;
    return this.#remoteAddr ??= {
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
  }

  get localAddr(): NetAddress {
    const socket = this.#socket;
    return this.#localAddr ??= { hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 };
  }

  /** Reads both addresses while the socket still has them. */
  #keepAddresses(): void {
    void this.remoteAddr;
    void this.localAddr;
  }

  start(sink: ByteSink): void {
    if (this.#sink !== null) throw new Error("the connection was already started");
    this.#sink = sink;
    const reader = this.#reader;
    if (reader !== null) {
      reader.sink = sink;
      // The socket was paused before it connected: no read has happened.
      if (!this.#paused && !this.#ended) this.#socket.resume();
    } else {
      // Attaching 'data' switches the socket to flowing mode (unless it was
      // paused); bytes that came before were buffered by the stream, so none
      // are lost.
      this.#socket.on("data", (chunk: Uint8Array) => {
        // A plain view on the same memory: handlers see a Uint8Array on every
        // runtime, not a Buffer here and a Uint8Array there.
        sink.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), true);
      });
    }
    // Closed before anyone listened: report it now, as a read loop would.
    if (this.#ended) queueMicrotask(() => this.#end());
  }

  #end(): void {
    const sink = this.#sink;
    if (sink === null) return;
    this.#sink = null;
    if (this.#reader !== null) this.#reader.sink = null;
    sink.onEnd(this.#closing ? undefined : this.#error);
  }

  write(bytes: Uint8Array, listener: WriteListener): void {
    (this.#writes ??= new SocketWrites(this.#socket)).write(bytes, listener);
  }

  pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    this.#paused = false;
    // Not before start(), which starts the flow (resuming a socket without
    // a reader would drop its bytes), and not after close() or the end:
    // there is nothing to resume then.
    if (this.#sink !== null && !this.#closing) this.#socket.resume();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#ended) this.#keepAddresses();
    // destroy(), not end(): the caller has already waited for its writes,
    // and "closes both directions now" is what the Deno transport does.
    this.#socket.destroy();
  }
}

class NodeListener implements TransportListener {
  readonly addr: NetAddress;
  readonly #server: net.Server;
  #closed = false;
  /** Connections accepted before start(), handed over when it is called. */
  #early: net.Socket[] | null = [];
  #onConn: ((conn: TransportConn) => void) | null = null;
  #onError: ((error: unknown) => void) | null = null;

  constructor(server: net.Server, secure: boolean) {
    this.#server = server;
    const bound = server.address();
    this.addr = bound !== null && typeof bound === "object"
      ? { hostname: bound.address, port: bound.port }
      : { hostname: String(bound ?? ""), port: 0 };
    // A TLS server's sockets are ready once their handshake is done.
    server.on(secure ? "secureConnection" : "connection", (socket: net.Socket) => {
      if (this.#closed) socket.destroy();
      else if (this.#onConn !== null) this.#onConn(new NodeConn(socket, null, true));
      else this.#early?.push(socket);
    });
    // A failed handshake or a reset before accept: the listener keeps going.
    if (secure) server.on("tlsClientError", (error: Error) => this.#onError?.(error));
    server.on("error", (error: Error) => this.#onError?.(error));
  }

  start(onConn: (conn: TransportConn) => void, onError: (error: unknown) => void): void {
    if (this.#onConn !== null) throw new Error("the listener was already started");
    this.#onConn = onConn;
    this.#onError = onError;
    const early = this.#early ?? [];
    this.#early = null;
    for (const socket of early) onConn(new NodeConn(socket, null, true));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#early ?? []) socket.destroy();
    this.#early = null;
    // Releases the port now; the callback (unused) waits for open connections.
    this.#server.close();
  }
}

/** Resolves once `emitter` emits `ready`, rejects on its first `error`. */
function settle(
  emitter: net.Server | net.Socket,
  ready: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = () => {
      emitter.off("error", onError);
      resolve();
    };
    const onError = (error: Error) => {
      emitter.off(ready, onReady);
      reject(error);
    };
    emitter.once(ready, onReady);
    emitter.once("error", onError);
  });
}

/**
 * Whether `node:tls` adds a `ca` option to the built-in roots instead of
 * replacing them: Deno's does (it maps `ca` to its `caCerts`), and there
 * reading `tls.rootCertificates` would need a `--allow-sys` permission.
 */
const CA_ADDS_TO_ROOTS = typeof process.versions.deno === "string";

/**
 * The CAs to pass as `ca`. Our CAs are extra trust, as Deno's `caCerts` are,
 * but Node's `ca` replaces the built-in roots, so they are added back there.
 */
function caList(extra: string[]): string[] | undefined {
  if (extra.length === 0) return undefined;
  return CA_ADDS_TO_ROOTS ? extra : [...tls.rootCertificates, ...extra];
}

/** Node's TLS client options for ours. */
function clientTls(options: ConnectOptions, settings: ClientTlsOptions): tls.ConnectionOptions {
  const extra = [...(settings.caCerts ?? []), ...[settings.ca ?? []].flat()];
  const name = settings.hostname ?? options.hostname;
  return {
    host: options.hostname,
    port: options.port,
    ca: caList(extra),
    // SNI carries names only (RFC 6066): an IP is verified but not sent.
    servername: net.isIP(name) === 0 ? name : undefined,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
  };
}

/**
 * The transport for Node.js and Bun, over `node:net` and `node:tls`. It is
 * the default of the npm package; Deno code may pass it explicitly.
 *
 * @example Serving and connecting over node:net
 * ```ts ignore
 * import { connect, startServer } from "./mod.ts";
 * import { nodeTransport } from "./transport_node.ts";
 * const server = await startServer(["127.0.0.1", 0], { transport: nodeTransport });
 * const client = await connect(server.getAddr(), { name: "alice", transport: nodeTransport });
 * await client.close();
 * await server.close();
 * ```
 */
export const nodeTransport: Transport = {
  async listen(options: ListenOptions): Promise<TransportListener> {
    const { hostname, port, tls: settings, backlog } = options;
    const server = settings
      ? tls.createServer({ cert: settings.cert, key: settings.key })
      : net.createServer();
    const listening = settle(server, "listening");
    server.listen({ host: hostname, port, backlog });
    await listening;
    return new NodeListener(server, settings !== undefined);
  },

  async connect(options: ConnectOptions): Promise<TransportConn> {
    const { hostname, port, tls: settings } = options;
    let reader: UserBufferReader | null = null;
    let socket: net.Socket;
    if (settings) socket = tls.connect(clientTls(options, settings));
    else if (USER_BUFFER_READS) {
      reader = new UserBufferReader();
      socket = net.connect({
        host: hostname,
        port,
        onread: { buffer: reader.next, callback: reader.onRead },
      });
      // No read until start() hands us the sink.
      socket.pause();
    } else socket = net.connect({ host: hostname, port });
    try {
      await settle(socket, settings ? "secureConnect" : "connect");
    } catch (error) {
      socket.destroy();
      if ((error as { code?: unknown }).code === "ECONNREFUSED") {
        throw new ServerNotRunning(`${hostname}:${port}`, { cause: error });
      }
      throw error;
    }
    return new NodeConn(socket, reader);
  },
};
