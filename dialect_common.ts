/**
 * Pieces every dialect shares: the reserved words, byte matching, the hello
 * and client-info JSON, and content written as Python hisock 1.x and 2.x
 * write it.
 *
 * @module
 */

import { type ClientInfo, makeClientInfo } from "./client_info.ts";
import { decodeUtf8, type Sendable } from "./content.ts";
import { ProtocolError, UnsupportedContent } from "./errors.ts";
import type { ClientBoundMessage, Dialect, Hello, ServerBoundMessage } from "./dialect.ts";
import type { FrameWriter, Framing } from "./framing.ts";
import { pyJsonDumps } from "./pyjson.ts";

const encoder = new TextEncoder();

/** The reserved words of the protocol, as bytes. */
export const WORDS = {
  cmd: encoder.encode("$CMD$"),
  msg: encoder.encode("$MSG$"),
  hello: encoder.encode("$CLTHELLO$"),
  join: encoder.encode("$CLTCONN$"),
  leave: encoder.encode("$CLTDISCONN$"),
  rename: encoder.encode("$CHNAME$"),
  regroup: encoder.encode("$CHGROUP$"),
  getClient: encoder.encode("$GETCLT$"),
  keepalive: encoder.encode("$KEEPALIVE$"),
  keepaliveAck: encoder.encode("$KEEPACK$"),
  disconnect: encoder.encode("$DISCONN$"),
  close: encoder.encode("$USRCLOSE$"),
  tlsProbe: encoder.encode("$DH_NUMS$"),
  noTls: encoder.encode("$NOTLS$"),
} as const;

/** `$`, the first byte of every reserved word. */
export const DOLLAR = 0x24;

/**
 * Whether `bytes[offset, end)` starts with `prefix`.
 *
 * @param bytes Where to look.
 * @param prefix What to look for.
 * @param offset Where in `bytes` to start.
 * @param end Where the bytes looked at end (a payload inside a larger buffer).
 */
export function startsWith(
  bytes: Uint8Array,
  prefix: Uint8Array,
  offset = 0,
  end = bytes.length,
): boolean {
  if (end - offset < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[offset + i] !== prefix[i]) return false;
  }
  return true;
}

/**
 * Which presence announcement the payload `bytes[start, end)` is, told by
 * its first word (`$CLTCONN$`, `$CLTDISCONN$`, the same in every dialect),
 * or `undefined`. Nothing after the word is read.
 *
 * @example
 * ```ts
 * import { peekPresence } from "./dialect_common.ts";
 * const payload = new TextEncoder().encode('$CLTCONN${"name": "a"}');
 * console.log(peekPresence(payload, 0, payload.length)); // "join"
 * ```
 *
 * @param bytes Where the payload lies.
 * @param start Index of its first byte.
 * @param end Index after its last byte.
 * @returns `"join"`, `"leave"` or `undefined`.
 */
export function peekPresence(
  bytes: Uint8Array,
  start: number,
  end: number,
): "join" | "leave" | undefined {
  if (bytes[start] !== DOLLAR) return undefined;
  if (startsWith(bytes, WORDS.join, start, end)) return "join";
  if (startsWith(bytes, WORDS.leave, start, end)) return "leave";
  return undefined;
}

/**
 * The payload `bytes[start, end)` as a view of its own (or `bytes` itself
 * when that is all of it).
 *
 * @param bytes Where the payload lies.
 * @param start Index of its first byte.
 * @param end Index after its last byte.
 */
export function payloadOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
}

/**
 * Whether `bytes` is exactly `word`.
 *
 * @param bytes The payload.
 * @param word The reserved word.
 */
export function isWord(bytes: Uint8Array, word: Uint8Array): boolean {
  return bytes.length === word.length && startsWith(bytes, word);
}

/**
 * The index of `needle` in `bytes` at or after `from`, or -1.
 *
 * @param bytes Where to look.
 * @param needle What to look for (non-empty).
 * @param from Where to start.
 */
export function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const size = needle.length;
  const last = bytes.length - size;
  // A plain loop over the first bytes: the needle is usually a few bytes
  // away (a command name), where calling the builtin indexOf costs more.
  const near = last < from + 64 ? last : from + 64;
  let i = from;
  for (; i <= near; i++) {
    if (bytes[i] !== first) continue;
    let k = 1;
    while (k < size && bytes[i + k] === needle[k]) k++;
    if (k === size) return i;
  }
  if (i > last) return -1;
  for (i = bytes.indexOf(first, i); i !== -1 && i <= last; i = bytes.indexOf(first, i + 1)) {
    if (startsWith(bytes, needle, i)) return i;
  }
  return -1;
}

/**
 * Decodes UTF-8 that the protocol requires to be text.
 *
 * @param bytes The bytes.
 * @param what What they are, for the error.
 * @throws {ProtocolError} On invalid UTF-8.
 */
export function protocolText(bytes: Uint8Array, what: string): string {
  try {
    return decodeUtf8(bytes);
  } catch (cause) {
    throw new ProtocolError(`${what} is not valid UTF-8`, { cause });
  }
}

/** How many recent command heads {@linkcode CommandHeads} remembers. */
const HEAD_CACHE_SIZE = 8;
/** Names longer than this are not remembered. */
const HEAD_CACHE_MAX_NAME = 64;

/**
 * Puts a key and its value first in two parallel most-recent-first lists,
 * dropping the oldest pair once they hold {@linkcode HEAD_CACHE_SIZE}.
 */
function rememberFirst<K, V>(keys: K[], values: V[], key: K, value: V): void {
  if (keys.length === HEAD_CACHE_SIZE) {
    keys.pop();
    values.pop();
  }
  keys.unshift(key);
  values.unshift(value);
}

/**
 * Reads the head of a command payload, `$CMD$name$MSG$`: the command's name
 * and where its content starts. The few commands a program uses arrive
 * again and again, so the heads of the last {@linkcode HEAD_CACHE_SIZE} are
 * remembered and matched byte for byte: one comparison instead of a search
 * for `$MSG$`, a UTF-8 decode and a new string per message.
 *
 * A remembered head is a correct reading of any payload that starts with
 * it: its name came from a payload whose first `$MSG$` followed it, so no
 * `$MSG$` can begin earlier in another payload with the same bytes.
 *
 * @example
 * ```ts
 * import { CommandHeads } from "./dialect_common.ts";
 * const heads = new CommandHeads();
 * heads.read(new TextEncoder().encode("$CMD$greet$MSG$hi"));
 * console.log(heads.command, heads.contentAt); // "greet" 15
 * ```
 */
export class CommandHeads {
  /** The name read last. */
  command = "";
  /**
   * Where the content of the payload read last starts, counted from the
   * payload's first byte; -1 without `$MSG$`.
   */
  contentAt = -1;
  /** Recent heads, most recent first, and their names. */
  readonly #heads: Uint8Array[] = [];
  readonly #names: string[] = [];

  /**
   * Reads a payload's head into {@linkcode CommandHeads.command} and
   * {@linkcode CommandHeads.contentAt}. Without `$MSG$` the whole rest is
   * the name and there is no content, as Python reads it.
   *
   * @param bytes Where the payload lies; it starts with `$CMD$`.
   * @param start Index of its first byte.
   * @param end Index after its last byte.
   * @throws {ProtocolError} When the name is not valid UTF-8.
   */
  read(bytes: Uint8Array, start = 0, end: number = bytes.length): void {
    if (!this.match(bytes, start, end)) this.learn(bytes, start, end);
  }

  /**
   * Reads a payload's head the long way, as {@linkcode CommandHeads.read}
   * does for one not remembered, and remembers it: for a caller that has
   * just seen {@linkcode CommandHeads.match} miss.
   *
   * @param bytes Where the payload lies; it starts with `$CMD$`.
   * @param start Index of its first byte.
   * @param end Index after its last byte.
   * @throws {ProtocolError} When the name is not valid UTF-8.
   */
  learn(bytes: Uint8Array, start = 0, end: number = bytes.length): void {
    const from = WORDS.cmd.length;
    const payload = payloadOf(bytes, start, end);
    const msgAt = indexOf(payload, WORDS.msg, from);
    const nameEnd = msgAt === -1 ? payload.length : msgAt;
    const command = protocolText(payload.subarray(from, nameEnd), "a command name");
    this.command = command;
    this.contentAt = msgAt === -1 ? -1 : msgAt + WORDS.msg.length;
    if (msgAt !== -1 && nameEnd - from <= HEAD_CACHE_MAX_NAME) {
      rememberFirst(this.#heads, this.#names, payload.slice(0, this.contentAt), command);
    }
  }

  /**
   * Reads a payload's head as {@linkcode CommandHeads.read} does, but only
   * when it is one remembered; the payload need not be a command. A match
   * is compared whole, `$CMD$` included, so it also tells that the payload
   * is a command: the common case costs one comparison loop, not two.
   *
   * @param bytes Where the payload lies.
   * @param start Index of its first byte.
   * @param end Index after its last byte.
   * @returns Whether a remembered head matched (and was read).
   */
  match(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
    const heads = this.#heads;
    search: for (let k = 0; k < heads.length; k++) {
      const head = heads[k];
      const size = head.length;
      if (size > end - start) continue;
      for (let i = 0; i < size; i++) {
        if (head[i] !== bytes[start + i]) continue search;
      }
      this.command = this.#names[k];
      this.contentAt = size;
      return true;
    }
    return false;
  }
}

/**
 * The bytes of `$CMD$name$MSG$` for a command to send. The last
 * {@linkcode HEAD_CACHE_SIZE} names sent are remembered with their bytes, so
 * a program that sends the same few commands again and again writes each
 * head with one copy instead of encoding the name every time.
 *
 * @example
 * ```ts
 * import { commandHeadBytes } from "./dialect_common.ts";
 * console.log(new TextDecoder().decode(commandHeadBytes("greet"))); // "$CMD$greet$MSG$"
 * ```
 *
 * @param command The command's name.
 * @returns The head's bytes; the caller must not change them.
 */
export function commandHeadBytes(command: string): Uint8Array {
  for (let k = 0; k < sentNames.length; k++) {
    if (sentNames[k] === command) return sentHeads[k];
  }
  const name = encoder.encode(command);
  const head = new Uint8Array(WORDS.cmd.length + name.length + WORDS.msg.length);
  head.set(WORDS.cmd);
  head.set(name, WORDS.cmd.length);
  head.set(WORDS.msg, WORDS.cmd.length + name.length);
  if (command.length <= HEAD_CACHE_MAX_NAME) {
    rememberFirst(sentNames, sentHeads, command, head);
  }
  return head;
}
/**
 * A whole frame's head for a command whose content is `contentLength` bytes:
 * the framing's header, already filled in for the whole payload, then
 * `$CMD$name$MSG$`. A program that sends the same command with content of
 * the same size again and again (fixed-size records, a ping) then writes
 * each frame as two copies, this head and the content, instead of computing
 * the header and copying the name. A head is made the second time in a row
 * that the same command, size and framing are asked for, so content of
 * varying size costs only the lookup. The last {@linkcode HEAD_CACHE_SIZE}
 * heads made are remembered.
 *
 * @example
 * ```ts
 * import { commandFrameHead } from "./dialect_common.ts";
 * import { Framing } from "./framing.ts";
 * const framing = new Framing();
 * commandFrameHead(framing, "ping", 4); // null: seen once
 * const head = commandFrameHead(framing, "ping", 4)!;
 * console.log(new TextDecoder().decode(head)); // "18              $CMD$ping$MSG$"
 * ```
 *
 * @param framing The framing the frame is for.
 * @param command The command's name.
 * @param contentLength The content's size in bytes.
 * @returns The head (the caller must not change it), or `null` when none is
 *   remembered yet.
 * @throws {MessageTooLarge} When the payload would exceed the limit.
 */
export function commandFrameHead(
  framing: Framing,
  command: string,
  contentLength: number,
): Uint8Array | null {
  const keys = frameHeadKeys;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    if (key.command === command && key.length === contentLength && key.framing === framing) {
      return frameHeads[k];
    }
  }
  const miss = lastFrameHeadMiss;
  if (miss.command !== command || miss.length !== contentLength || miss.framing !== framing) {
    miss.command = command;
    miss.length = contentLength;
    miss.framing = framing;
    return null;
  }
  if (command.length > HEAD_CACHE_MAX_NAME) return null;
  const name = commandHeadBytes(command);
  const head = new Uint8Array(framing.headerLen + name.length);
  framing.writeHeader(head, 0, name.length + contentLength);
  head.set(name, framing.headerLen);
  rememberFirst(keys, frameHeads, { command, length: contentLength, framing }, head);
  return head;
}
/** What {@linkcode commandFrameHead} remembers, most recent first. */
interface FrameHeadKey {
  command: string;
  length: number;
  framing: Framing | null;
}
const frameHeadKeys: FrameHeadKey[] = [];
const frameHeads: Uint8Array[] = [];
/** The last lookup that found nothing: a head is made when it is repeated. */
const lastFrameHeadMiss: FrameHeadKey = { command: "", length: -1, framing: null };

/** The names {@linkcode commandHeadBytes} remembers, most recent first, and their heads. */
const sentNames: string[] = [];
const sentHeads: Uint8Array[] = [];

/** The heads read by every dialect's parsers (one thread reads at a time). */
export const commandHeads: CommandHeads = new CommandHeads();

/**
 * Parses JSON the protocol requires.
 *
 * @param bytes The JSON bytes.
 * @param what What they are, for the error.
 * @throws {ProtocolError} On invalid UTF-8 or JSON.
 */
export function protocolJson(bytes: Uint8Array, what: string): unknown {
  const text = protocolText(bytes, what);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError(`${what} is not valid JSON`, { cause });
  }
}

/**
 * Reads the JSON object of a hello.
 *
 * @param bytes The JSON after `$CLTHELLO$`.
 * @throws {ProtocolError} When it is not an object with string-or-null
 *   `name` and `group`.
 */
export function parseHelloJson(bytes: Uint8Array): Hello {
  const fields = protocolJson(bytes, "the hello");
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
    throw new ProtocolError("the hello is not a JSON object");
  }
  const record = fields as Record<string, unknown>;
  const name = record.name ?? null;
  const group = record.group ?? null;
  if (name !== null && typeof name !== "string") {
    throw new ProtocolError("the hello's name is neither a string nor null");
  }
  if (group !== null && typeof group !== "string") {
    throw new ProtocolError("the hello's group is neither a string nor null");
  }
  return { name, group, fields: record };
}

/**
 * Reads client-info JSON (`{"ip": [host, port], "name": ..., "group": ...}`).
 *
 * @param bytes The JSON.
 * @throws {ProtocolError} When it is not client info.
 */
export function parseClientInfoJson(bytes: Uint8Array): ClientInfo {
  const value = protocolJson(bytes, "client info");
  const info = value as Record<string, unknown> | null;
  const ip = info?.ip;
  if (
    info === null || typeof info !== "object" || !Array.isArray(ip) || ip.length !== 2 ||
    typeof ip[0] !== "string" || !Number.isInteger(ip[1]) ||
    (info.name !== null && typeof info.name !== "string") ||
    (info.group !== null && typeof info.group !== "string")
  ) {
    throw new ProtocolError("malformed client info");
  }
  return makeClientInfo(ip[0], ip[1], info.name as string | null, info.group as string | null);
}

/**
 * Reads a lookup's answer sent as a raw message: client-info JSON, or
 * `{"traceback": ...}` for "no such client".
 *
 * @param bytes The raw message.
 * @returns The info, `null` for no such client, `undefined` when the bytes
 *   are not an answer.
 */
export function parseLegacyClientInfoReply(bytes: Uint8Array): ClientInfo | null | undefined {
  if (bytes[0] !== 0x7b /* { */) return undefined;
  try {
    const value = JSON.parse(decodeUtf8(bytes));
    if (value !== null && typeof value === "object" && "traceback" in value) return null;
    return parseClientInfoJson(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Client info as Python 1.x and 2.x write it (no `ipstr`).
 *
 * @param info The client.
 */
export function clientInfoJson(info: ClientInfo): string {
  return pyJsonDumps({ ip: info.ip, name: info.name, group: info.group });
}

/**
 * Client info as Python hisock 3.0a writes it, with `ipstr` last.
 *
 * @param info The client.
 */
export function clientInfoJsonV3(info: ClientInfo): string {
  return pyJsonDumps({ ip: info.ip, name: info.name, group: info.group, ipstr: info.ipstr });
}

/**
 * Appends content as Python hisock 1.x and 2.x write it: bytes as they are;
 * text, integers and floats as their decimal text in UTF-8; `true` as the
 * single byte 0x00 (Python's `bytes(True)`); `false`, `null` and `undefined`
 * as nothing; arrays and objects as Python-style JSON.
 *
 * @param writer The writer with an open frame.
 * @param content The content.
 * @throws {UnsupportedContent} For content that has no such spelling.
 */
export function writeLegacyContent(writer: FrameWriter, content: Sendable): void {
  switch (typeof content) {
    case "string":
      writer.text(content);
      return;
    case "number":
      if (!Number.isFinite(content)) {
        // Python's str(float) spelling, which its float() reads back.
        writer.text(Number.isNaN(content) ? "nan" : content > 0 ? "inf" : "-inf");
      } else writer.text(String(content));
      return;
    case "bigint":
      writer.text(content.toString());
      return;
    case "boolean":
      if (content) writer.byte(0);
      return;
    case "undefined":
      return;
    case "object":
      if (content === null) return;
      if (content instanceof Uint8Array) {
        writer.bytes(content);
        return;
      }
      rejectMaps(content);
      writer.text(pyJsonDumps(content));
      return;
    default:
      throw new UnsupportedContent(`a ${typeof content} cannot be sent`);
  }
}

/**
 * Appends one whole frame made of a reserved word and an optional text tail.
 *
 * @param writer The writer.
 * @param word The reserved word.
 * @param tail Text after the word.
 */
export function writeWord(writer: FrameWriter, word: Uint8Array, tail?: string): void {
  writer.begin();
  try {
    writer.bytes(word);
    if (tail !== undefined) writer.text(tail);
    writer.end();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/** JSON has no spelling for a `Map` (only v3 carries one): refuse it, nested or not. */
function rejectMaps(value: object, depth = 0): void {
  if (value instanceof Map) {
    throw new UnsupportedContent("a Map can only be sent in dialect v3; use a plain object");
  }
  if (depth > 64) return; // pyJsonDumps reports cycles itself
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (item !== null && typeof item === "object" && !(item instanceof Uint8Array)) {
      rejectMaps(item, depth + 1);
    }
  }
}

/**
 * The writers Python hisock 2.x and 3.0a spell alike, given how each writes
 * client info: raw content, presence, lookup answers, heartbeats, leaving,
 * renames (an empty value keeps the current one: neither can clear a name)
 * and lookups. v1 takes them too and overrides the ones it spells with a
 * space after the word.
 *
 * @param infoJson How the dialect writes client info.
 * @returns The writers, to spread into a dialect.
 */
export function sharedWriters(
  infoJson: (info: ClientInfo) => string,
): Pick<
  Dialect,
  | "writeRaw"
  | "writeJoin"
  | "writeLeave"
  | "writeClientInfo"
  | "writeKeepalive"
  | "writeKeepaliveAck"
  | "writeDisconnect"
  | "writeClose"
  | "writeRename"
  | "writeRegroup"
  | "writeGetClient"
> {
  return {
    writeRaw(writer: FrameWriter, content: Sendable): void {
      writer.begin();
      try {
        writeLegacyContent(writer, content);
        writer.end();
      } catch (error) {
        writer.abort();
        throw error;
      }
    },
    writeJoin: (writer, info) => writeWord(writer, WORDS.join, infoJson(info)),
    writeLeave: (writer, info) => writeWord(writer, WORDS.leave, infoJson(info)),
    writeClientInfo: (writer, info) =>
      writeWord(writer, NO_WORD, info ? infoJson(info) : '{"traceback": "$NOEXIST$"}'),
    writeKeepalive: (writer) => writeWord(writer, WORDS.keepalive),
    writeKeepaliveAck: (writer) => writeWord(writer, WORDS.keepaliveAck),
    writeDisconnect: (writer) => writeWord(writer, WORDS.disconnect),
    writeClose: (writer) => writeWord(writer, WORDS.close),
    writeRename: (writer, name) => writeWord(writer, WORDS.rename, name ?? ""),
    writeRegroup: (writer, group) => writeWord(writer, WORDS.regroup, group ?? ""),
    writeGetClient: (writer, ref) => writeWord(writer, WORDS.getClient, ref),
  };
}

/** A lookup answer has no word before its JSON. */
const NO_WORD = new Uint8Array(0);

/**
 * Reads the reserved words a client sends as Python hisock 2.x and 3.0a
 * spell them (no space after the word; an empty rename keeps the current
 * value), and refuses the `serverOnly` words a client may not send: one
 * that does is trying to fool the server or is broken.
 *
 * @param payload A frame from a client that starts with `$`.
 * @param serverOnly The words only the server of this dialect sends.
 * @returns The message, or `undefined` when the payload is no such word.
 * @throws {ProtocolError} On a server-only word or invalid UTF-8.
 */
export function parseClientWord(
  payload: Uint8Array,
  serverOnly: readonly Uint8Array[],
): ServerBoundMessage | undefined {
  if (startsWith(payload, WORDS.close)) return { kind: "close" };
  if (startsWith(payload, WORDS.rename)) {
    return { kind: "rename", value: keepIfEmpty(payload, WORDS.rename) };
  }
  if (startsWith(payload, WORDS.regroup)) {
    return { kind: "regroup", value: keepIfEmpty(payload, WORDS.regroup) };
  }
  if (startsWith(payload, WORDS.keepaliveAck)) return { kind: "keepalive_ack" };
  if (startsWith(payload, WORDS.getClient)) {
    const ref = protocolText(payload.subarray(WORDS.getClient.length), "a $GETCLT$ reference");
    return { kind: "get_client", ref };
  }
  for (const word of serverOnly) {
    if (startsWith(payload, word)) {
      throw new ProtocolError(`a client may not send ${decodeUtf8(word)}`);
    }
  }
  return undefined;
}

/** The new value of a rename, `undefined` (keep the current one) when empty. */
function keepIfEmpty(payload: Uint8Array, word: Uint8Array): string | undefined {
  const value = protocolText(payload.subarray(word.length), "a new name or group");
  return value === "" ? undefined : value;
}

/**
 * Reads the reserved words a server sends as Python hisock 2.x and 3.0a
 * spell them: heartbeat, disconnect and presence.
 *
 * @param payload A frame from the server.
 * @returns The message, or `undefined` when the payload is no such word.
 * @throws {ProtocolError} On malformed client info.
 */
export function parseServerWord(payload: Uint8Array): ClientBoundMessage | undefined {
  if (isWord(payload, WORDS.keepalive)) return { kind: "keepalive" };
  if (isWord(payload, WORDS.disconnect)) return { kind: "disconnect" };
  if (startsWith(payload, WORDS.join)) {
    return { kind: "join", info: parseClientInfoJson(payload.subarray(WORDS.join.length)) };
  }
  if (startsWith(payload, WORDS.leave)) {
    return { kind: "leave", info: parseClientInfoJson(payload.subarray(WORDS.leave.length)) };
  }
  return undefined;
}
