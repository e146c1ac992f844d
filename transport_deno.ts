/**
 * The Deno transport: `Deno.listen` / `Deno.connect` (and their TLS forms),
 * read with `conn.read` into a buffer reused across reads.
 *
 * @module
 */

import { ServerNotRunning } from "./errors.ts";
import { AdaptiveReadBuffer, DIRECT_READ_MIN } from "./read_buffer.ts";
import type {
  ByteSink,
  ConnectOptions,
  ListenOptions,
  NetAddress,
  Transport,
  TransportConn,
  TransportListener,
  WriteListener,
} from "./transport.ts";

class DenoConn implements TransportConn {
  readonly remoteAddr: NetAddress;
  readonly #conn: Deno.Conn;
  #closed = false;
  #paused: { promise: Promise<void>; resolve: () => void } | null = null;
  /** The write in progress, how much of it is done, and who hears the end. */
  #writing: Uint8Array | null = null;
  #written = 0;
  #listener: WriteListener | null = null;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.remoteAddr = netAddress(conn.remoteAddr);
    // Small frames must not wait for Nagle's algorithm: writes are already
    // coalesced per tick, so each write is worth sending at once.
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  }

  /** Made on demand: few callers ask, and every connection would pay. */
  get localAddr(): NetAddress {
    return netAddress(this.#conn.localAddr);
  }

  start(sink: ByteSink): void {
    this.#readLoop(sink);
  }

  async #readLoop(sink: ByteSink): Promise<void> {
    const conn = this.#conn;
    const reads = new AdaptiveReadBuffer();
    let failure: unknown;
    try {
      while (!this.#closed) {
        if (this.#paused) await this.#paused.promise;
        const direct = sink.directTarget?.(DIRECT_READ_MIN) ?? null;
        if (direct !== null) {
          const count = await conn.read(direct);
          if (count === null) break;
          sink.commitDirect!(count);
          continue;
        }
        const buffer = reads.buffer;
        const count = await conn.read(buffer);
        if (count === null) break;
        sink.onData(buffer.subarray(0, count), false);
        reads.afterRead(count);
      }
    } catch (error) {
      // A read interrupted by our own close() is a clean end.
      if (!this.#closed) failure = error;
    }
    this.close();
    sink.onEnd(failure);
  }

  write(bytes: Uint8Array, listener: WriteListener): void {
    this.#writing = bytes;
    this.#written = 0;
    this.#listener = listener;
    this.#conn.write(bytes).then(this.#afterWrite, this.#writeFailed);
  }

  /** Bound once: a write allocates no callbacks (it was a hot path). */
  readonly #afterWrite = (count: number): void => {
    const bytes = this.#writing!;
    this.#written += count;
    if (this.#written < bytes.length) {
      this.#conn.write(bytes.subarray(this.#written)).then(this.#afterWrite, this.#writeFailed);
      return;
    }
    const listener = this.#listener!;
    this.#writing = null;
    this.#listener = null;
    listener.onWritten();
  };

  readonly #writeFailed = (error: unknown): void => {
    const listener = this.#listener!;
    this.#writing = null;
    this.#listener = null;
    listener.onWriteFailed(error);
  };

  pause(): void {
    if (this.#paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#paused = { promise, resolve };
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a failure.
    }
  }
}

class DenoListener implements TransportListener {
  readonly addr: NetAddress;
  readonly #listener: Deno.Listener;
  #closed = false;
  /** The accept loop; it ends once the pending accept has been cancelled. */
  #loop: Promise<void> | null = null;

  constructor(listener: Deno.Listener) {
    this.#listener = listener;
    this.addr = netAddress(listener.addr);
  }

  start(onConn: (conn: TransportConn) => void, onError: (error: unknown) => void): void {
    this.#loop = (async () => {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await this.#listener.accept();
        } catch (error) {
          if (this.#closed || error instanceof Deno.errors.BadResource) return;
          // A failed handshake or a peer that reset before accept: keep going.
          onError(error);
          continue;
        }
        onConn(new DenoConn(conn));
      }
    })();
  }

  /**
   * Closes the listener. The socket is only released once the pending
   * `accept()` has been cancelled, a tick later: until then a connecting
   * client is accepted by the kernel and reset instead of refused. So this
   * resolves when the accept loop has ended and the port is really free.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
    }
    return this.#loop ?? Promise.resolve();
  }
}

function netAddress(addr: Deno.Addr): NetAddress {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return { hostname: addr.hostname, port: addr.port };
  }
  return { hostname: String((addr as Deno.UnixAddr).path ?? ""), port: 0 };
}

/**
 * The transport for Deno.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./client.ts";
 * import { denoTransport } from "./transport_deno.ts";
 * const client = await connect(["127.0.0.1", 5000], { transport: denoTransport });
 * ```
 */
export const denoTransport: Transport = {
  async listen(options: ListenOptions): Promise<TransportListener> {
    const { hostname, port, tls, backlog: tcpBacklog } = options;
    const listener = tls
      ? Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key, tcpBacklog })
      : Deno.listen({ hostname, port, tcpBacklog });
    return await Promise.resolve(new DenoListener(listener));
  },

  async connect(options: ConnectOptions): Promise<TransportConn> {
    const { hostname, port, tls } = options;
    try {
      if (tls) {
        // Connect to the address given, then verify the certificate against
        // tls.hostname: the two differ when a server on 127.0.0.1 presents
        // a certificate for "localhost".
        const caCerts = [...(tls.caCerts ?? []), ...[tls.ca ?? []].flat()];
        const tcp = await Deno.connect({ hostname, port });
        try {
          const conn = await Deno.startTls(tcp, {
            hostname: tls.hostname ?? hostname,
            caCerts: caCerts.length ? caCerts : undefined,
          });
          await conn.handshake();
          return new DenoConn(conn);
        } catch (error) {
          try {
            tcp.close();
          } catch {
            // startTls may have taken the connection over and closed it.
          }
          throw error;
        }
      }
      return new DenoConn(await Deno.connect({ hostname, port }));
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionRefused) {
        throw new ServerNotRunning(`${hostname}:${port}`, { cause: error });
      }
      throw error;
    }
  },
};
