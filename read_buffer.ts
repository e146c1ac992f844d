/**
 * The read buffer of one connection, sized to its traffic: shared by the
 * Deno and Node transports.
 *
 * @module
 */

/**
 * The smallest read buffer. An idle connection holds its buffer inside a
 * pending read, so it starts small: thousands of idle clients stay cheap.
 */
export const MIN_READ = 512;
/**
 * The largest: bigger reads stopped paying off (a 64 KiB buffer beat 256 KiB
 * and 1 MiB for bulk reads in Deno), while each busy connection's buffer is
 * fresh memory, faulted in page by page, when it grows.
 */
export const MAX_READ = 64 * 1024;
/** Payloads with at least this much still to come are read straight into place. */
export const DIRECT_READ_MIN = 64 * 1024;
/** Shrink after this many reads in a row that used under an eighth of the buffer. */
const SHRINK_AFTER = 16;

/**
 * Buffers a read buffer grew or shrank out of, by size, for the next one
 * that needs that size: a busy connection whose reads come in bursts changes
 * size often, and a fresh buffer is zeroed memory faulted in page by page.
 * At most {@linkcode POOL_PER_SIZE} of a size and {@linkcode POOL_BYTES} in all.
 */
const pool = new Map<number, Uint8Array[]>();
const POOL_PER_SIZE = 16;
const POOL_BYTES = 4 * 1024 * 1024;
let pooledBytes = 0;

function takeBuffer(size: number): Uint8Array {
  const buffer = pool.get(size)?.pop();
  if (buffer === undefined) return new Uint8Array(size);
  pooledBytes -= size;
  return buffer;
}

/**
 * Empties the pool of read buffers, letting the memory go (and giving tests
 * a known start).
 *
 * @example
 * ```ts
 * import { clearReadBufferPool } from "./read_buffer.ts";
 * clearReadBufferPool();
 * ```
 */
export function clearReadBufferPool(): void {
  pool.clear();
  pooledBytes = 0;
}

/** What a released read buffer holds: nothing. */
const NO_BUFFER = new Uint8Array(0);

function giveBuffer(buffer: Uint8Array): void {
  const size = buffer.length;
  if (size === 0 || pooledBytes + size > POOL_BYTES) return;
  let list = pool.get(size);
  if (list === undefined) pool.set(size, list = []);
  if (list.length >= POOL_PER_SIZE) return;
  list.push(buffer);
  pooledBytes += size;
}

/**
 * A read buffer that doubles while reads fill it, up to {@linkcode MAX_READ},
 * and halves after {@linkcode SHRINK_AFTER} reads in a row that used less
 * than an eighth of it, down to {@linkcode MIN_READ}.
 *
 * @example
 * ```ts
 * import { AdaptiveReadBuffer } from "./read_buffer.ts";
 * const reads = new AdaptiveReadBuffer();
 * const before = reads.buffer.length;
 * reads.afterRead(before); // a full read: the next one gets twice the room
 * console.log(reads.buffer.length === 2 * before); // true
 * ```
 */
export class AdaptiveReadBuffer {
  /** Where the next read goes. */
  buffer: Uint8Array = takeBuffer(MIN_READ);
  #smallReads = 0;

  /**
   * Adapts the size to a read of `count` bytes into {@linkcode AdaptiveReadBuffer.buffer}
   * (after its bytes have been used: the buffer may be replaced).
   *
   * @param count How many bytes the read placed there.
   */
  afterRead(count: number): void {
    const size = this.buffer.length;
    if (count === size && size < MAX_READ) {
      this.#resize(size * 2);
    } else if (count < size >> 3 && size > MIN_READ) {
      if (++this.#smallReads >= SHRINK_AFTER) this.#resize(size >> 1);
    } else this.#smallReads = 0;
  }

  /**
   * Gives the buffer back for other connections to read into: the
   * connection has ended and reads no more.
   */
  release(): void {
    giveBuffer(this.buffer);
    this.buffer = NO_BUFFER;
  }

  #resize(size: number): void {
    giveBuffer(this.buffer);
    this.buffer = takeBuffer(size);
    this.#smallReads = 0;
  }
}
