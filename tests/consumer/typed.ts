// A TypeScript consumer: `tsc --noEmit` checks it against the installed
// .d.ts files (the `@ts-expect-error` lines prove the types are not `any`),
// and Bun runs it.
import * as hisock from "hisock-ts";
import {
  type ClientInfo,
  connect,
  type HiSockClient,
  HiSockError,
  type HiSockServer,
  ServerNotRunning,
  startServer,
  type Transport,
} from "hisock-ts";
import { nodeTransport } from "hisock-ts/transport-node";
import { scenario } from "./scenario.mjs";

const transport: Transport = nodeTransport;
const server: HiSockServer = await startServer(["127.0.0.1", 0], { transport });
const addr: [string, number] = server.getAddr();
const got = new Promise<number>((resolve) => {
  server.on("n", "int", (client: ClientInfo, n: number) => {
    const name: string | null = client.name;
    if (name === "typed") resolve(n * 2);
  });
});
const client: HiSockClient = await connect(addr, { name: "typed", transport });
client.send("n", 21);
const doubled = await Promise.race([
  got,
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), 10_000)),
]);
if (doubled !== 42) throw new Error(`expected 42, got ${doubled}`);
await client.close();
await server.close();
const error: unknown = new ServerNotRunning("127.0.0.1:1");
if (!(error instanceof HiSockError) || error.code !== "SERVER_NOT_RUNNING") {
  throw new Error("wrong error class or code");
}

/** Mistakes the types must refuse; checked by tsc, never run. */
export function refused(server: HiSockServer, addr: [string, number]): void {
  // @ts-expect-error: an "int" handler gets a number, not a string.
  server.on("n", "int", (_client: ClientInfo, _n: string) => {});
  // @ts-expect-error: there is no "float32" cast type.
  server.on("n", "float32", () => {});
  // @ts-expect-error: a name is a string.
  void connect(addr, { name: 42 });
}

await scenario(hisock, process.argv[2] ?? "typed");
