import { test } from "node:test";
import assert from "node:assert/strict";
import { pyJsonDumps } from "./pyjson.ts";
import { UnsupportedContent } from "./errors.ts";

// Expected strings were printed by Python 3.11's json.dumps for the same values.
test("pyJsonDumps matches Python's json.dumps byte for byte", () => {
  const cases: Array<[unknown, string]> = [
    [{ name: "zoë", group: null }, String.raw`{"name": "zo\u00eb", "group": null}`],
    [["日本", 1, 2.5, true, false, null], String.raw`["\u65e5\u672c", 1, 2.5, true, false, null]`],
    [{ a: { b: [] } }, `{"a": {"b": []}}`],
    [
      'quote" back\\ nl\n tab\t del\x7f ctl\x01',
      String.raw`"quote\" back\\ nl\n tab\t del\u007f ctl\u0001"`,
    ],
    ["😀", String.raw`"\ud83d\ude00"`],
  ];
  for (const [value, expected] of cases) assert.equal(pyJsonDumps(value), expected);
});

test("pyJsonDumps refuses what JSON cannot hold", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => pyJsonDumps(cyclic), UnsupportedContent);
  assert.throws(() => pyJsonDumps([new Uint8Array(1)]), UnsupportedContent);
  assert.throws(() => pyJsonDumps(() => 1), UnsupportedContent);
  // A repeated, non-cyclic object is fine.
  const shared = { x: 1 };
  assert.equal(pyJsonDumps([shared, shared]), '[{"x": 1}, {"x": 1}]');
  assert.equal(
    pyJsonDumps({ a: [shared], b: { c: shared } }),
    '{"a": [{"x": 1}], "b": {"c": {"x": 1}}}',
  );
  // A cycle deeper down, through an array.
  const deep: unknown[] = [];
  deep.push({ list: deep });
  assert.throws(() => pyJsonDumps({ top: deep }), UnsupportedContent);
  // A hole in an array is null, as JSON.stringify writes it.
  // deno-lint-ignore no-sparse-arrays
  assert.equal(pyJsonDumps([1, , 3]), "[1, null, 3]");
});
