import { test } from "node:test";
import assert from "node:assert/strict";
import { formatAddress, makeClientInfo, resolveClientRef } from "./client_info.ts";
import { parseAddress } from "./address.ts";

test("resolveClientRef tells addresses from names", () => {
  assert.deepEqual(resolveClientRef("127.0.0.1:5000"), { address: "127.0.0.1:5000" });
  assert.deepEqual(resolveClientRef(["127.0.0.1", 5000]), { address: "127.0.0.1:5000" });
  assert.deepEqual(resolveClientRef("[::1]:80"), { address: "[::1]:80" });
  assert.deepEqual(resolveClientRef(["::1", 80]), { address: "[::1]:80" });
  assert.deepEqual(resolveClientRef("alice"), { name: "alice" });
  assert.deepEqual(resolveClientRef("zoë 日本"), { name: "zoë 日本" });
  const info = makeClientInfo("10.0.0.1", 9, "x", null);
  assert.deepEqual(resolveClientRef(info), { address: "10.0.0.1:9" });
});

test("resolveClientRef refuses malformed references with TypeError", () => {
  for (
    const bad of [
      "127.0.0.1:70000",
      ["127.0.0.1"],
      ["127.0.0.1", "80"],
      ["127.0.0.1", 1.5],
      [1, 2],
      "",
      42,
      null,
      {},
    ]
  ) {
    assert.throws(() => resolveClientRef(bad as never), TypeError, JSON.stringify(bad));
  }
});

test("client info is a frozen snapshot with ipstr", () => {
  const info = makeClientInfo("127.0.0.1", 34208, "alice", "g1");
  assert.equal(info.ipstr, "127.0.0.1:34208");
  assert.ok(Object.isFrozen(info));
  assert.ok(Object.isFrozen(info.ip));
  assert.equal(formatAddress("::1", 1), "[::1]:1");
});

test("parseAddress takes both forms and refuses others", () => {
  assert.deepEqual(parseAddress(["127.0.0.1", 0]), { hostname: "127.0.0.1", port: 0 });
  assert.deepEqual(parseAddress({ hostname: "localhost", port: 80 }), {
    hostname: "localhost",
    port: 80,
  });
  for (const bad of [["h"], ["h", -1], ["h", 65536], ["", 1], { hostname: "h" }, "h:1", null]) {
    assert.throws(() => parseAddress(bad as never), TypeError, JSON.stringify(bad));
  }
});
