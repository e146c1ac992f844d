/**
 * Raw-TCP framing for the Deno baseline: a 4-byte big-endian length prefix
 * followed by the payload. This is the "practical ceiling" the library is
 * measured against, so it does the least work that still behaves like a real
 * sender/receiver: every message is framed individually, the parser is
 * synchronous and incremental, and writes are coalesced into one
 * `conn.write` per microtask (or earlier once a batch is large).
 *
 * @module
 */

import workloads from "../workloads.json" with { type: "json" };

/** Bytes in the length prefix. */
export const HEADER = 4;

/** A batch this large is written at once instead of waiting for the microtask. */
const FLUSH_AT = 64 * 1024;
/**
 * A writer's first batch buffer. A batch grows in place up to `FLUSH_AT`, and
 * a fresh one is as big as the last: a stream soon writes full batches, while
 * a connection that says one hello holds 1 KiB, not 64 (a fresh 64 KiB per
 * connection is zeroed and faulted in: 2,000 of them cost the W5 client a
 * third of its run).
 */
const FIRST_BATCH = 1024;
/** Above this many queued-but-unwritten bytes, `send` asks the caller to wait. */
export const HIGH_WATER = 4 * 1024 * 1024;
/** Waiters are released once the backlog falls below this. */
export const LOW_WATER = 1024 * 1024;
/** Spare batch buffers kept for reuse; more would only hold memory. */
const MAX_SPARES = 4;
const EMPTY = new Uint8Array(0);

/** Frames larger than this are treated as a protocol error (keeps memory bounded). */
export const MAX_FRAME = 64 * 1024 * 1024;

/** Writes the length prefix of a `len`-byte payload at `at`. */
export function writeHeader(buf: Uint8Array, at: number, len: number): void {
  buf[at] = len >>> 24;
  buf[at + 1] = (len >>> 16) & 0xff;
  buf[at + 2] = (len >>> 8) & 0xff;
  buf[at + 3] = len & 0xff;
}

/**
 * The batches of {@linkcode FanOutWriter}: written to many sockets by
 * reference, so no one writer may reuse them.
 */
const fanOutBatches = new WeakSet<ArrayBufferLike>();

/**
 * A complete payload: `bytes[start..end)`, valid only during the call. No
 * view is made per frame: a receiver that only counts frames (W1, W4) would
 * pay for an object it never uses, and the library reads frames as offsets
 * too.
 */
export type FrameHandler = (bytes: Uint8Array, start: number, end: number) => void;

/**
 * Incremental frame parser. `push` may be given any slicing of the byte
 * stream; `onFrame` is called synchronously for every complete payload.
 *
 * Frames wholly inside one chunk are handed out in place, as offsets into
 * that chunk, so they are only valid during the callback (the read buffer is
 * reused). A frame that spans chunks is copied exactly once, into an assembly
 * buffer that is likewise reused, so the same rule holds for every payload.
 */
export class FrameParser {
  readonly #onFrame: FrameHandler;
  /** Partial length prefix when a chunk ended inside one. */
  readonly #head = new Uint8Array(HEADER);
  #headLen = 0;
  /** Body of a frame that spans chunks, and how much of it has arrived. */
  #body: Uint8Array | null = null;
  #bodyLen = 0;
  /** Reused backing store for spanning frames; grows to the largest seen. */
  #spill = new Uint8Array(0);

  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const body = this.#body;
      if (body !== null) {
        const take = Math.min(body.length - this.#bodyLen, n - i);
        body.set(chunk.subarray(i, i + take), this.#bodyLen);
        this.#bodyLen += take;
        i += take;
        if (this.#bodyLen === body.length) {
          this.#body = null;
          this.#onFrame(body, 0, body.length);
        }
        continue;
      }
      let len: number;
      if (this.#headLen === 0 && n - i >= HEADER) {
        // Fast path: the whole prefix is in this chunk.
        len = ((chunk[i] << 24) | (chunk[i + 1] << 16) | (chunk[i + 2] << 8) |
          chunk[i + 3]) >>> 0;
        i += HEADER;
      } else {
        // Slow path: gather the prefix byte by byte across chunks.
        while (this.#headLen < HEADER && i < n) {
          this.#head[this.#headLen++] = chunk[i++];
        }
        if (this.#headLen < HEADER) return;
        const h = this.#head;
        len = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
        this.#headLen = 0;
      }
      if (len > MAX_FRAME) throw new RangeError(`frame of ${len} bytes`);
      if (n - i >= len) {
        this.#onFrame(chunk, i, i + len);
        i += len;
      } else {
        // Payloads are only valid during the callback, so the assembly
        // buffer is reused: allocating a fresh 1 MiB array per bulk message
        // measured 6x slower than reusing one.
        if (this.#spill.length < len) this.#spill = new Uint8Array(len);
        this.#body = this.#spill.subarray(0, len);
        this.#bodyLen = 0;
      }
    }
  }
}

/**
 * Coalescing frame writer. `send` copies the framed message into the current
 * batch; the batch is written by a microtask scheduled on the first send, or
 * immediately once it reaches `FLUSH_AT`. At most one `conn.write` is in
 * flight; further batches queue behind it, so the socket always sees large
 * writes and the buffers are never touched while Deno still holds them.
 */
export class FrameWriter {
  readonly #conn: Deno.Conn;
  /**
   * Current batch. Empty until the first send and after each flush, so an
   * idle connection holds no batch memory; spares make re-taking one cheap.
   */
  #buf = EMPTY;
  #len = 0;
  #scheduled = false;
  /** Batches handed off but not yet fully written. */
  readonly #ready: Uint8Array<ArrayBuffer>[] = [];
  #backlog = 0;
  #writing = false;
  #failed: unknown = null;
  readonly #spares: Uint8Array<ArrayBuffer>[] = [];
  /** The size of a fresh batch buffer: the last batch's. */
  #batchSize = FIRST_BATCH;
  #waiters: Array<() => void> = [];
  /** Bound once so scheduling a flush allocates nothing. */
  readonly #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get backlog(): number {
    return this.#backlog + this.#len;
  }

  /**
   * Queues one message. Returns false when the backlog is above the high
   * water mark; the caller should then `await drained()` before sending more.
   */
  send(payload: Uint8Array): boolean {
    const need = HEADER + payload.length;
    this.#reserve(need);
    writeHeader(this.#buf, this.#len, payload.length);
    this.#buf.set(payload, this.#len + HEADER);
    this.#len += need;
    return this.#afterPush();
  }

  /**
   * Queues complete frames by reference, after what is queued already: they
   * must not change until written (a {@linkcode FanOutWriter}'s batch).
   */
  sendBatch(batch: Uint8Array<ArrayBuffer>): boolean {
    if (this.#failed !== null) throw this.#failed;
    this.flush();
    this.#ready.push(batch);
    this.#backlog += batch.length;
    if (!this.#writing) this.#pump();
    return this.backlog < HIGH_WATER;
  }

  /** Resolves once the backlog is below the low water mark. */
  drained(): Promise<void> {
    if (this.backlog < LOW_WATER) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Hands the current batch to the write pump. */
  flush(): void {
    if (this.#len === 0) return;
    const batch = this.#buf.subarray(0, this.#len);
    this.#batchSize = this.#buf.length;
    this.#ready.push(batch);
    this.#backlog += batch.length;
    this.#len = 0;
    this.#buf = EMPTY;
    if (!this.#writing) this.#pump();
  }

  /** Takes a spare buffer of at least `need` bytes, or allocates one. */
  #spare(need: number): Uint8Array<ArrayBuffer> {
    const i = this.#spares.findIndex((b) => b.length >= need);
    if (i < 0) return new Uint8Array(Math.max(need, this.#batchSize));
    return this.#spares.splice(i, 1)[0];
  }

  #reserve(need: number): void {
    if (this.#buf.length - this.#len >= need) return;
    if (this.#len > 0 && this.#len + need <= FLUSH_AT) {
      // The batch grows in place (see FIRST_BATCH).
      const size = Math.min(FLUSH_AT, Math.max(2 * this.#buf.length, this.#len + need));
      const grown = new Uint8Array(size);
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
      return;
    }
    this.flush();
    if (this.#buf.length < need) {
      // A frame bigger than a standard batch gets a buffer of its own size.
      // It is recycled like any other: allocating a fresh 1 MiB array per
      // bulk message measured 6x slower than reusing a few.
      if (this.#buf.length > 0 && this.#spares.length < MAX_SPARES) {
        this.#spares.push(this.#buf);
      }
      this.#buf = this.#spare(need);
    }
  }

  #afterPush(): boolean {
    if (this.#failed !== null) throw this.#failed;
    if (this.#len >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
    return this.backlog < HIGH_WATER;
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#ready.length > 0) {
        const batch = this.#ready.shift()!;
        let off = 0;
        while (off < batch.length) {
          off += await this.#conn.write(batch.subarray(off));
        }
        this.#backlog -= batch.length;
        if (this.#spares.length < MAX_SPARES && !fanOutBatches.has(batch.buffer)) {
          this.#spares.push(new Uint8Array(batch.buffer));
        }
        if (this.#waiters.length > 0 && this.backlog < LOW_WATER) {
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const w of waiters) w();
        }
      }
    } catch (err) {
      // The peer went away; remember it so the next send reports it, and
      // release waiters so no loop hangs on a dead socket.
      this.#failed = err;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    } finally {
      this.#writing = false;
    }
  }

  /** Resolves when everything queued so far has been written. */
  async settled(): Promise<void> {
    this.flush();
    while (this.#writing || this.#ready.length > 0) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

/**
 * Writes the same messages to many connections (W4's fan-out): each message
 * is framed once into a shared batch, and each batch is queued on every
 * writer by reference, so a message costs one copy however many receive it.
 * Batches leave per microtask, or at once when full, like FrameWriter's.
 */
export class FanOutWriter {
  readonly #writers: FrameWriter[];
  #buf = new Uint8Array(FLUSH_AT);
  #len = 0;
  #scheduled = false;
  /** Whether a writer's backlog was above the high water mark at the last flush. */
  #full = false;
  readonly #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(writers: FrameWriter[]) {
    this.#writers = writers;
  }

  /**
   * Queues one message for every writer. Returns false when a writer's
   * backlog is above the high water mark; then `await drained()`.
   */
  send(payload: Uint8Array): boolean {
    const need = HEADER + payload.length;
    if (this.#buf.length - this.#len < need) {
      this.flush();
      if (this.#buf.length < need) this.#buf = new Uint8Array(need);
    }
    writeHeader(this.#buf, this.#len, payload.length);
    this.#buf.set(payload, this.#len + HEADER);
    this.#len += need;
    if (this.#len >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
    return !this.#full;
  }

  /** Hands the current batch to every writer. */
  flush(): void {
    if (this.#len === 0) return;
    const batch = this.#buf.subarray(0, this.#len);
    fanOutBatches.add(batch.buffer);
    this.#buf = new Uint8Array(FLUSH_AT);
    this.#len = 0;
    for (const w of this.#writers) if (!w.sendBatch(batch)) this.#full = true;
  }

  /** Resolves once every writer's backlog is below the low water mark. */
  async drained(): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.drained()));
    this.#full = false;
  }
}

/** Smallest per-connection read buffer; idle connections keep only this. */
export const READ_MIN = 2 * 1024;
/**
 * Largest read buffer a busy connection grows to. 64 KiB measured faster than
 * 256 KiB or 1 MiB for bulk reads here (4.0 against 3.0 GiB/s), most likely
 * because it stays in cache while the parser copies out of it.
 */
export const READ_MAX = 64 * 1024;

/**
 * Reads `conn` until EOF into one reused buffer, passing each chunk to
 * `onChunk` (normally `FrameParser.push`; the view is only valid during the
 * call). The buffer
 * starts small (so thousands of idle connections stay cheap) and doubles each
 * time a read fills it (so bulk transfers need few reads).
 */
export async function readLoop(
  conn: Deno.Conn,
  onChunk: (chunk: Uint8Array) => void,
): Promise<void> {
  let buf = new Uint8Array(READ_MIN);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      onChunk(buf.subarray(0, n));
      if (n === buf.length && buf.length < READ_MAX) {
        buf = new Uint8Array(buf.length * 2);
      }
    }
  } catch (err) {
    // A reset at shutdown is an ordinary end of stream for a benchmark.
    if (
      !(err instanceof Deno.errors.ConnectionReset) &&
      !(err instanceof Deno.errors.BadResource) &&
      !(err instanceof Deno.errors.Interrupted)
    ) throw err;
  }
}

/** Exits the process if it is still running after `ms` (never keeps it alive). */
export function watchdog(ms: number, what: string): void {
  const id = setTimeout(() => {
    console.error(`${what}: timed out after ${ms} ms`);
    Deno.exit(3);
  }, ms);
  Deno.unrefTimer(id);
}

/** Current time in milliseconds with sub-millisecond resolution. */
export const now = (): number => performance.now();

/** Sleeps without keeping anything else alive. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Workload sizes, from bench/workloads.json so the Deno scripts, the Node
 * scripts and the runner can never disagree.
 */
export const SIZES = workloads;

export type Workload = keyof typeof SIZES;

export function parseWorkload(arg: string | undefined): Workload {
  if (arg !== undefined && arg in SIZES) return arg as Workload;
  throw new Error(`unknown workload ${arg}; expected one of W1..W5`);
}
