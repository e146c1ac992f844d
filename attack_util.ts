/**
 * Helpers of the hardening, attack and soak tests: hostile raw peers and a
 * healthy client whose traffic is checked message by message while an attack
 * runs. Runtime-neutral (web APIs and `node:*` only), every wait bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import type { HiSockClient, HiSockServer } from "./mod.ts";
import { asciiFrame, join, RawPeer, type Scope, until, WAIT_MS } from "./test_util.ts";

/**
 * The hello frame a Python v2 client sends.
 *
 * @param name The name.
 * @param group The group.
 */
export function helloFrame(name: string | null, group: string | null = null): Uint8Array {
  return asciiFrame(`$CLTHELLO$${JSON.stringify({ name, group }).replace(/":/g, '": ')}`);
}

/**
 * Whether the server has registered the client at this local port.
 *
 * @param server The server.
 * @param port The client's port.
 */
export function joinedAt(server: HiSockServer, port: number): boolean {
  return server.getAllClients("ip").some((ip) => ip[1] === port);
}

/**
 * A raw peer that says hello and is registered; with `read: false` it never
 * reads again (its socket is paused, so the kernel buffers fill up).
 *
 * @param scope The test's scope.
 * @param server The server.
 * @param name Its name.
 * @param read Whether it keeps reading.
 */
export async function rawJoin(
  scope: Scope,
  server: HiSockServer,
  name: string,
  read = true,
  group: string | null = null,
): Promise<RawPeer> {
  const peer = scope.add(await RawPeer.connect(server.getAddr()[1]));
  if (!read) peer.socket.pause();
  await peer.write(helloFrame(name, group));
  await until(() => joinedAt(server, peer.addr[1]), `the raw join of ${name}`);
  return peer;
}

/** A client whose traffic is checked while an attack runs. */
export interface Healthy {
  /** The client. */
  readonly client: HiSockClient;
  /** Messages sent so far. */
  readonly sent: number;
  /** Echoes received so far, each in order. */
  readonly received: number;
  /**
   * Stops sending, waits for every echo, and asserts that each came back
   * once and in order, and that at least `minimum` round trips happened.
   *
   * @param minimum The least number of round trips expected.
   */
  stop(minimum?: number): Promise<void>;
}

let healthyCount = 0;

/**
 * Joins a client that sends a numbered message every few milliseconds,
 * which the server echoes back; each echo is checked against the next
 * number expected.
 *
 * @param scope The test's scope.
 * @param server The server.
 * @param everyMs How often it sends.
 */
export async function startHealthy(
  scope: Scope,
  server: HiSockServer,
  everyMs = 10,
): Promise<Healthy> {
  const name = `healthy-${++healthyCount}`;
  const command = `echo-${name}`;
  server.on(command, "int", (client, n) => {
    server.sendClient(client, command, n);
  });
  const client = await join(scope, server, { name });
  let sent = 0;
  let received = 0;
  let failure: string | null = null;
  client.on(command, "int", (n) => {
    if (n !== received) failure ??= `echo ${received} expected, got ${n}`;
    received++;
  });
  const timer = setInterval(() => {
    if (client.bufferedAmount > 0 && sent - received > 1000) return;
    try {
      client.send(command, sent);
      sent++;
    } catch (error) {
      failure ??= `send failed: ${error}`;
    }
  }, everyMs);
  // Stopped at the test's end whatever happened: a test that fails before
  // stop() must not leave it running (Node would never exit).
  scope.add({ close: () => clearInterval(timer) });
  return {
    client,
    get sent() {
      return sent;
    },
    get received() {
      return received;
    },
    async stop(minimum = 10) {
      // Talk at least this much, however short the attack was.
      await until(
        () => received >= minimum || failure !== null,
        `${name}'s first ${minimum} round trips`,
        WAIT_MS,
      );
      clearInterval(timer);
      await until(
        () => received === sent || failure !== null,
        `${name}'s last echoes (${received} of ${sent})`,
        WAIT_MS,
      );
      assert.equal(failure, null, `${name}: ${failure}`);
      assert.ok(received >= minimum, `${name}: only ${received} round trips`);
    },
  };
}

/**
 * Bytes held outside the JS heap, array buffers included (in Node
 * `arrayBuffers` is a part of `external`; Deno counts them in `external`).
 */
export function bufferMemory(): number {
  return process.memoryUsage().external;
}

let collect: (() => void) | null | undefined;

/**
 * The runtime's garbage collector: V8 exposes it to a new context once
 * `--expose-gc` is set, which works at run time in Deno and Node alike;
 * Bun offers `Bun.gc`.
 * `null` where that is refused (then memory figures include garbage).
 */
function collector(): (() => void) | null {
  // Bun (JavaScriptCore) has its own, always available.
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  if (collect === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      collect = vm.runInNewContext("gc") as () => void;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/**
 * Collects garbage (where the runtime allows it) and yields so that
 * finalizers run: what {@linkcode bufferMemory} says next is what is held.
 */
export async function settleMemory(): Promise<void> {
  const gc = collector();
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
