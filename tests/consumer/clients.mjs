// @ts-check
// The clients half of an interop run, in any runtime:
//   <runtime> clients.mjs <library specifier> <port> <round label>
import process from "node:process";
import { runScenarioClients } from "./scenario.mjs";

const [specifier, port, round] = process.argv.slice(2);
const lib = await import(specifier);
await runScenarioClients(lib, ["127.0.0.1", Number(port)], round);
console.log(`clients ${round}: ok`);
