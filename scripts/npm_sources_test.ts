import { test } from "node:test";
import assert from "node:assert/strict";
import { rewriteSpecifiers, toJs } from "./npm_sources.ts";

test("rewriteSpecifiers: relative .ts specifiers of every import form become .js", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from './b.ts';`,
    `export * from "./c.ts";`,
    `export { d } from "../d.ts";`,
    `import "./side.ts";`,
    `const e = await import("./e.ts");`,
    `import net from "node:net";`,
    `import { x } from "pkg/x.ts";`,
    `const text = "see ./f.ts";`,
  ].join("\n");
  assert.equal(
    rewriteSpecifiers(source, toJs),
    [
      `import { a } from "./a.js";`,
      `import type { B } from './b.js';`,
      `export * from "./c.js";`,
      `export { d } from "../d.js";`,
      `import "./side.js";`,
      `const e = await import("./e.js");`,
      `import net from "node:net";`,
      `import { x } from "pkg/x.ts";`,
      `const text = "see ./f.ts";`,
    ].join("\n"),
  );
});

test("rewriteSpecifiers: the map decides where a specifier points", () => {
  const rewritten = rewriteSpecifiers(
    `import { connect } from "./client.ts";\nimport { wait } from "./test_util.ts";`,
    (spec) => spec === "./client.ts" ? "../esm/client.js" : toJs(spec),
  );
  assert.equal(
    rewritten,
    `import { connect } from "../esm/client.js";\nimport { wait } from "./test_util.js";`,
  );
});
