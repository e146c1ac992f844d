// @ts-check
// The server half of an interop run, in any runtime:
//   <runtime> serve.mjs <library specifier> <rounds>
// prints "LISTENING <port>", then exits 0 once every round of clients has
// joined and left (or 1 on a failure or after the time limit).
import process from "node:process";
import { startScenarioServer, within } from "./scenario.mjs";

const [specifier, rounds] = process.argv.slice(2);
const lib = await import(specifier);
const serving = await startScenarioServer(lib, { rounds: Number(rounds) });
console.log(`LISTENING ${serving.addr[1]}`);
try {
  const joined = await within(serving.finished, "every round to finish", 60_000);
  console.log(`served ${joined.join(", ")}`);
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await within(serving.close(), "the server to close");
}
