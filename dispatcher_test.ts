import { test } from "node:test";
import assert from "node:assert/strict";
import { castTypeFor, checkCastType, Dispatcher, HandlerMap } from "./dispatcher.ts";
import { HandlerError, type HiSockError } from "./errors.ts";

function collecting() {
  const errors: Array<[HiSockError, unknown]> = [];
  return {
    errors,
    onError: (error: HiSockError, context: unknown) => errors.push([error, context]),
  };
}

test("immediate mode runs handlers at once, in order", () => {
  const { onError } = collecting();
  const dispatcher = new Dispatcher("immediate", onError);
  const seen: string[] = [];
  dispatcher.commands.add("a", "str", (text: string) => seen.push(`1:${text}`));
  dispatcher.commands.add("a", "str", (text: string) => seen.push(`2:${text}`));
  for (const handler of dispatcher.commands.get("a")) {
    dispatcher.invoke("a", handler, undefined, 1, "x");
  }
  assert.deepEqual(seen, ["1:x", "2:x"]);
  assert.equal(dispatcher.pending, 0);
});

test("manual mode queues until run(), and reading pauses past maxPending", async () => {
  const { onError } = collecting();
  const pressure: boolean[] = [];
  const dispatcher = new Dispatcher("manual", onError, {
    maxPending: 2,
    onPressure: (high) => pressure.push(high),
  });
  const seen: number[] = [];
  const entry = { type: undefined, fn: (n: number) => seen.push(n), arity: 1 };
  for (let n = 0; n < 3; n++) dispatcher.invoke("n", entry, undefined, 1, n);
  assert.deepEqual(seen, []);
  assert.equal(dispatcher.pending, 3);
  assert.deepEqual(pressure, [true]);
  assert.equal(await dispatcher.run(false), 3);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(pressure, [true, false]);
});

test("run(blocking) waits for an event, or for the owner to close", async () => {
  const { onError } = collecting();
  const dispatcher = new Dispatcher("manual", onError);
  const entry = { type: undefined, fn: () => {}, arity: 0 };
  let done = false;
  const running = dispatcher.run(true).then((count) => (done = true, count));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(done, false, "nothing queued yet");
  dispatcher.invoke("x", entry, undefined, 0);
  assert.equal(await running, 1);
  let closeOwner!: () => void;
  const closed = new Promise<void>((resolve) => closeOwner = resolve);
  const waiting = dispatcher.run(true, closed);
  closeOwner();
  assert.equal(await waiting, 0);
});

test("handlers get exactly the arguments given, however many", () => {
  const { onError } = collecting();
  const seen: unknown[][] = [];
  const entry = { type: undefined, fn: (...args: unknown[]) => seen.push(args), arity: 0 };
  for (const mode of ["immediate", "manual"] as const) {
    const dispatcher = new Dispatcher(mode, onError);
    dispatcher.invoke("e", entry, undefined, 0);
    dispatcher.invoke("e", entry, undefined, 1, "a");
    dispatcher.invoke("e", entry, undefined, 2, "a", undefined);
    dispatcher.invoke("e", entry, undefined, 3, "a", "b", "c");
    dispatcher.run(false);
  }
  const once = [[], ["a"], ["a", undefined], ["a", "b", "c"]];
  assert.deepEqual(seen, [...once, ...once]);
});

test("thrown and rejected failures become HandlerError with the context", async () => {
  const { errors, onError } = collecting();
  const dispatcher = new Dispatcher("immediate", onError);
  dispatcher.invoke(
    "boom",
    {
      type: undefined,
      fn: () => {
        throw new Error("sync");
      },
      arity: 0,
    },
    "c1",
    0,
  );
  dispatcher.invoke(
    "later",
    { type: undefined, fn: () => Promise.reject(new Error("async")), arity: 0 },
    "c2",
    0,
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(errors.length, 2);
  assert.ok(errors[0][0] instanceof HandlerError);
  assert.equal((errors[0][0] as HandlerError).event, "boom");
  assert.equal(errors[0][1], "c1");
  assert.equal(((errors[1][0] as HandlerError).cause as Error).message, "async");
  assert.equal(errors[1][1], "c2");
});

test("handler maps copy on write, remove one or all, and check content types", () => {
  const map = new HandlerMap();
  const one = () => {};
  const two = () => {};
  // Nothing registered yet (the map is made by the first add).
  assert.equal(map.has("e"), false);
  assert.equal(map.get("e").length, 0);
  map.remove("e", one);
  map.remove("e");
  assert.equal(map.get("e").length, 0);
  map.add("e", undefined, one);
  const before = map.get("e");
  map.add("e", undefined, two);
  assert.equal(before.length, 1, "a list being walked is not changed");
  map.remove("e", one);
  assert.deepEqual(map.get("e").map((h) => h.fn), [two]);
  map.remove("e");
  assert.equal(map.has("e"), false);
  // The last lookup is remembered; every change must be seen by the next one.
  assert.equal(map.get("e").length, 0);
  map.add("e", undefined, one);
  assert.deepEqual(map.get("e").map((h) => h.fn), [one], "an add after a lookup");
  map.remove("e", one);
  assert.equal(map.get("e").length, 0, "a remove after a lookup");
  map.add("f", undefined, two);
  assert.equal(map.get("e").length, 0);
  assert.deepEqual(map.get("f").map((h) => h.fn), [two], "another name");
  assert.throws(() => map.add("e", undefined, 42 as never), TypeError);
  assert.equal(checkCastType("view"), "view");
  assert.throws(() => checkCastType("integer"), TypeError);
  assert.throws(() => new Dispatcher("later" as never, () => {}), RangeError);
  const manual = new Dispatcher("manual", () => {});
  assert.equal(castTypeFor({ type: "view", fn: one, arity: 1 }, manual), "bytes");
  assert.equal(castTypeFor({ type: undefined, fn: one, arity: 1 }, manual), "bytes");
  assert.equal(
    castTypeFor({ type: "view", fn: one, arity: 1 }, new Dispatcher("immediate", () => {})),
    "view",
  );
});

test("deliver: leading arguments, then the cast content; none for a handler without it", () => {
  const { errors, onError } = collecting();
  const dispatcher = new Dispatcher("immediate", onError);
  const seen: unknown[][] = [];
  const caster = {
    cast: (content: unknown, type: string) => {
      if (content === "bad") throw new TypeError("unreadable");
      return `${type}:${content}`;
    },
  };
  const record = (arity: number, type?: "str") => ({
    type,
    fn: (...args: unknown[]) => seen.push(args),
    arity,
  });
  dispatcher.deliver("c", [record(1)], "ctx", 0, "a", "b", "x", true, caster);
  dispatcher.deliver("c", [record(0)], "ctx", 0, "a", "b", "x", true, caster);
  dispatcher.deliver("c", [record(2)], "ctx", 1, "a", "b", "x", true, caster);
  dispatcher.deliver("c", [record(3)], "ctx", 2, "a", "b", "x", true, caster);
  dispatcher.deliver("c", [record(2)], "ctx", 2, "a", "b", "x", true, caster);
  dispatcher.deliver("c", [record(0, "str")], "ctx", 1, "a", "b", "x", true, caster);
  assert.deepEqual(seen, [
    ["bytes:x"],
    [],
    ["a", "bytes:x"],
    ["a", "b", "bytes:x"],
    ["a", "b"],
    ["a", "str:x"],
  ]);
  dispatcher.deliver("c", [record(1)], "ctx", 0, "a", "b", "bad", true, caster);
  assert.equal(seen.length, 6, "a failed cast does not run the handler");
  assert.equal(errors.length, 1);
  assert.equal(errors[0][1], "ctx");
  assert.match(errors[0][0].message, /cast failed: TypeError: unreadable/);
});
