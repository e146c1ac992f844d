/**
 * hisock for TypeScript: a higher-level socket over TCP, wire-compatible with
 * Python's [hisock](https://github.com/SSS-Says-Snek/hisock). Length-prefixed
 * frames, named commands with handlers, clients with names and groups, sends
 * to one client, a group or everyone, join and leave events, raw messages and
 * typed content.
 *
 * @example A server and a client
 * ```ts
 * import { connect, startServer } from "./mod.ts";
 *
 * const server = await startServer(["127.0.0.1", 0]);
 * server.on("join", (client) => console.log(`${client.name} joined`));
 * server.on("greet", "str", (client, text) => {
 *   server.sendClient(client, "reply", `hello ${client.name}, you said ${text}`);
 * });
 *
 * const client = await connect(server.getAddr(), { name: "alice", group: "red" });
 * const reply = new Promise<string>((resolve) => client.on("reply", "str", resolve));
 * client.send("greet", "hi");
 * console.log(await reply);
 *
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */

export {
  type ClientEventHandlers,
  type ClientKeepaliveOptions,
  type ClientOptions,
  connect,
  HiSockClient,
} from "./client.ts";
export {
  type AuthenticationRequest,
  type CloseOptions,
  DEFAULT_BACKLOG,
  HiSockServer,
  type KeepaliveOptions,
  type ServerEventHandlers,
  type ServerOptions,
  type SlowClientPolicy,
  startServer,
} from "./server.ts";
export type { QueueLimits } from "./connection.ts";
export type { Address } from "./address.ts";
export type { ClientInfo, ClientRef } from "./client_info.ts";
export type { CastResult, CastType, JsonValue, Sendable } from "./content.ts";
export { BytesRange, contentBytes, isTuple, tuple } from "./content.ts";
export type {
  ClientBoundMessage,
  Dialect,
  DialectName,
  Hello,
  ServerBoundMessage,
} from "./dialect.ts";
export { CommandReading } from "./dialect.ts";
export type { DispatchMode } from "./dispatcher.ts";
export {
  AuthenticationFailed,
  ClientNotFound,
  ConnectionClosed,
  GroupNotFound,
  HandlerError,
  HiSockError,
  KeepaliveTimeout,
  MalformedHeader,
  MessageTooLarge,
  ProtocolError,
  QueueFull,
  ServerNotRunning,
  SlowConsumer,
  TypeCastError,
  UnsupportedContent,
} from "./errors.ts";
export {
  DEFAULT_HEADER_LEN,
  DEFAULT_MAX_MESSAGE_SIZE,
  encodeFrame,
  FrameDecoder,
  type FrameHandler,
  FrameWriter,
  Framing,
  type FramingOptions,
  type HeaderKind,
  type UnframedRule,
} from "./framing.ts";
export type {
  ByteSink,
  ClientTlsOptions,
  ConnectOptions,
  ListenOptions,
  NetAddress,
  ServerTlsOptions,
  Transport,
  TransportConn,
  TransportListener,
  WriteListener,
} from "./transport.ts";
