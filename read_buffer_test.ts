import { test } from "node:test";
import assert from "node:assert/strict";
import { AdaptiveReadBuffer, MAX_READ, MIN_READ } from "./read_buffer.ts";

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
