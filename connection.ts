/**
 * One framed connection: a transport stream with a frame decoder on the way
 * in and a coalescing frame writer on the way out. Server and client both
 * build on it.
 *
 * @module
 */

import { QueueFull } from "./errors.ts";
import {
  type BufferSource,
  FrameDecoder,
  type FrameHandler,
  FrameWriter,
  type Framing,
  type UnframedRule,
} from "./framing.ts";
import type { ByteSink, NetAddress, TransportConn, WriteListener } from "./transport.ts";

/** What a connection reports to its owner. */
export interface ConnectionEvents {
  /**
   * A complete payload arrived: `bytes[start, end)` (see {@linkcode FrameHandler}).
   * Runs synchronously in the read loop; throwing closes the connection with
   * that error (a protocol violation). It is called as a plain function, not
   * as a method: use an arrow function.
   */
  onFrame: FrameHandler;
  /** The connection closed: `error` says why when it was not a clean close. */
  onClose(error: unknown): void;
}

/**
 * Outgoing frames gather in a buffer of this size; when it is nearly full it
 * is sealed and written while the next one fills. Buffers of exactly this
 * size are shared among all connections through a small pool, so a busy
 * connection does not allocate (and fault in) fresh memory for every batch.
 */
const BATCH = 64 * 1024;
/**
 * A batch is sealed at this fill, leaving room for the next small frame that
 * would otherwise overflow it into a doubled, freshly copied buffer.
 */
const SEAL_AT = BATCH - 8 * 1024;
/**
 * Bytes in flight at most, where writes may be pipelined: enough to keep a
 * socket fed through a long loop of broadcasts (four runs of a batch), and
 * no more handed to the runtime than that.
 */
const PIPELINED_BYTES = 4 * BATCH;
/** Buffers kept in the shared pool, at most (4 MiB): a stream's queue at its high-water mark. */
const POOL_MAX = 64;
const pool: Uint8Array[] = [];
/**
 * Big buffers (large frames') are pooled by size for the whole process, up
 * to this many bytes in all: a bulk sender then cycles a few warm buffers
 * instead of growing fresh ones, which are zeroed and faulted in page by
 * page, for every write; and an idle connection holds none of them.
 */
const MAX_BIG_POOL = 16 * 1024 * 1024;
/** Big buffers kept per size, at most. */
const BIG_PER_SIZE = 4;
const bigPool = new Map<number, Uint8Array[]>();
let bigPoolBytes = 0;

function takeBigBuffer(size: number): Uint8Array | undefined {
  const buffer = bigPool.get(size)?.pop();
  if (buffer !== undefined) bigPoolBytes -= buffer.length;
  return buffer;
}

function giveBigBuffer(buffer: Uint8Array): void {
  if (bigPoolBytes + buffer.length > MAX_BIG_POOL) return;
  let list = bigPool.get(buffer.length);
  if (list === undefined) bigPool.set(buffer.length, list = []);
  // A stream keeps a few batches in flight; more of one size is waste.
  if (list.length >= BIG_PER_SIZE) return;
  list.push(buffer);
  bigPoolBytes += buffer.length;
}

/**
 * The process-wide buffer pools, as a {@linkcode BufferSource} for growing
 * writers: batch-sized and big buffers are taken from and given back to them.
 */
const SHARED_BUFFERS: BufferSource = {
  take: (size) => size === BATCH ? pool.pop() : size > BATCH ? takeBigBuffer(size) : undefined,
  give: recycleBuffer,
};

/** Gives a whole buffer nobody uses any more back to the pool of its size. */
function recycleBuffer(buffer: Uint8Array): void {
  if (buffer.length === BATCH) giveBatchBuffer(buffer);
  else if (buffer.length > BATCH) giveBigBuffer(buffer);
}
/** An idle connection keeps an output buffer of at most this size. */
const IDLE_BUFFER = 4 * 1024;
const EMPTY = new Uint8Array(0);

function takeBatchBuffer(): Uint8Array {
  return pool.pop() ?? new Uint8Array(BATCH);
}

function giveBatchBuffer(buffer: Uint8Array): void {
  if (pool.length < POOL_MAX) pool.push(buffer);
}

/**
 * The buffers of {@linkcode SharedFrames}: queued on many connections by
 * reference, so never recycled by any one of them.
 */
const sharedBuffers = new WeakSet<ArrayBufferLike>();

/**
 * Frames encoded once, to be queued on connections by reference (see
 * {@linkcode SharedFrames}): `bytes`, which lie at `start`..`end` of the
 * buffer numbered `buffer`. The numbers let a connection see that the
 * frames follow the run it holds, in the same buffer, with two comparisons:
 * a typed array's `buffer` and `byteOffset` are calls into the runtime on
 * Node 20, and a broadcast made two per recipient (Node W4: a tenth of the
 * server's time in the send loop).
 */
export class EncodedFrames {
  /**
   * @param bytes The frames; they never change.
   * @param buffer A number for the buffer they lie in, unique in the process.
   * @param start Where they start in that buffer.
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly buffer: number,
    readonly start: number,
  ) {}

  /** Where they end in their buffer. */
  get end(): number {
    return this.start + this.bytes.length;
  }

  /**
   * Frames alone in a buffer handed over (not shared): nothing follows them.
   *
   * @param bytes The frames.
   * @returns Them, in a buffer of their own.
   */
  static alone(bytes: Uint8Array): EncodedFrames {
    return new EncodedFrames(bytes, ++lastBufferNumber, 0);
  }
}

/** The last number given to a buffer of {@linkcode EncodedFrames}. */
let lastBufferNumber = 0;

/**
 * The frames of a broadcast as its recipients hold them: one run of a shared
 * buffer, queued on each by reference. While it is open, the next broadcast
 * to the same recipients, encoded right after it, lengthens it for all of
 * them at once ({@linkcode SharedRun.extend}) instead of being queued on each
 * (a loop of 10,000 sends to a group of 64 then visits each member some ten
 * times, not 10,000). A recipient closes it as soon as the run cannot grow
 * for it alone: when it fixes its view of the run to write it, queues
 * anything after it, or is closing. Only the newest run can grow: the buffer
 * is only appended to.
 *
 * @example
 * ```ts ignore
 * const frames = shared.encode((writer) => writer.frame(payload));
 * if (!run?.extend(frames)) {
 *   run = new SharedRun(frames);
 *   for (const connection of connections) connection.sendFrames(frames, true, run);
 * }
 * ```
 */
export class SharedRun {
  /** Whether a broadcast to the same recipients may still lengthen it. */
  open = true;
  /** The number of the buffer it lies in (see EncodedFrames). */
  readonly buffer: number;
  /** Where it ends in that buffer; it grows while open. */
  end: number;
  /** How far it may grow before a recipient's queue reaches its high-water mark. */
  #toHighWater = Infinity;
  /** How far it may grow before a recipient's queue would pass its cap. */
  #toCap = Infinity;

  /** @param frames The broadcast it starts with. */
  constructor(frames: EncodedFrames) {
    this.buffer = frames.buffer;
    this.end = frames.end;
  }

  /**
   * Called by each recipient that holds the run, with what its queue has
   * left to its marks once the run is queued.
   *
   * @param toHighWater Bytes left to the high-water mark.
   * @param toCap Bytes left to the cap.
   */
  hold(toHighWater: number, toCap: number): void {
    if (toHighWater < this.#toHighWater) this.#toHighWater = toHighWater;
    if (toCap < this.#toCap) this.#toCap = toCap;
  }

  /**
   * Lengthens the run by the frames of the next broadcast to its recipients,
   * for every one of them, if they follow it in its buffer, the run is open
   * and no recipient's queue would pass its cap.
   *
   * @param frames The next broadcast's frames.
   * @returns Whether they were added; if not, queue them on each recipient.
   */
  extend(frames: EncodedFrames): boolean {
    const length = frames.bytes.length;
    if (
      !this.open || frames.buffer !== this.buffer || frames.start !== this.end ||
      length > this.#toCap
    ) return false;
    this.end += length;
    this.#toCap -= length;
    this.#toHighWater -= length;
    return true;
  }

  /** Whether every recipient's queue is still under its high-water mark. */
  get writable(): boolean {
    return this.#toHighWater > 0;
  }
}

/**
 * Frames encoded once for many connections (a broadcast). They are encoded
 * one after another into a common buffer and each connection queues a view
 * of them rather than a copy, so a broadcast to N clients writes its bytes
 * once, and successive broadcasts queue on an idle connection as one
 * contiguous view: one write however many frames. A buffer is never reused;
 * once well filled the next frames go to a fresh one, and the old one is
 * freed when every connection has written its part.
 *
 * @example
 * ```ts ignore
 * const shared = new SharedFrames(framing);
 * const frames = shared.encode((writer) => writer.frame(payload));
 * for (const connection of connections) connection.sendFrames(frames);
 * ```
 */
export class SharedFrames {
  readonly #writer: FrameWriter;
  /** The number of the buffer being encoded into (see EncodedFrames). */
  #buffer = 0;

  /** @param framing The framing of the connections the frames go to. */
  constructor(framing: Framing) {
    // No buffer source: an outgrown buffer may still be queued somewhere.
    this.#writer = new FrameWriter(framing, 0);
  }

  /**
   * Encodes frames for many connections.
   *
   * @param write Encodes the frames into the writer given.
   * @returns The frames, to pass to {@linkcode Connection.sendFrames}; they never change.
   */
  encode(write: (writer: FrameWriter) => void): EncodedFrames {
    const writer = this.#writer;
    if (writer.length >= SEAL_AT || writer.capacity === 0) {
      writer.detach(new Uint8Array(BATCH));
      this.#buffer = 0;
    }
    const start = writer.length;
    const capacity = writer.capacity;
    write(writer);
    const bytes = writer.since(start);
    // A writer that grew continues in a new buffer (the frames before are
    // still in the old one, where connections may have queued them).
    if (this.#buffer === 0 || writer.capacity !== capacity) {
      this.#buffer = ++lastBufferNumber;
      sharedBuffers.add(bytes.buffer);
    }
    return new EncodedFrames(bytes, this.#buffer, start);
  }
}

/** How much outgoing data a connection may hold (see {@linkcode Connection.send}). */
export interface QueueLimits {
  /**
   * The soft mark: at or above it, sends report `false` so that a caller can
   * wait for {@linkcode Connection.drain}. Default 1 MiB.
   */
  highWaterMark?: number;
  /**
   * The hard cap: a send that would queue more bytes than this throws
   * {@linkcode QueueFull} and queues nothing. Default 64 MiB, or more when
   * `maxMessageSize` needs it (four largest frames).
   */
  maxQueuedBytes?: number;
}

/** The default {@linkcode QueueLimits.highWaterMark}: 1 MiB. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** The least default {@linkcode QueueLimits.maxQueuedBytes}: 64 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * Validates queue limits and fills in the defaults.
 *
 * @param limits The options given.
 * @param framing The connection's framing (its largest frame).
 * @returns Both limits.
 * @throws {RangeError} When a limit is not a positive integer.
 */
export function resolveQueueLimits(limits: QueueLimits, framing: Framing): Required<QueueLimits> {
  const largestFrame = framing.maxPayload + framing.headerLen;
  const highWaterMark = limits.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const maxQueuedBytes = limits.maxQueuedBytes ??
    Math.max(DEFAULT_MAX_QUEUED_BYTES, 4 * largestFrame);
  checkLimit("highWaterMark", highWaterMark);
  checkLimit("maxQueuedBytes", maxQueuedBytes);
  return { highWaterMark, maxQueuedBytes };
}

function checkLimit(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
}

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
 *   onFrame: (bytes, start, end) => console.log(end - start),
 *   onClose: (error) => console.log("closed", error),
 * });
 * connection.out.frame(new TextEncoder().encode("hi"));
 * connection.flushSoon();
 * ```
 */
export class Connection implements ByteSink, WriteListener {
  /** Encode outgoing frames here, then call {@linkcode Connection.flushSoon}. */
  readonly out: FrameWriter;
  /** The transport underneath. */
  readonly transport: TransportConn;
  readonly #decoder: FrameDecoder;
  readonly #events: ConnectionEvents;
  #flushScheduled = false;
  /** Batches sealed and waiting for the write in flight, in order. */
  #sealed: Uint8Array[] = [];
  /** Bytes in `#sealed`. */
  #sealedBytes = 0;
  /**
   * Shared frames queued after everything in `#sealed`: a run that starts
   * with `#shared` and ends at `#sharedEnd` of its buffer, kept apart so
   * that a broadcast that follows in the same buffer only lengthens it.
   * While `#run` is set, the run ends where that broadcast run does, which
   * may grow (see SharedRun).
   */
  #shared: EncodedFrames | null = null;
  #sharedEnd = 0;
  #run: SharedRun | null = null;
  /** The last small buffer written, to continue in after the next seal. */
  #spare: Uint8Array | null = null;
  #closed = false;
  #closeError: unknown = undefined;
  /** Bytes handed to the transport and not yet confirmed written. */
  #inFlight = 0;
  /** The oldest write in flight, and those started after it (pipelined). */
  #inFlightBytes: Uint8Array | null = null;
  #pipelined: Uint8Array[] | null = null;

  /** Whether a write is in flight. */
  get #writing(): boolean {
    return this.#inFlightBytes !== null;
  }
  /** Who waits for the queue to shrink to at most `below` bytes. */
  #drainWaiters: Array<{ below: number; resolve: () => void }> | null = null;
  #closeWaiters: Array<() => void> | null = null;
  /** Set by close(): end the connection once everything queued has left. */
  #closeWhenFlushed = false;
  /** Set by abort(): closed for senders at once, before the close completes. */
  #aborted = false;
  readonly #highWaterMark: number;
  readonly #maxQueuedBytes: number;
  /** Where a frame is measured before it is queued, near the hard cap. */
  #scratch: FrameWriter | null = null;
  /** Reasons reading is paused (see {@linkcode Connection.hold}). */
  #holds = 0;
  /** Bytes received so far: a peer that sends anything is alive. */
  bytesReceived = 0;
  /** Bytes the runtime has taken so far: a peer that takes them is alive. */
  bytesWritten = 0;

  /**
   * @param transport The open stream.
   * @param framing The agreed framing.
   * @param events Where frames and the close go.
   * @param unframed Bare payloads to tolerate where a header was expected.
   * @param limits How much outgoing data may be queued.
   */
  constructor(
    transport: TransportConn,
    framing: Framing,
    events: ConnectionEvents,
    unframed?: UnframedRule,
    limits: QueueLimits = {},
  ) {
    this.transport = transport;
    this.#events = events;
    const { highWaterMark, maxQueuedBytes } = resolveQueueLimits(limits, framing);
    this.#highWaterMark = highWaterMark;
    this.#maxQueuedBytes = maxQueuedBytes;
    // No output buffer until the first frame: most of an idle server's
    // connections never need one.
    this.out = new FrameWriter(framing, 0, SHARED_BUFFERS);
    this.#decoder = new FrameDecoder(framing, events.onFrame, unframed);
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
    return this.#closed || this.#closeWhenFlushed || this.#aborted;
  }

  /** Outgoing bytes queued or in flight, not yet taken by the runtime. */
  get bufferedAmount(): number {
    const shared = this.#shared;
    const pending = shared === null ? 0 : this.#pendingEnd() - shared.start;
    return this.out.length + this.#sealedBytes + this.#inFlight + pending;
  }

  /** Whether a frame was begun and not finished when the stream ended. */
  get midFrame(): boolean {
    return this.#decoder.midFrame;
  }

  /** Whether the outgoing queue is under the high-water mark. */
  get writable(): boolean {
    return this.bufferedAmount < this.#highWaterMark;
  }

  /**
   * Whether even the largest frame would fit under the hard cap: then a
   * frame may be encoded straight into {@linkcode Connection.out} (followed
   * by {@linkcode Connection.flushSoon}); otherwise use {@linkcode Connection.send}.
   */
  get roomy(): boolean {
    const framing = this.out.framing;
    return this.bufferedAmount + framing.maxPayload + framing.headerLen <= this.#maxQueuedBytes;
  }

  /** The hard cap on queued outgoing bytes. */
  get maxQueuedBytes(): number {
    return this.#maxQueuedBytes;
  }

  /** Whether reading is paused (see {@linkcode Connection.hold}). */
  get held(): boolean {
    return this.#holds > 0;
  }

  /**
   * Pauses reading until a matching {@linkcode Connection.release}. Holds
   * nest: reading resumes when every hold is released.
   */
  hold(): void {
    if (this.#holds++ === 0) this.transport.pause();
  }

  /** Releases one {@linkcode Connection.hold}. */
  release(): void {
    if (this.#holds === 0) return;
    if (--this.#holds === 0) this.transport.resume();
  }

  // ByteSink: called by the transport's read loop.

  /** @inheritdoc */
  onData(chunk: Uint8Array, owned: boolean): void {
    if (this.#closed) return;
    this.bytesReceived += chunk.length;
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
    this.bytesReceived += count;
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

  /**
   * Queues the frames `write` encodes, unless that would take the queue past
   * `maxQueuedBytes`, and schedules a flush. Far from the cap they are
   * encoded straight into {@linkcode Connection.out}; near it, measured first.
   *
   * @param write Encodes frames into the writer given; on a throw it must
   *   leave the writer as it was (as every dialect's writers do).
   * @returns Whether the queue is still under the high-water mark.
   * @throws {QueueFull} When the frames would pass the cap; nothing is queued.
   */
  send(write: (out: FrameWriter) => void): boolean {
    if (this.roomy) {
      write(this.out);
      this.flushSoon();
      return this.bufferedAmount < this.#highWaterMark;
    }
    const scratch = this.#scratch ??= new FrameWriter(this.out.framing);
    write(scratch);
    // Hand the scratch buffer over (no copy, and no big buffer kept).
    return this.sendFrames(EncodedFrames.alone(scratch.detach(new Uint8Array(256))));
  }

  /**
   * Queues bytes that are already framed (a broadcast encoded once), unless
   * that would take the queue past `maxQueuedBytes`. While nothing of this
   * connection's own waits in {@linkcode Connection.out} they are queued by
   * reference, joined to the view queued last when they follow it in the
   * same buffer; otherwise they are copied after what waits.
   *
   * @param frames Complete frames that must not change until written (from
   *   {@linkcode SharedFrames}, or a buffer handed over).
   * @param flush Whether to schedule a flush now; with `false` the frames
   *   wait, in order, for the caller's {@linkcode Connection.flushSoon} or
   *   for the next flush anything else causes.
   * @returns Whether the queue is still under the high-water mark.
   * @throws {QueueFull} When the frames would pass the cap; nothing is queued.
   */
  sendFrames(frames: EncodedFrames, flush = true, run: SharedRun | null = null): boolean {
    const bytes = frames.bytes;
    const queued = this.bufferedAmount + bytes.length;
    if (queued > this.#maxQueuedBytes) throw new QueueFull(queued, this.#maxQueuedBytes);
    const out = this.out;
    if (out.length > 0) {
      // Seal a well-filled batch rather than outgrow it into a doubled copy.
      if (out.length >= BATCH / 2 && out.length + bytes.length > out.capacity) {
        this.#seal();
        this.#writeNext();
      } else {
        out.raw(bytes);
        // Copied: the broadcast's run cannot grow for this connection.
        if (run !== null) run.open = false;
        this.flushSoon();
        return this.bufferedAmount < this.#highWaterMark;
      }
    }
    if (
      this.#shared !== null && this.#shared.buffer === frames.buffer &&
      this.#pendingEnd() === frames.start
    ) {
      this.#leaveRun();
      this.#sharedEnd = frames.end;
    } else {
      this.#queueShared();
      this.#shared = frames;
      this.#sharedEnd = frames.end;
    }
    if (run !== null) {
      this.#run = run;
      const after = this.bufferedAmount;
      run.hold(this.#highWaterMark - after, this.#maxQueuedBytes - after);
    }
    if (!flush) return this.bufferedAmount < this.#highWaterMark;
    if (this.#sharedEnd - this.#shared!.start >= SEAL_AT || this.#sealed.length > 0) {
      // A long burst of broadcasts starts leaving while the rest is still
      // being encoded, as a full batch of a connection's own frames does
      // (see flushSoon): the peer reads while the sender works.
      this.#writeNext(true);
    } else this.flushSoon();
    return this.bufferedAmount < this.#highWaterMark;
  }

  /** Where the pending run of shared frames ends, grown with its broadcast run. */
  #pendingEnd(): number {
    return this.#run === null ? this.#sharedEnd : this.#run.end;
  }

  /**
   * Takes the end of the broadcast run this connection's shared frames end
   * with, and closes that run: it may not grow for this connection alone.
   */
  #leaveRun(): void {
    const run = this.#run;
    if (run === null) return;
    this.#sharedEnd = run.end;
    run.open = false;
    this.#run = null;
  }

  /**
   * Schedules a flush of {@linkcode Connection.out} at the end of this tick.
   * Once a batch of nearly {@linkcode BATCH} bytes has built up it is sealed
   * and its write started at once, so a long burst of sends overlaps with
   * writing instead of growing one huge buffer.
   */
  flushSoon(): void {
    if (this.#closed) return;
    // Own frames follow the broadcast run: it may grow no more.
    if (this.#run !== null && this.out.length > 0) this.#leaveRun();
    if (this.out.length >= SEAL_AT) {
      // One write at a time even where the transport could take more: for a
      // stream of a connection's own frames that measured faster on Node
      // (W1: 1.3-1.5 against 1.1-1.2 M msgs/s).
      this.#seal();
      this.#writeNext();
      return;
    }
    if (this.#flushScheduled || this.#writing) return;
    this.#flushScheduled = true;
    queueMicrotask(this.#flushTask);
  }

  /** The scheduled flush, bound once so that scheduling allocates nothing. */
  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    // While a write is in flight frames keep gathering: its completion seals them.
    if (this.#writing) return;
    this.#seal();
    this.#writeNext();
  };

  /** Moves the run of shared frames into the write queue, as one view. */
  #queueShared(): void {
    const first = this.#shared;
    if (first === null) return;
    this.#leaveRun();
    const bytes = first.bytes;
    const length = this.#sharedEnd - first.start;
    this.#sealed.push(
      bytes.length === length ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, length),
    );
    this.#sealedBytes += length;
    this.#shared = null;
  }

  /** Moves what {@linkcode Connection.out} holds into the write queue. */
  #seal(): void {
    // Shared frames queued earlier go first.
    this.#queueShared();
    const length = this.out.length;
    if (length === 0) return;
    // Continue in a buffer of the kind just filled: the last small one
    // written (most flushes are small), a pooled batch buffer during a
    // burst, or the big spare while large frames stream.
    let next: Uint8Array;
    if (length >= SEAL_AT) {
      // A buffer of the size just filled suits the next frames of a stream.
      next = takeBigBuffer(this.out.capacity) ?? takeBatchBuffer();
    } else {
      next = this.#spare ?? new Uint8Array(Math.min(this.out.capacity, IDLE_BUFFER));
      this.#spare = null;
    }
    const bytes = this.out.detach(next);
    this.#sealed.push(bytes);
    this.#sealedBytes += bytes.length;
  }

  /**
   * Starts writing what is sealed. Only one write is in flight at a time,
   * except that long runs of broadcasts (`broadcast`) go out at once where
   * the transport keeps writes in order itself
   * ({@linkcode TransportConn.pipelinesWrites}): there a server busy in a
   * long loop of broadcasts, which lets no write complete, still feeds its
   * clients as it goes, up to {@linkcode PIPELINED_BYTES} in flight (Node
   * W4, medians of six: 2.9 against 2.7 M deliveries/s).
   */
  #writeNext(broadcast = false): void {
    if (this.#closed) return;
    const many = broadcast && this.transport.pipelinesWrites === true;
    if (this.#writing && !(many && this.#inFlight < PIPELINED_BYTES)) return;
    do {
      if (this.#sealed.length === 0) this.#queueShared();
      const bytes = this.#sealed.shift();
      if (bytes === undefined) {
        if (!this.#writing) this.#drained();
        return;
      }
      this.#sealedBytes -= bytes.length;
      this.#inFlight += bytes.length;
      if (this.#writing) (this.#pipelined ??= []).push(bytes);
      else this.#inFlightBytes = bytes;
      this.transport.write(bytes, this);
    } while (many && this.#sealed.length > 0 && this.#inFlight < PIPELINED_BYTES);
  }

  /** @inheritdoc */
  onWritten(): void {
    const bytes = this.#inFlightBytes;
    if (bytes === null) return;
    // Writes end in the order they were started.
    const next = this.#pipelined?.shift();
    this.#inFlightBytes = next ?? null;
    this.#inFlight -= bytes.length;
    this.bytesWritten += bytes.length;
    if (this.#closed) return;
    this.#recycle(bytes);
    if (!this.#writing) {
      if (this.#sealed.length === 0) this.#seal();
      this.#writeNext();
    }
    this.#wakeDrainWaiters();
  }

  /** @inheritdoc */
  onWriteFailed(error: unknown): void {
    this.#inFlightBytes = null;
    this.#pipelined = null;
    this.#inFlight = 0;
    this.abort(error);
  }

  /** Returns a written buffer to the shared pool, or keeps it to continue in. */
  #recycle(bytes: Uint8Array): void {
    if (sharedBuffers.has(bytes.buffer)) return;
    const buffer = new Uint8Array(bytes.buffer);
    if (buffer.length <= IDLE_BUFFER) this.#spare = buffer;
    else recycleBuffer(buffer);
  }

  #drained(): void {
    // Idle: hold as little output memory as possible, so thousands of idle
    // connections stay cheap.
    if (this.out.length === 0 && this.out.capacity > IDLE_BUFFER) {
      recycleBuffer(new Uint8Array(this.out.detach(EMPTY).buffer));
    }
    this.#wakeDrainWaiters();
    if (this.#closeWhenFlushed) this.abort();
  }

  /** Resolves the drain waiters whose mark the queue is now at or under. */
  #wakeDrainWaiters(): void {
    const waiting = this.#drainWaiters;
    if (waiting === null || waiting.length === 0) return;
    const queued = this.bufferedAmount;
    this.#drainWaiters = waiting.filter((waiter) => waiter.below < queued);
    for (const waiter of waiting) if (waiter.below >= queued) waiter.resolve();
  }

  /**
   * Resolves when the queue of outgoing bytes has shrunk to `below` bytes or
   * less — by default when everything queued so far has been taken by the
   * runtime — or the connection closed. A sender that keeps a pipeline full
   * waits for a low-water mark rather than for an empty queue.
   *
   * @param below The queue size to wait for, in bytes.
   */
  drain(below = 0): Promise<void> {
    if (
      this.#closed ||
      (this.bufferedAmount <= below && (below > 0 || (!this.#flushScheduled && !this.#writing)))
    ) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      (this.#drainWaiters ??= []).push({ below, resolve });
      this.flushSoon();
    });
  }

  /**
   * Closes gracefully: what is queued is written first, then the stream is
   * closed. Resolves once it is closed.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => (this.#closeWaiters ??= []).push(resolve));
    if (!this.#closeWhenFlushed) {
      this.#closeWhenFlushed = true;
      // Broadcasts after this one must not reach it through the run.
      this.#leaveRun();
      if (!this.#writing) {
        this.#seal();
        this.#writeNext();
      }
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
    if (this.#closed || this.#aborted) return;
    this.#aborted = true;
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
    for (const waiter of this.#drainWaiters ?? []) waiter.resolve();
    this.#drainWaiters = null;
    // Free what was queued for a peer that will never take it.
    this.#spare = null;
    this.#sealed = [];
    this.#shared = null;
    this.#run = null;
    this.#sealedBytes = 0;
    this.#scratch = null;
    try {
      this.out.detach(EMPTY);
    } catch {
      // A frame is open (an owner writing while closing): leave it.
    }
    this.#events.onClose(reason);
    for (const resolve of this.#closeWaiters ?? []) resolve();
    this.#closeWaiters = null;
  }
}
