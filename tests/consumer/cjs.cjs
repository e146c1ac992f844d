// @ts-check
// A Node CommonJS consumer: `require` must resolve to the package's cjs/
// build, and that build must work on its own (the scenario gets it passed in).
const hisock = require("hisock-ts");
const { nodeTransport } = require("hisock-ts/transport-node");

const resolved = require.resolve("hisock-ts");
if (!resolved.endsWith("/cjs/mod.js")) throw new Error(`require resolved to ${resolved}`);
if (typeof nodeTransport.listen !== "function") throw new Error("no nodeTransport export");
if (!(new hisock.ServerNotRunning("x") instanceof hisock.HiSockError)) {
  throw new Error("the CommonJS error classes are broken");
}
import("./scenario.mjs")
  // The scenario's JSDoc names the ESM types; the CommonJS build's are the
  // same shapes but, having private fields, distinct to tsc.
  .then(({ scenario }) => scenario(/** @type {any} */ (hisock), "node-cjs"))
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
