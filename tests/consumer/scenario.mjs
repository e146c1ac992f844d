// @ts-check
/**
 * The exchange every consumer test runs: a server, and three clients (two in
 * group "red", one in "blue") that send commands, raw messages and group
 * sends and check every answer. Plain JavaScript that takes the library as a
 * parameter, so Node (ESM and CommonJS), Bun and Deno all run the same code,
 * and either half can run in another runtime than the other (interop).
 * `tsc` checks it against the installed types through the JSDoc below.
 */

/** @typedef {typeof import("hisock-ts")} Hisock */
/** @typedef {import("hisock-ts").ClientInfo} ClientInfo */

/** The bound of one wait. */
const WAIT_MS = 10_000;
/** Clients per round. */
const CLIENTS = 3;

/**
 * Rejects when `promise` takes longer than `ms`.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {string} what
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
export async function within(promise, what, ms = WAIT_MS) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return /** @type {T} */ (await Promise.race([promise, timeout]));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A promise with its resolver.
 *
 * @template T
 * @returns {{ promise: Promise<T>, resolve: (value: T) => void }}
 */
function deferred() {
  /** @type {(value: T) => void} */
  let resolve = () => {};
  const promise = new Promise((r) => resolve = r);
  return { promise: /** @type {Promise<T>} */ (promise), resolve };
}

/**
 * Throws unless `actual` and `expected` have the same JSON.
 *
 * @param {unknown} actual
 * @param {unknown} expected
 * @param {string} what
 */
function expect(actual, expected, what) {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/**
 * The server half. It answers `ping` with `pong` (upper-cased), `add` with
 * `sum`, a raw message with the bytes reversed, `shout` with a send to the
 * shouter's group, and once every client of a round said `ready`, sends
 * `go` to everyone. `finished` resolves once `rounds` rounds of clients
 * have joined and left.
 *
 * @param {Hisock} lib
 * @param {{ rounds?: number, port?: number }} [options]
 */
export async function startScenarioServer(lib, options = {}) {
  const rounds = options.rounds ?? 1;
  const server = await lib.startServer(["127.0.0.1", options.port ?? 0]);
  /** @type {string[]} */
  const joined = [];
  /** @type {Map<string, number>} */
  const ready = new Map();
  /** @type {unknown[]} */
  const errors = [];
  const done = deferred();
  let left = 0;
  server.on("join", (client) => joined.push(String(client.name)));
  server.on("error", (error) => errors.push(error));
  server.on("ping", "str", (client, text) => server.sendClient(client, "pong", text.toUpperCase()));
  server.on("add", "json", (client, value) => {
    const { a, b } = /** @type {{ a: number, b: number }} */ (value);
    server.sendClient(client, "sum", a + b);
  });
  server.on("*", (client, command, content) => {
    if (command === null) server.sendClientRaw(client, content.slice().reverse());
  });
  server.on("shout", "str", (client, text) => {
    server.sendGroup(String(client.group), "team", `${client.name}: ${text}`);
  });
  server.on("ready", "str", (_client, round) => {
    const count = (ready.get(round) ?? 0) + 1;
    ready.set(round, count);
    if (count === CLIENTS) server.sendAllClients("all", "go");
  });
  server.on("leave", () => {
    if (++left === rounds * CLIENTS) done.resolve(undefined);
  });
  return {
    /** @type {[string, number]} */
    addr: server.getAddr(),
    server,
    /** Resolves with the names that joined, once every round has left. */
    finished: done.promise.then(() => {
      if (errors.length > 0) throw new Error(`server errors: ${errors.join("; ")}`);
      return joined;
    }),
    close: () => server.close(),
  };
}

/**
 * One client's part: connect, then ping and add, a raw round trip, and a
 * lookup of another client.
 *
 * @param {Hisock} lib
 * @param {[string, number]} addr
 * @param {string} name
 * @param {string} group
 * @param {number} index
 */
async function startClient(lib, addr, name, group, index) {
  const client = await within(lib.connect(addr, { name, group }), `${name} to connect`);
  const pong = deferred();
  const sum = deferred();
  const all = deferred();
  /** @type {string[]} */
  const team = [];
  client.on("pong", "str", pong.resolve);
  client.on("sum", "int", sum.resolve);
  client.on("team", "str", (text) => team.push(text));
  client.on("all", "str", all.resolve);
  client.send("ping", `hi ${name}`);
  client.send("add", { a: index, b: 40 });
  client.rawSend(new Uint8Array([1, 2, 3, index]));
  expect(await within(pong.promise, `${name}'s pong`), `HI ${name.toUpperCase()}`, "pong");
  expect(await within(sum.promise, `${name}'s sum`), index + 40, "sum");
  const raw = await within(client.recvRaw(), `${name}'s raw reply`);
  expect(Array.from(raw), [index, 3, 2, 1], "raw reply");
  if (!(raw instanceof Uint8Array)) throw new Error("a raw reply is not a Uint8Array");
  return { client, team, all: all.promise };
}

/**
 * The clients half: three clients of round `round` against the server at
 * `addr`, checking every answer; they leave at the end.
 *
 * @param {Hisock} lib
 * @param {[string, number]} addr
 * @param {string} round A label, unique per round, that prefixes names and groups.
 */
export async function runScenarioClients(lib, addr, round) {
  const red = `${round}-red`;
  const specs = [[`${round}-a`, red], [`${round}-b`, red], [`${round}-c`, `${round}-blue`]];
  const clients = [];
  try {
    // One after the other: each has had its ping answered, so the server
    // knows it, before the next one comes.
    for (const [index, [name, group]] of specs.entries()) {
      clients.push(await startClient(lib, addr, name, group, index));
    }
    const [a] = clients;
    const b = await within(a.client.getClient(`${round}-b`), "the lookup");
    expect([b.name, b.group], [`${round}-b`, red], "getClient");
    a.client.send("shout", "attack");
    for (const { client } of clients) client.send("ready", round);
    for (const { all } of clients) expect(await within(all, "the broadcast"), "go", "broadcast");
    // Each stream is ordered and the shout came before every ready, so the
    // group send has arrived wherever it was going to.
    const heard = clients.map(({ team }) => team);
    const shout = `${round}-a: attack`;
    expect(heard, [[shout], [shout], []], "group send");
  } finally {
    await within(Promise.all(clients.map(({ client }) => client.close())), "the clients to close");
  }
}

/**
 * Both halves in one process, and a refused connection.
 *
 * @param {Hisock} lib
 * @param {string} label
 */
export async function scenario(lib, label) {
  const serving = await startScenarioServer(lib);
  try {
    await runScenarioClients(lib, serving.addr, label);
    const joined = await within(serving.finished, "every client to leave");
    expect(joined, [`${label}-a`, `${label}-b`, `${label}-c`], "joins");
  } finally {
    await within(serving.close(), "the server to close");
  }
  // The port is free now: a connection there is refused.
  try {
    await within(lib.connect(serving.addr), "the refusal");
    throw new Error("a connection to a closed server succeeded");
  } catch (error) {
    if (!(error instanceof lib.ServerNotRunning)) throw error;
  }
  console.log(`consumer ${label}: ok`);
}
