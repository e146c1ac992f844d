import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientRegistry } from "./registry.ts";
import { makeClientInfo } from "./client_info.ts";

const entry = (port: number, name: string | null, group: string | null) => ({
  info: makeClientInfo("127.0.0.1", port, name, group),
});

test("lookups by address, name and group follow adds, updates and removes", () => {
  const registry = new ClientRegistry();
  const alice = entry(1, "alice", "red");
  const bob = entry(2, "bob", "red");
  const nobody = entry(3, null, null);
  registry.add(alice);
  registry.add(bob);
  registry.add(nobody);
  assert.equal(registry.size, 3);
  assert.equal(registry.byAddress("127.0.0.1:2"), bob);
  assert.equal(registry.byName("alice"), alice);
  assert.equal(registry.nameCount("alice"), 1);
  assert.deepEqual([...registry.group("red")!], [alice, bob]);
  assert.equal(registry.group("blue"), undefined);

  registry.update(bob, makeClientInfo("127.0.0.1", 2, "robert", "blue"));
  assert.equal(registry.byName("bob"), undefined);
  assert.equal(registry.byName("robert"), bob);
  assert.deepEqual([...registry.group("red")!], [alice]);
  assert.deepEqual([...registry.group("blue")!], [bob]);

  assert.equal(registry.remove(alice), true);
  assert.equal(registry.remove(alice), false);
  assert.equal(registry.group("red"), undefined, "an emptied group is gone");
  assert.equal(registry.byName("alice"), undefined);
  assert.deepEqual([...registry.entries()], [bob, nobody]);
  assert.throws(() => registry.add(entry(2, "x", null)), /already registered/);
  assert.throws(() => registry.update(bob, makeClientInfo("127.0.0.1", 9, "x", null)));
});

test("a shared name finds the client that has held it longest, in every transition", () => {
  const registry = new ClientRegistry();
  const first = entry(1, "sam", null);
  const second = entry(2, "sam", null);
  const third = entry(3, "other", null);
  registry.add(first);
  registry.add(second);
  assert.equal(registry.nameCount("sam"), 2);
  assert.equal(registry.byName("sam"), first);
  registry.update(third, third.info); // not registered: a no-op on indexes
  registry.add(third);
  registry.update(third, makeClientInfo("127.0.0.1", 3, "sam", null));
  assert.equal(registry.nameCount("sam"), 3);
  registry.remove(first);
  assert.equal(registry.byName("sam"), second);
  registry.remove(second);
  assert.equal(registry.byName("sam"), third);
  assert.equal(registry.nameCount("sam"), 1);
  registry.remove(third);
  assert.equal(registry.nameCount("sam"), 0);
  assert.equal(registry.byName("sam"), undefined);
});

test("list and group are arrays that a change replaces and never alters", () => {
  const registry = new ClientRegistry();
  const alice = entry(1, "alice", "red");
  const bob = entry(2, "bob", "red");
  const carol = entry(3, "carol", "blue");
  registry.add(alice);
  registry.add(bob);
  const all = registry.list();
  const red = registry.group("red")!;
  assert.deepEqual(all, [alice, bob]);
  assert.deepEqual(red, [alice, bob]);
  assert.equal(registry.list(), all, "asked again without a change: the same array");
  assert.equal(registry.group("red"), red);

  registry.add(carol);
  assert.deepEqual(all, [alice, bob], "a snapshot in use does not see an add");
  assert.deepEqual(registry.list(), [alice, bob, carol]);
  assert.equal(registry.group("red"), red, "another group's change keeps this one's array");
  assert.deepEqual(registry.group("blue"), [carol]);

  registry.update(bob, makeClientInfo("127.0.0.1", 2, "robert", "red"));
  assert.equal(registry.group("red"), red, "a rename keeps the group's array");
  const everyone = registry.list();
  registry.update(bob, makeClientInfo("127.0.0.1", 2, "robert", "blue"));
  assert.equal(registry.list(), everyone, "a move between groups keeps the array of all");
  assert.deepEqual(red, [alice, bob], "nor does it see a move");
  assert.deepEqual(registry.group("red"), [alice]);
  assert.deepEqual(registry.group("blue"), [carol, bob]);

  const blue = registry.group("blue")!;
  registry.remove(carol);
  assert.deepEqual(blue, [carol, bob], "nor a remove");
  assert.deepEqual(registry.group("blue"), [bob]);
  assert.deepEqual(registry.list(), [alice, bob]);
  registry.remove(alice);
  assert.equal(registry.group("red"), undefined);
});

test("forEach visits the entries in join order, as the registry is during the walk", () => {
  const registry = new ClientRegistry();
  const [a, b, c, d] = [1, 2, 3, 4].map((port) => entry(port, `n${port}`, null));
  for (const e of [a, b, c]) registry.add(e);
  const seen: unknown[] = [];
  registry.forEach((e) => {
    seen.push(e);
    // Removed before its turn: not visited. Added during the walk: visited.
    if (e === a) {
      registry.remove(b);
      registry.add(d);
    }
  });
  assert.deepEqual(seen, [a, c, d]);
  const again: unknown[] = [];
  registry.forEach((e) => again.push(e));
  assert.deepEqual(again, [...registry.entries()]);
});
