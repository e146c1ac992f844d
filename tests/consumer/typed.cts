// The CommonJS side of the types: `require` resolves to cjs/*.d.ts.
import hisock = require("hisock-ts");
import transportNode = require("hisock-ts/transport-node");

const options: hisock.ClientOptions = { name: "cjs", transport: transportNode.nodeTransport };
export async function ping(port: number): Promise<void> {
  const client: hisock.HiSockClient = await hisock.connect(["127.0.0.1", port], options);
  // @ts-expect-error: send takes a command name first.
  client.send(1, "x");
  await client.close();
}
