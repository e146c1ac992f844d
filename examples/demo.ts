/**
 * A short tour: a server on a free loopback port, four named clients in two
 * groups, commands, group and broadcast sends, a raw message, a rename, a
 * forced disconnect, then a clean shutdown. Prints what happens and exits.
 *
 * Run: `npx --yes deno@2.9.6 task demo`
 *
 * @module
 */

import { connect, type HiSockClient, startServer } from "../mod.ts";

const log = (who: string, text: string) => console.log(`${who.padEnd(8)} ${text}`);

const server = await startServer(["127.0.0.1", 0]);
const [host, port] = server.getAddr();
log("server", `listening on ${host}:${port}`);

server.on("join", (client) => log("server", `${client.name} joined group ${client.group}`));
server.on("leave", (client) => log("server", `${client.name} left`));
server.on("name_change", (_, oldName, newName) => log("server", `${oldName} is now ${newName}`));
server.on("chat", "str", (client, text) => {
  log("server", `${client.name} says ${JSON.stringify(text)}; relaying to ${client.group}`);
  server.sendGroup(client.group!, "chat", `${client.name}: ${text}`);
});
server.on("add", "json", (client, numbers) => {
  const sum = (numbers as number[]).reduce((a, b) => a + b, 0);
  server.sendClient(client, "sum", sum);
});
server.on("*", (client, command, content) => {
  log(
    "server",
    `unhandled ${command ?? "raw message"} from ${client.name}: ${content.length} bytes`,
  );
});

const received: string[] = [];
async function join(name: string, group: string): Promise<HiSockClient> {
  const client = await connect([host, port], { name, group });
  client.on("chat", "str", (text) => {
    received.push(`${name} <- ${text}`);
    log(name, `got chat ${JSON.stringify(text)}`);
  });
  client.on("sum", "int", (sum) => log(name, `got sum ${sum}`));
  client.on("news", "str", (text) => log(name, `got news ${JSON.stringify(text)}`));
  client.on("force_disconnect", () => log(name, "was disconnected by the server"));
  return client;
}

const alice = await join("alice", "red");
const bob = await join("bob", "red");
const carol = await join("carol", "blue");
const dave = await join("dave", "blue");

await settle();
alice.send("chat", "hello, red team");
carol.send("add", [1, 2, 3, 4]);
dave.rawSend(new Uint8Array([1, 2, 3]));
await settle();

server.sendAllClients("news", "the server says hi to everyone");
const raw = bob.recvRaw();
server.sendClientRaw("bob", "a raw message, no command");
log("bob", `recvRaw() -> ${JSON.stringify(new TextDecoder().decode(await raw))}`);

bob.changeName("robert");
await settle();
log("server", `clients now: ${server.getAllClients("name").join(", ")}`);
log("server", `group red: ${server.getGroup("red").map((c) => c.name).join(", ")}`);

await server.disconnectClient("dave");
await settle();
await carol.close();
await settle();

await server.close();
await Promise.all([alice.closed, bob.closed]);
log("server", `closed; ${received.length} chat deliveries, all done`);

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}
