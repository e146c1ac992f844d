import { test } from "node:test";
import assert from "node:assert/strict";
import { AdaptiveReadBuffer, clearReadBufferPool, MAX_READ, MIN_READ } from "./read_buffer.ts";

test("the read buffer doubles on full reads up to MAX_READ, halves after a run of small ones", () => {
  const reads = new AdaptiveReadBuffer();
  assert.equal(reads.buffer.length, MIN_READ);
  const sizes: number[] = [];
  for (let i = 0; i < 20; i++) {
    reads.afterRead(reads.buffer.length);
    sizes.push(reads.buffer.length);
  }
  assert.equal(sizes.at(-1), MAX_READ, "capped");
  assert.deepEqual(sizes.slice(0, 3), [2 * MIN_READ, 4 * MIN_READ, 8 * MIN_READ]);
  // One small read among full ones does not shrink it; a long run does.
  for (let i = 0; i < 15; i++) reads.afterRead(1);
  assert.equal(reads.buffer.length, MAX_READ);
  reads.afterRead(MAX_READ / 2); // a read of a fair size resets the run
  for (let i = 0; i < 15; i++) reads.afterRead(1);
  assert.equal(reads.buffer.length, MAX_READ);
  reads.afterRead(1);
  assert.equal(reads.buffer.length, MAX_READ / 2);
  for (let i = 0; i < 16 * 20; i++) reads.afterRead(0);
  assert.equal(reads.buffer.length, MIN_READ, "never below MIN_READ");
});

test("buffers outgrown, shrunk out of or released are read into again by other read buffers", () => {
  // Other tests in this process may have filled the pool.
  clearReadBufferPool();
  const a = new AdaptiveReadBuffer();
  const first = a.buffer;
  a.afterRead(first.length); // grows: the first buffer goes to the pool
  assert.equal(a.buffer.length, 2 * MIN_READ);
  const b = new AdaptiveReadBuffer();
  assert.equal(b.buffer, first, "a new read buffer starts in the one given up");
  const grown = a.buffer;
  a.release();
  assert.equal(a.buffer.length, 0, "a released read buffer holds nothing");
  a.release(); // twice is harmless
  b.afterRead(b.buffer.length);
  assert.equal(b.buffer, grown, "growing takes the released one of that size");
  // Shrinking gives the big one back too.
  for (let i = 0; i < 16; i++) b.afterRead(0);
  assert.equal(b.buffer.length, MIN_READ);
  const c = new AdaptiveReadBuffer();
  c.afterRead(c.buffer.length);
  assert.equal(c.buffer, grown);
});
