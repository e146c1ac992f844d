/**
 * One framed connection: a transport stream with a frame decoder on the way
 * in and a coalescing frame writer on the way out. Server and client both
 * build on it.
 *
 * @module
 */

import { FrameDecoder, FrameWriter, type Framing, type UnframedRule } from "./framing.ts";
import type { ByteSink, NetAddress, TransportConn } from "./transport.ts";

/** What a connection reports to its owner. */
export interface ConnectionEvents {
  /**
   * A complete payload arrived. Runs synchronously in the read loop; throwing
   * closes the connection with that error (a protocol violation).
   */
  onFrame(payload: Uint8Array, owned: boolean): void;
  /** The connection closed: `error` says why when it was not a clean close. */
  onClose(error: unknown): void;
}

/** Output buffers above this size are not kept for reuse after a write. */
const MAX_SPARE = 256 * 1024;

/**
 * A framed connection. Outgoing frames are encoded into {@linkcode Connection.out}
 * and leave together: the first frame of a tick schedules a flush on the
 * microtask queue, and every frame written before it runs goes in the same
 * write. While a write is in flight new frames accumulate and leave in the
 * next one, so there is never more than one write outstanding.
 *
 * @example A connection over any transport
 * ```ts ignore
 * const connection = new Connection(transportConn, new Framing(), {
 *   onFrame(payload) { console.log(payload.length); },
 *   onClose(error) { console.log("closed", error); },
 * });
 * connection.out.frame(new TextEncoder().encode("hi"));
 * connection.flushSoon();
 * ```
 */
export class Connection implements ByteSink {
  /** Encode outgoing frames here, then call {@linkcode Connection.flushSoon}. */
  readonly out: FrameWriter;
  /** The transport underneath. */
  readonly transport: TransportConn;
  readonly #decoder: FrameDecoder;
  readonly #events: ConnectionEvents;
  #flushScheduled = false;
  #writing = false;
  #spare: Uint8Array | null = null;
  #closed = false;
  #closeError: unknown = undefined;
  /** Bytes handed to the transport and not yet confirmed written. */
  #inFlight = 0;
  #drainWaiters: Array<() => void> = [];
  #closeWaiters: Array<() => void> = [];
  /** Set by close(): end the connection once everything queued has left. */
  #closeWhenFlushed = false;

  /**
   * @param transport The open stream.
   * @param framing The agreed framing.
   * @param events Where frames and the close go.
   * @param unframed Bare payloads to tolerate where a header was expected.
   */
  constructor(
    transport: TransportConn,
    framing: Framing,
    events: ConnectionEvents,
    unframed?: UnframedRule,
  ) {
    this.transport = transport;
    this.#events = events;
    this.out = new FrameWriter(framing, 256);
    this.#decoder = new FrameDecoder(
      framing,
      (payload, owned) => events.onFrame(payload, owned),
      unframed,
    );
  }

  /** Starts reading. */
  start(): void {
    this.transport.start(this);
  }

  /** The peer's address. */
  get remoteAddr(): NetAddress {
    return this.transport.remoteAddr;
  }

  /** Whether the connection is closed or closing. */
  get closed(): boolean {
    return this.#closed || this.#closeWhenFlushed;
  }

  /** Outgoing bytes queued or in flight, not yet taken by the runtime. */
  get bufferedAmount(): number {
    return this.out.length + this.#inFlight;
  }

  /** Whether a frame was begun and not finished when the stream ended. */
  get midFrame(): boolean {
    return this.#decoder.midFrame;
  }

  // ByteSink: called by the transport's read loop.

  /** @inheritdoc */
  onData(chunk: Uint8Array, owned: boolean): void {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk, owned);
    } catch (error) {
      this.abort(error);
    }
  }

  /** @inheritdoc */
  directTarget(minimum: number): Uint8Array | null {
    return this.#closed ? null : this.#decoder.directTarget(minimum);
  }

  /** @inheritdoc */
  commitDirect(count: number): void {
    try {
      this.#decoder.commitDirect(count);
    } catch (error) {
      this.abort(error);
    }
  }

  /** @inheritdoc */
  onEnd(error?: unknown): void {
    this.#finish(error);
  }

  // Writing.

  /** Schedules a flush of {@linkcode Connection.out} at the end of this tick. */
  flushSoon(): void {
    if (this.#flushScheduled || this.#writing || this.#closed) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#writing || this.#closed) return;
    if (this.out.length === 0) {
      this.#drained();
      return;
    }
    const spare = this.#spare;
    this.#spare = null;
    const bytes = this.out.detach(spare ?? new Uint8Array(1024));
    this.#writing = true;
    this.#inFlight = bytes.length;
    this.transport.write(bytes).then(
      () => {
        this.#writing = false;
        this.#inFlight = 0;
        if (bytes.buffer.byteLength <= MAX_SPARE) {
          this.#spare = new Uint8Array(bytes.buffer);
        }
        this.#flush();
      },
      (error) => {
        this.#writing = false;
        this.#inFlight = 0;
        this.abort(error);
      },
    );
  }

  #drained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
    if (this.#closeWhenFlushed) this.abort();
  }

  /**
   * Resolves when everything queued so far has been taken by the runtime (or
   * the connection closed).
   */
  drain(): Promise<void> {
    if (this.#closed || (this.bufferedAmount === 0 && !this.#flushScheduled)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.flushSoon();
    });
  }

  /**
   * Closes gracefully: what is queued is written first, then the stream is
   * closed. Resolves once it is closed.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    if (!this.#closeWhenFlushed) {
      this.#closeWhenFlushed = true;
      if (!this.#writing && !this.#flushScheduled) this.#flush();
    }
    return closed;
  }

  /**
   * Closes now, dropping what is queued. `error` is reported to the owner as
   * the reason.
   *
   * @param error Why the connection is being dropped.
   */
  abort(error?: unknown): void {
    if (this.#closed) return;
    this.#closeError ??= error;
    this.transport.close();
    // The transport calls onEnd from its read loop; make sure the owner hears
    // of it even if the read loop has not started or has already ended.
    queueMicrotask(() => this.#finish(undefined));
  }

  #finish(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
    const reason = this.#closeError ?? error;
    for (const resolve of this.#drainWaiters) resolve();
    this.#drainWaiters = [];
    this.#events.onClose(reason);
    for (const resolve of this.#closeWaiters) resolve();
    this.#closeWaiters = [];
  }
}
