/**
 * The runtime seam: the only interfaces through which the core touches the
 * network. Deno's implementation is in `transport_deno.ts`, Node's and Bun's
 * (over `node:net`) in `transport_node.ts`; the core never knows which one
 * it runs on.
 *
 * @module
 */

/** A host and port. */
export interface NetAddress {
  /** The IP address or host name. */
  hostname: string;
  /** The TCP port. */
  port: number;
}

/**
 * Where a connection's bytes go. The transport calls these synchronously from
 * its read loop, one chunk at a time, and never concurrently.
 */
export interface ByteSink {
  /**
   * The next chunk. When `owned` is false the transport reuses the chunk's
   * memory after this returns, so the sink must copy what it keeps.
   */
  onData(chunk: Uint8Array, owned: boolean): void;
  /**
   * Optional: a buffer the transport may read the next bytes straight into
   * (a large payload being assembled), or `null`. Only transports that read
   * into caller-provided memory use it.
   */
  directTarget?(minimum: number): Uint8Array | null;
  /** Accounts for `count` bytes read into the last direct target. */
  commitDirect?(count: number): void;
  /** The stream ended: cleanly (`error` undefined) or with a failure. */
  onEnd(error?: unknown): void;
}

/**
 * Hears how a write ended. A connection passes itself, so that a write
 * allocates no callback.
 */
export interface WriteListener {
  /** Every byte of the write was taken by the runtime. */
  onWritten(): void;
  /** The write failed; the connection is of no further use. */
  onWriteFailed(error: unknown): void;
}

/** One open byte stream: a TCP (or TLS) connection. */
export interface TransportConn {
  /** The peer's address. */
  readonly remoteAddr: NetAddress;
  /** Our end's address. */
  readonly localAddr: NetAddress;
  /**
   * Whether {@linkcode TransportConn.write} may be called again before the
   * last write has ended: the transport then keeps the writes in order and
   * tells of their ends in order. Node's sockets queue writes themselves;
   * without this, one write at a time.
   */
  readonly pipelinesWrites?: boolean;
  /** Starts delivering bytes to `sink`; call once. */
  start(sink: ByteSink): void;
  /**
   * Writes all of `bytes`, then tells `listener` once the runtime has taken
   * them, or that it failed: exactly once, and never from inside this call.
   * The caller must not touch `bytes` until then, nor call `write` again
   * unless the transport {@linkcode TransportConn.pipelinesWrites}.
   */
  write(bytes: Uint8Array, listener: WriteListener): void;
  /** Stops reading until {@linkcode TransportConn.resume} (backpressure). */
  pause(): void;
  /** Resumes reading after {@linkcode TransportConn.pause}. */
  resume(): void;
  /** Closes both directions now. Idempotent. The sink then gets `onEnd`. */
  close(): void;
}

/** A listening socket. */
export interface TransportListener {
  /** The address actually bound (the real port when 0 was asked for). */
  readonly addr: NetAddress;
  /**
   * Starts accepting: each new connection is passed to `onConn`; `onError`
   * hears failures of the accept loop that do not stop it.
   */
  start(onConn: (conn: TransportConn) => void, onError: (error: unknown) => void): void;
  /** Stops accepting and releases the port. Idempotent. */
  close(): void;
}

/** TLS settings of a server: its certificate chain and private key, as PEM. */
export interface ServerTlsOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** TLS settings of a client. */
export interface ClientTlsOptions {
  /** Extra trusted CA certificates, PEM (Deno's name). */
  caCerts?: string[];
  /** Extra trusted CA certificates, PEM (Node's name; same meaning). */
  ca?: string | string[];
  /** The name to verify the server's certificate against; default the host. */
  hostname?: string;
}

/** What a transport needs to listen. */
export interface ListenOptions extends NetAddress {
  /** Serve TLS with this certificate when set. */
  tls?: ServerTlsOptions;
  /**
   * How many connections the OS may hold before they are accepted (the
   * `listen(2)` backlog, capped by the OS); the runtime's default when unset.
   */
  backlog?: number;
}

/** What a transport needs to connect. */
export interface ConnectOptions extends NetAddress {
  /** Speak TLS, verifying the server, when set. */
  tls?: ClientTlsOptions;
}

/**
 * A runtime's network access.
 *
 * @example Choosing a transport explicitly
 * ```ts ignore
 * import { startServer } from "./server.ts";
 * import { nodeTransport } from "./transport_node.ts";
 * const server = await startServer(["127.0.0.1", 0], { transport: nodeTransport });
 * await server.close();
 * ```
 */
export interface Transport {
  /** Opens a listening socket. Rejects when the address cannot be bound. */
  listen(options: ListenOptions): Promise<TransportListener>;
  /**
   * Opens a connection. Rejects with an error whose `code` is
   * `"ECONNREFUSED"` when nothing listens there.
   */
  connect(options: ConnectOptions): Promise<TransportConn>;
}
