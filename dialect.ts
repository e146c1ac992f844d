/**
 * The codec seam: what a hisock dialect must do to turn payloads into events
 * and events into payloads. The server and client talk only to a
 * {@linkcode Dialect}; v1, v2 and v3 each implement it in a file of its own.
 *
 * @module
 */

import type { ClientInfo } from "./client_info.ts";
import { BytesRange, type CastResult, type CastType, type Sendable } from "./content.ts";
import type { FrameWriter, UnframedRule } from "./framing.ts";

/** The dialects of Python hisock: v1 (1.x), v2 (2.0.x, on PyPI) and v3 (3.0a). */
export type DialectName = "v1" | "v2" | "v3";

/**
 * A client's first message: who it says it is. `fields` holds every key of
 * the hello JSON, including extra ones (an authentication token, say) that
 * Python peers ignore.
 */
export interface Hello {
  /** The name the client asks for, or `null`. */
  name: string | null;
  /** The group the client asks for, or `null`. */
  group: string | null;
  /** Every key of the hello as sent. */
  fields: Record<string, unknown>;
}

/**
 * A message from a client to the server, after the hello. `content` is the
 * dialect's own form of a payload (bytes in v1 and v2, a typed value in v3),
 * to be turned into what a handler wants with {@linkcode Dialect.cast}.
 *
 * For `rename` and `regroup`, `value` is the new value, `null` to clear it,
 * or `undefined` to keep the current one (what each dialect does with an
 * empty value differs).
 */
export type ServerBoundMessage =
  | { kind: "command"; command: string; content: unknown }
  | { kind: "raw"; content: unknown }
  | { kind: "rename"; value: string | null | undefined }
  | { kind: "regroup"; value: string | null | undefined }
  | { kind: "get_client"; ref: string }
  | { kind: "keepalive_ack" }
  | { kind: "close" }
  | { kind: "tls_probe" };

/** A message from the server to a client. */
export type ClientBoundMessage =
  | {
    kind: "command";
    command: string;
    content: unknown;
    /**
     * The whole payload, where the dialect cannot tell a command from a raw
     * message (v1): the client treats it as raw when nothing handles the command.
     */
    payload?: Uint8Array;
  }
  | { kind: "raw"; content: unknown }
  | { kind: "join"; info: ClientInfo }
  | { kind: "leave"; info: ClientInfo }
  | { kind: "client_info"; info: ClientInfo | null }
  | { kind: "keepalive" }
  | { kind: "disconnect" };

/**
 * Where {@linkcode Dialect.readCommand} puts a command it read: its name and
 * its content, as a range of the frame's bytes. Its owner reuses it for every
 * message, so it is valid only while that message is being dispatched.
 *
 * @example
 * ```ts
 * import { CommandReading } from "./dialect.ts";
 * import { v2 } from "./dialect_v2.ts";
 * const reading = new CommandReading();
 * const payload = new TextEncoder().encode("$CMD$greet$MSG$hi");
 * if (v2.readCommand!(payload, 0, payload.length, reading)) {
 *   console.log(reading.command, reading.content.start); // "greet" 15
 * }
 * ```
 */
export class CommandReading {
  /** The command's name. */
  command = "";
  /** Where its content lies (empty when it has none). */
  readonly content: BytesRange = new BytesRange();
}

/**
 * One dialect of the hisock protocol. Parsing functions take a payload (a
 * frame without its header) and either return a message or throw a
 * {@linkcode ProtocolError}; writing functions append one whole frame to a
 * {@linkcode FrameWriter} or throw, leaving the writer as it was.
 *
 * `owned` tells whether the payload may be kept after the call (see
 * {@linkcode FrameHandler}); content that refers to it must be copied by
 * {@linkcode Dialect.cast} when it is not owned.
 */
export interface Dialect {
  /** Which dialect this is. */
  readonly name: DialectName;
  /** Whether a joining client is announced to itself as well as to the others. */
  readonly announceJoinToSelf: boolean;
  /** Whether Python peers of this dialect send keepalives unless told not to. */
  readonly keepaliveByDefault: boolean;
  /** Payloads peers of this dialect are known to send without a header. */
  readonly unframed?: UnframedRule;
  /** What a server reads bare from clients; {@linkcode Dialect.unframed} when absent. */
  readonly unframedToServer?: UnframedRule;
  /** What a client reads bare from servers; {@linkcode Dialect.unframed} when absent. */
  readonly unframedToClient?: UnframedRule;

  /** Parses a client's first frame. */
  parseHello(payload: Uint8Array): Hello;
  /**
   * Parses a frame a client sent after its hello: the payload
   * `bytes[start, end)`, all of `bytes` by default (a decoder passes ranges,
   * see {@linkcode FrameHandler}).
   */
  parseServerBound(bytes: Uint8Array, start?: number, end?: number): ServerBoundMessage;
  /** Parses a frame the server sent: the payload `bytes[start, end)`, as above. */
  parseClientBound(bytes: Uint8Array, start?: number, end?: number): ClientBoundMessage;
  /**
   * Optional: reads a command, either direction, in place and without
   * allocating, for the bulk of the traffic. When the payload
   * `bytes[start, end)` is a command with bytes content, fills `into` and
   * returns true; otherwise returns false, and the payload is parsed by
   * {@linkcode Dialect.parseServerBound} or {@linkcode Dialect.parseClientBound}.
   */
  readCommand?(bytes: Uint8Array, start: number, end: number, into: CommandReading): boolean;
  /**
   * Optional: whether the payload `bytes[start, end)` is a presence
   * announcement (`"join"`, `"leave"`), told by its first word alone,
   * without parsing it: a client with no handler for it skips it unread.
   */
  peekPresence?(bytes: Uint8Array, start: number, end: number): "join" | "leave" | undefined;
  /**
   * Where a lookup's answer comes as an untagged raw message (v1, v2): reads
   * raw content as that answer: client info, `null` for "no such client",
   * or `undefined` when it is not an answer at all.
   */
  parseClientInfoReply?(content: unknown): ClientInfo | null | undefined;
  /** Turns content from a parsed message into the declared type. */
  cast<T extends CastType>(content: unknown, type: T, owned: boolean): CastResult[T];

  /** The client's hello; `extra` keys are added to the JSON after name and group. */
  writeHello(
    writer: FrameWriter,
    name: string | null,
    group: string | null,
    extra?: Record<string, unknown>,
  ): void;
  /** A command with content, either direction. */
  writeCommand(writer: FrameWriter, command: string, content: Sendable): void;
  /** A message without a command, either direction. */
  writeRaw(writer: FrameWriter, content: Sendable): void;
  /** The announcement that a client joined. */
  writeJoin(writer: FrameWriter, info: ClientInfo): void;
  /** The announcement that a client left. */
  writeLeave(writer: FrameWriter, info: ClientInfo): void;
  /** The answer to a client's lookup: the info, or `null` for nobody. */
  writeClientInfo(writer: FrameWriter, info: ClientInfo | null): void;
  /** The server's heartbeat. */
  writeKeepalive(writer: FrameWriter): void;
  /** The client's answer to a heartbeat. */
  writeKeepaliveAck(writer: FrameWriter): void;
  /** The server's notice that it drops this client. */
  writeDisconnect(writer: FrameWriter): void;
  /** The client's notice that it leaves. */
  writeClose(writer: FrameWriter): void;
  /** A client's rename; `null` asks to clear the name where the dialect can. */
  writeRename(writer: FrameWriter, name: string | null): void;
  /** A client's regroup; `null` asks to clear the group where the dialect can. */
  writeRegroup(writer: FrameWriter, group: string | null): void;
  /** A client's lookup of another client by name or `"host:port"`. */
  writeGetClient(writer: FrameWriter, ref: string): void;
  /** The server's answer to a `tls_probe` (v1: `$NOTLS$`); absent where there is none. */
  writeTlsRefusal?(writer: FrameWriter): void;
}

/**
 * Encodes one command, for the sends that take their frames as a callback
 * (a send near the queue cap, a broadcast). Made here rather than as an
 * arrow inside the send methods: a function that closes over its parameters
 * allocates a context for them on every call, whichever branch runs, until
 * the optimizing compiler removes it, and the sends run once per message.
 *
 * @example
 * ```ts
 * import { commandWriter } from "./dialect.ts";
 * import { resolveDialect } from "./dialects.ts";
 * import { FrameWriter, framingFor } from "./framing.ts";
 * const out = new FrameWriter(framingFor({}));
 * commandWriter(resolveDialect("v2"), "greet", "hi")(out);
 * console.log(out.length > 0); // true
 * ```
 *
 * @param dialect The dialect to encode in.
 * @param command The command.
 * @param content Its content.
 * @returns A function writing the command's frame into the writer it is given.
 */
export function commandWriter(
  dialect: Dialect,
  command: string,
  content: Sendable,
): (out: FrameWriter) => void {
  return (out) => dialect.writeCommand(out, command, content);
}

/**
 * Encodes one message without a command; see {@linkcode commandWriter}.
 *
 * @example
 * ```ts
 * import { rawWriter } from "./dialect.ts";
 * import { resolveDialect } from "./dialects.ts";
 * import { FrameWriter, framingFor } from "./framing.ts";
 * const out = new FrameWriter(framingFor({}));
 * rawWriter(resolveDialect("v2"), new Uint8Array([1, 2]))(out);
 * console.log(out.length > 0); // true
 * ```
 *
 * @param dialect The dialect to encode in.
 * @param content The content.
 * @returns A function writing the message's frame into the writer it is given.
 */
export function rawWriter(dialect: Dialect, content: Sendable): (out: FrameWriter) => void {
  return (out) => dialect.writeRaw(out, content);
}
