/**
 * Soak: 2,000 clients stay connected and talk for a bounded time (10 s by
 * default) while memory is sampled; at the end every message must have
 * arrived, in order, nobody may have been dropped (keepalive runs with a
 * short interval all along), and memory may not have grown past a bound.
 *
 * Environment: `HISOCK_SOAK_CLIENTS` (default 2000), `HISOCK_SOAK_SECONDS`
 * (default 10). Client and server live in one process, so it needs about
 * twice as many file descriptors as clients; with a lower `ulimit -n` the
 * client count is lowered to fit, and said so.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { execSync } from "node:child_process";
import { type ClientInfo, connect, type HiSockClient } from "./mod.ts";
import { record, scoped, serve, until } from "./test_util.ts";
import { bufferMemory, settleMemory } from "./attack_util.ts";

const MiB = 1024 * 1024;
const WANTED = Number(process.env.HISOCK_SOAK_CLIENTS ?? 2_000) || 2_000;
const SECONDS = Number(process.env.HISOCK_SOAK_SECONDS ?? 10) || 10;
const GROUPS = 20;

/** The open-file limit, or `Infinity` when it cannot be read. */
function fileLimit(): number {
  try {
    const out = execSync("ulimit -n", { shell: "/bin/sh" } as never).toString().trim();
    return out === "unlimited" ? Infinity : Number(out) || Infinity;
  } catch {
    return Infinity;
  }
}

/** Heap and buffers together. */
function memory(): number {
  return process.memoryUsage().heapUsed + bufferMemory();
}

interface Talker {
  client: HiSockClient;
  sent: number;
  pongs: number;
  ticks: number;
  failure: string | null;
}

test(
  `soak: ${WANTED} clients talk for ${SECONDS} s; nothing lost, nobody dropped, memory bounded`,
  scoped(async (scope) => {
    const limit = fileLimit();
    // Two descriptors per client (both ends), plus some for the runtime.
    const count = Math.min(WANTED, Math.floor((limit - 100) / 2));
    if (count < WANTED) {
      console.log(`soak: ulimit -n is ${limit}; running ${count} clients instead of ${WANTED}`);
    }
    assert.ok(count >= 100, `too few file descriptors (${limit}) for a soak`);

    const { server, errors } = await serve(scope, {
      // N joins would cost N² announcements; a large server turns them off.
      announcePresence: false,
      // Short enough to run many times during the soak: it must drop nobody.
      keepalive: { interval: 1_000, timeout: 1_000 },
    });
    const leaves = record<[ClientInfo]>(server, "leave");
    server.on("ping", "int", (client, n) => {
      server.sendClient(client, "pong", n);
    });

    const talkers: Talker[] = [];
    for (let start = 0; start < count; start += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, count - start) }, (_, i) =>
          connect(server.getAddr(), {
            name: `c${start + i}`,
            group: `g${(start + i) % GROUPS}`,
          })),
      );
      for (const client of batch) {
        const talker: Talker = { client, sent: 0, pongs: 0, ticks: 0, failure: null };
        client.on("pong", "int", (n) => {
          if (n !== talker.pongs) talker.failure ??= `pong ${talker.pongs} expected, got ${n}`;
          talker.pongs++;
        });
        client.on("tick", "int", () => talker.ticks++);
        talkers.push(talker);
      }
    }
    try {
      await until(() => server.getAllClients().length === count, "every join", 30_000);

      // Each client pings every 200 ms (a tenth of them every 20 ms); a group
      // gets a broadcast every 20 ms.
      let round = 0;
      let ticksSent = 0;
      const timer = setInterval(() => {
        const slice = round % 10;
        for (let i = slice; i < talkers.length; i += 10) {
          const talker = talkers[i];
          talker.client.send("ping", talker.sent++);
        }
        server.sendGroup(`g${round % GROUPS}`, "tick", round);
        ticksSent++;
        round++;
      }, 20);

      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      await sleep(2_000); // warm-up: buffers reach their working sizes
      await settleMemory();
      const before = memory();
      const samples: number[] = [];
      const deadline = Date.now() + SECONDS * 1_000;
      while (Date.now() < deadline) {
        await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())));
        samples.push(memory() - before);
      }
      clearInterval(timer);
      await until(
        () => talkers.every((talker) => talker.pongs === talker.sent),
        "every pong",
        30_000,
      ).catch((error) => {
        // Say what is missing: a dropped client (a leave) differs from a lost reply.
        const behind = talkers.filter((talker) => talker.pongs !== talker.sent);
        const sample = behind.slice(0, 3).map((t) =>
          `${t.client.name}: ${t.pongs}/${t.sent} pongs, ${t.client.bufferedAmount} bytes queued`
        );
        throw new Error(
          `${error.message}: ${behind.length} clients behind (${sample.join("; ")}); ` +
            `${leaves.size} leaves, ${errors.size} errors (first: ${errors.all[0]?.[0]})`,
        );
      });
      await settleMemory();
      const grown = memory() - before;

      const pings = talkers.reduce((sum, talker) => sum + talker.sent, 0);
      console.log(
        `soak: ${count} clients, ${SECONDS} s, ${pings} pings and pongs, ` +
          `${ticksSent} group broadcasts; memory after warm-up ${(before / MiB).toFixed(1)} MiB, ` +
          `growth ${(grown / MiB).toFixed(1)} MiB (samples, with garbage: ` +
          `${samples.map((s) => (s / MiB).toFixed(0)).join(" ")} MiB)`,
      );
      for (const talker of talkers) assert.equal(talker.failure, null, talker.failure ?? "");
      assert.ok(
        talkers.every((talker) => talker.ticks > 0),
        "every client got group broadcasts",
      );
      assert.equal(leaves.size, 0, "nobody was dropped");
      assert.equal(errors.size, 0, `no errors: ${errors.all[0]?.[0]}`);
      assert.equal(server.getAllClients().length, count);
      // In a steady state nothing is kept: a message is garbage once
      // handled, and every buffer reached its working size in the warm-up
      // (measured: growth within ±2 MiB after a collection). What may still
      // grow is a read buffer doubling (a few KiB per client at most) and
      // the runtime's bookkeeping: 8 MiB + 2 KiB per client (12 MiB for
      // 2,000). A leak of one 56-byte object per message (~230,000 pings and
      // pongs in 10 s) would pass it, and a longer run is stricter still.
      const bound = 8 * MiB + count * 2 * 1024;
      assert.ok(
        grown < bound,
        `memory grew ${(grown / MiB).toFixed(1)} MiB, bound ${(bound / MiB).toFixed(1)} MiB`,
      );
    } finally {
      for (let start = 0; start < talkers.length; start += 200) {
        await Promise.all(
          talkers.slice(start, start + 200).map((talker) =>
            talker.client.close({ timeout: 5_000 })
          ),
        );
      }
    }
  }, (SECONDS + 120) * 1_000),
);
