// @ts-check
// A Node ESM consumer: `import` must resolve to the package's esm/ build.
import * as hisock from "hisock-ts";
import { nodeTransport } from "hisock-ts/transport-node";
import { scenario } from "./scenario.mjs";

const resolved = import.meta.resolve("hisock-ts");
if (!resolved.endsWith("/esm/mod.js")) throw new Error(`import resolved to ${resolved}`);
if (typeof nodeTransport.connect !== "function") throw new Error("no nodeTransport export");
await scenario(hisock, "node-esm");
