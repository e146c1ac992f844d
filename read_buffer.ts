/**
 * The read buffer of one connection, sized to its traffic: the Deno
 * transport's, whose reads wait with their buffer (Node's client sockets
 * read one at a time, so they share one buffer; see `transport_node.ts`);
 * its sizes bound the Node transport's shared buffer too.
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
  buffer: Uint8Array = new Uint8Array(MIN_READ);
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
      this.buffer = new Uint8Array(size * 2);
      this.#smallReads = 0;
    } else if (count < size >> 3 && size > MIN_READ) {
      if (++this.#smallReads >= SHRINK_AFTER) {
        this.buffer = new Uint8Array(size >> 1);
        this.#smallReads = 0;
      }
    } else this.#smallReads = 0;
  }
}
