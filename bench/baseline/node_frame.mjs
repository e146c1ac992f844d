// Raw-TCP framing for the Node baseline: a 4-byte big-endian length prefix
// followed by the payload. It mirrors deno_frame.ts so the two runtimes do
// the same work: a synchronous incremental parser fed by 'data' events, and
// writes coalesced into one socket.write per microtask (or earlier once a
// batch is large). Plain .mjs because Node 20 cannot run TypeScript.

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";

/** Bytes in the length prefix. */
export const HEADER = 4;

/** A batch this large is written at once instead of waiting for the microtask. */
const FLUSH_AT = 64 * 1024;
/** A writer's first batch buffer; see FIRST_BATCH in deno_frame.ts. */
const FIRST_BATCH = 1024;
/** Above this many written-but-unconfirmed bytes, `send` asks the caller to wait. */
export const HIGH_WATER = 4 * 1024 * 1024;
/** Waiters are released once the backlog falls below this. */
export const LOW_WATER = 1024 * 1024;
/** Spare batch buffers kept for reuse; more would only hold memory. */
const MAX_SPARES = 4;
const EMPTY = new Uint8Array(0);
/** Frames larger than this are a protocol error (keeps memory bounded). */
const MAX_FRAME = 64 * 1024 * 1024;

/**
 * Workload sizes, shared with the Deno scripts and the runner. Read from the
 * JSON file rather than imported, to avoid Node 20's experimental warning for
 * JSON modules.
 */
export const SIZES = JSON.parse(
  readFileSync(new URL("../workloads.json", import.meta.url), "utf8"),
);

export function parseWorkload(arg) {
  if (arg !== undefined && Object.hasOwn(SIZES, arg)) return arg;
  throw new Error(`unknown workload ${arg}; expected one of W1..W5`);
}

/** Writes the length prefix of a `len`-byte payload at `at`. */
export function writeHeader(buf, at, len) {
  buf[at] = len >>> 24;
  buf[at + 1] = (len >>> 16) & 0xff;
  buf[at + 2] = (len >>> 8) & 0xff;
  buf[at + 3] = len & 0xff;
}

/**
 * Incremental frame parser; see FrameParser in deno_frame.ts. Payloads are
 * passed as `(bytes, start, end)`, valid only during the `onFrame` call:
 * whole frames in place in the chunk, spanning frames in a reused assembly
 * buffer.
 */
export class FrameParser {
  #onFrame;
  #head = new Uint8Array(HEADER);
  #headLen = 0;
  #body = null;
  #bodyLen = 0;
  #spill = new Uint8Array(0);

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  push(chunk) {
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
      let len;
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
        if (this.#spill.length < len) this.#spill = new Uint8Array(len);
        this.#body = this.#spill.subarray(0, len);
        this.#bodyLen = 0;
      }
    }
  }
}

/**
 * Coalescing frame writer; see FrameWriter in deno_frame.ts. Node's
 * socket.write already queues, so each batch is written as soon as it is
 * complete; a batch buffer is reused only after its write callback, because
 * Node may still hold it until then.
 */
export class FrameWriter {
  #socket;
  /**
   * Current batch. Empty until the first send and after each flush, so an
   * idle connection holds no batch memory; spares make re-taking one cheap.
   */
  #buf = EMPTY;
  #len = 0;
  #scheduled = false;
  #backlog = 0;
  #failed = null;
  #spares = [];
  /** The size of a fresh batch buffer: the last batch's. */
  #batchSize = FIRST_BATCH;
  #waiters = [];
  #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(socket) {
    this.#socket = socket;
  }

  get backlog() {
    return this.#backlog + this.#len;
  }

  /** Queues one message; false means `await drained()` before sending more. */
  send(payload) {
    const need = HEADER + payload.length;
    this.#reserve(need);
    writeHeader(this.#buf, this.#len, payload.length);
    this.#buf.set(payload, this.#len + HEADER);
    this.#len += need;
    return this.#afterPush();
  }

  /**
   * Writes complete frames by reference, after what is queued already: they
   * must not change until written (a FanOutWriter's batch).
   */
  sendBatch(batch) {
    if (this.#failed !== null) throw this.#failed;
    this.flush();
    this.#write(batch, null);
    return this.backlog < HIGH_WATER;
  }

  drained() {
    if (this.backlog < LOW_WATER) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  flush() {
    if (this.#len === 0) return;
    const whole = this.#buf;
    const batch = whole.subarray(0, this.#len);
    this.#batchSize = whole.length;
    this.#len = 0;
    this.#buf = EMPTY;
    this.#write(batch, whole);
  }

  /** Writes `batch`; `whole`, its buffer, is reused afterwards unless null. */
  #write(batch, whole) {
    this.#backlog += batch.length;
    this.#socket.write(batch, (err) => {
      this.#backlog -= batch.length;
      if (err) this.#failed = err;
      else if (whole !== null && this.#spares.length < MAX_SPARES) this.#spares.push(whole);
      if (
        this.#waiters.length > 0 && (err || this.backlog < LOW_WATER)
      ) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w();
      }
    });
  }

  #spare(need) {
    const i = this.#spares.findIndex((b) => b.length >= need);
    if (i < 0) return Buffer.allocUnsafe(Math.max(need, this.#batchSize));
    return this.#spares.splice(i, 1)[0];
  }

  #reserve(need) {
    if (this.#buf.length - this.#len >= need) return;
    if (this.#len > 0 && this.#len + need <= FLUSH_AT) {
      // The batch grows in place (see FIRST_BATCH).
      const size = Math.min(FLUSH_AT, Math.max(2 * this.#buf.length, this.#len + need));
      const grown = Buffer.allocUnsafe(size);
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
      return;
    }
    this.flush();
    if (this.#buf.length < need) {
      if (this.#buf.length > 0 && this.#spares.length < MAX_SPARES) {
        this.#spares.push(this.#buf);
      }
      this.#buf = this.#spare(need);
    }
  }

  #afterPush() {
    if (this.#failed !== null) throw this.#failed;
    if (this.#len >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
    return this.backlog < HIGH_WATER;
  }
}

/**
 * Writes the same messages to many connections (W4's fan-out); see
 * FanOutWriter in deno_frame.ts: each message is framed once into a shared
 * batch, and each batch is written to every socket by reference.
 */
export class FanOutWriter {
  #writers;
  #buf = Buffer.allocUnsafe(FLUSH_AT);
  #len = 0;
  #scheduled = false;
  #full = false;
  #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(writers) {
    this.#writers = writers;
  }

  /** Queues one message for every writer; false means `await drained()`. */
  send(payload) {
    const need = HEADER + payload.length;
    if (this.#buf.length - this.#len < need) {
      this.flush();
      if (this.#buf.length < need) this.#buf = Buffer.allocUnsafe(need);
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

  /** Writes the current batch to every writer; it is never reused. */
  flush() {
    if (this.#len === 0) return;
    const batch = this.#buf.subarray(0, this.#len);
    this.#buf = Buffer.allocUnsafe(FLUSH_AT);
    this.#len = 0;
    for (const w of this.#writers) if (!w.sendBatch(batch)) this.#full = true;
  }

  async drained() {
    await Promise.all(this.#writers.map((w) => w.drained()));
    this.#full = false;
  }
}

/**
 * Feeds every chunk of `socket` to `onChunk` until the stream ends. Node
 * allocates the read buffers itself; 'data' is its cheapest way to get them.
 */
export function readLoop(socket, onChunk) {
  return new Promise((resolve) => {
    socket.on("data", onChunk);
    socket.once("close", resolve);
    // A reset at shutdown is an ordinary end of stream for a benchmark.
    socket.on("error", () => {});
  });
}

/** Exits the process if it is still running after `ms` (never keeps it alive). */
export function watchdog(ms, what) {
  setTimeout(() => {
    console.error(`${what}: timed out after ${ms} ms`);
    process.exit(3);
  }, ms).unref();
}

export const now = () => performance.now();

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Promise.withResolvers is Node 22+; this project runs on Node 20. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => resolve = r);
  return { promise, resolve };
}
