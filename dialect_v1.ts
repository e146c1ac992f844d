/**
 * Dialect v1: what Python hisock 0.1 – 1.2 speaks.
 *
 * - hello: `$CLTHELLO$ ` (with a space) + `{"name": ..., "group": ...}`
 * - command: `command + " " + content`; the command is the whole first word
 *   (Python 1.x matched by prefix, so `go` also fired for `good`: not copied)
 * - raw: any payload at all; a received payload is read as a command by its
 *   first word, and a client treats it as raw when nothing handles that command
 * - presence: `$CLTCONN$ ` / `$CLTDISCONN$ ` + client-info JSON, to the
 *   other clients only
 * - `$CHNAME$ ` / `$CHGROUP$ ` + value; an empty value, or the bare word, resets
 *   to `null`; `$GETCLT$ ` + name or `host:port`, answered with the client-info
 *   JSON as a raw message (or `{"traceback": ...}`)
 * - `$DH_NUMS$` (a TLS stub) is answered with `$NOTLS$`
 * - `$DISCONN$`, `$USRCLOSE$`; no keepalive in 1.x, but `$KEEPALIVE$` is
 *   answered anyway
 *
 * @module
 */

import type { ClientInfo } from "./client_info.ts";
import { castBytes, contentBytes, decodeUtf8, type Sendable } from "./content.ts";
import {
  clientInfoJson,
  isWord,
  parseClientInfoJson,
  parseHelloJson,
  parseLegacyClientInfoReply,
  payloadOf,
  peekPresence,
  protocolText,
  sharedWriters,
  startsWith,
  WORDS,
  writeLegacyContent,
  writeWord,
} from "./dialect_common.ts";
import type { ClientBoundMessage, Dialect, Hello, ServerBoundMessage } from "./dialect.ts";
import { ProtocolError } from "./errors.ts";
import type { FrameWriter } from "./framing.ts";
import { pyJsonDumps } from "./pyjson.ts";

const EMPTY = new Uint8Array(0);
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;

/**
 * The v1 codec.
 *
 * @example Parsing a captured Python 1.2 frame
 * ```ts
 * import { v1 } from "./dialect_v1.ts";
 * const message = v1.parseServerBound(new TextEncoder().encode("greet world"));
 * console.log(message); // { kind: "command", command: "greet", content: Uint8Array(5) }
 * ```
 */
export const v1: Dialect = {
  name: "v1",
  announceJoinToSelf: false,
  peekPresence,
  keepaliveByDefault: false,
  // hisock 1.2's change_name(None) / change_group(None) forget the header.
  unframedToServer: { words: [WORDS.rename, WORDS.regroup], jsonObjects: false },

  parseHello(payload: Uint8Array): Hello {
    if (!startsWith(payload, WORDS.hello)) throw new ProtocolError("expected a $CLTHELLO$");
    // JSON allows the leading space, so v2/v3 hellos (without it) are read too.
    return parseHelloJson(payload.subarray(WORDS.hello.length));
  },

  parseServerBound(bytes: Uint8Array, start = 0, end = bytes.length): ServerBoundMessage {
    const payload = payloadOf(bytes, start, end);
    if (isWord(payload, WORDS.close)) return { kind: "close" };
    if (isWord(payload, WORDS.tlsProbe)) return { kind: "tls_probe" };
    if (startsWith(payload, WORDS.rename)) {
      return { kind: "rename", value: renameValue(payload, WORDS.rename) };
    }
    if (startsWith(payload, WORDS.regroup)) {
      return { kind: "regroup", value: renameValue(payload, WORDS.regroup) };
    }
    if (startsWith(payload, WORDS.getClient)) {
      const ref = protocolText(afterWord(payload, WORDS.getClient), "a $GETCLT$ reference");
      return { kind: "get_client", ref };
    }
    if (isWord(payload, WORDS.keepaliveAck)) return { kind: "keepalive_ack" };
    for (const word of [WORDS.hello, WORDS.join, WORDS.leave, WORDS.keepalive, WORDS.disconnect]) {
      if (startsWith(payload, word)) {
        throw new ProtocolError(`a client may not send ${decodeUtf8(word)}`);
      }
    }
    return parseCommand(payload) ?? { kind: "raw", content: payload };
  },

  parseClientBound(bytes: Uint8Array, start = 0, end = bytes.length): ClientBoundMessage {
    const payload = payloadOf(bytes, start, end);
    if (isWord(payload, WORDS.disconnect)) return { kind: "disconnect" };
    if (isWord(payload, WORDS.keepalive)) return { kind: "keepalive" };
    if (startsWith(payload, WORDS.join)) {
      return { kind: "join", info: parseClientInfoJson(afterWord(payload, WORDS.join)) };
    }
    if (startsWith(payload, WORDS.leave)) {
      return { kind: "leave", info: parseClientInfoJson(afterWord(payload, WORDS.leave)) };
    }
    // A lookup's answer (JSON) and the TLS stub's answer are raw messages.
    if (payload[0] === OPEN_BRACE || isWord(payload, WORDS.noTls)) {
      return { kind: "raw", content: payload };
    }
    const command = parseCommand(payload);
    return command ? { ...command, payload } : { kind: "raw", content: payload };
  },

  parseClientInfoReply(content: unknown): ClientInfo | null | undefined {
    const bytes = content as Uint8Array;
    const reply = parseLegacyClientInfoReply(bytes);
    if (reply !== undefined) return reply;
    // 1.2 answers an invalid address with `{"traceback": "..."` (no closing brace).
    return startsWith(bytes, TRACEBACK) ? null : undefined;
  },

  cast: (content, type, owned) => castBytes(contentBytes(content), type, owned),

  writeHello(writer, name, group, extra) {
    writeWord(writer, WORDS.hello, " " + pyJsonDumps({ name, group, ...extra }));
  },
  writeCommand(writer: FrameWriter, command: string, content: Sendable): void {
    if (command.includes(" ")) {
      throw new RangeError("a v1 command cannot contain a space: the first space ends it");
    }
    writer.begin();
    try {
      writer.text(command);
      writer.byte(SPACE);
      writeLegacyContent(writer, content);
      writer.end();
    } catch (error) {
      writer.abort();
      throw error;
    }
  },
  ...sharedWriters(clientInfoJson),
  // v1 puts a space after these words.
  writeJoin: (writer, info) => writeWord(writer, WORDS.join, " " + clientInfoJson(info)),
  writeLeave: (writer, info) => writeWord(writer, WORDS.leave, " " + clientInfoJson(info)),
  // The bare word (framed) is how a 1.2 server is told to reset to None.
  writeRename: (writer, name) => writeWord(writer, WORDS.rename, name === null ? "" : " " + name),
  writeRegroup: (writer, group) =>
    writeWord(writer, WORDS.regroup, group === null ? "" : " " + group),
  writeGetClient: (writer, ref) => writeWord(writer, WORDS.getClient, " " + ref),
  writeTlsRefusal: (writer) => writeWord(writer, WORDS.noTls),
};

const TRACEBACK = new TextEncoder().encode('{"traceback": ');

/** The bytes after `word` and one optional space. */
function afterWord(payload: Uint8Array, word: Uint8Array): Uint8Array {
  const start = payload[word.length] === SPACE ? word.length + 1 : word.length;
  return payload.subarray(start);
}

/**
 * `$CHNAME$ alicia`. The bare word and an empty value both reset to `null`;
 * a value without the space (as v2 writes it) is read as the value.
 */
function renameValue(payload: Uint8Array, word: Uint8Array): string | null {
  const value = protocolText(afterWord(payload, word), "a new name or group");
  return value === "" ? null : value;
}

/**
 * `command content`: the command is everything up to the first space (all of
 * the payload when there is none), the content everything after it.
 * `undefined` when the command is not text.
 */
function parseCommand(
  payload: Uint8Array,
): { kind: "command"; command: string; content: Uint8Array } | undefined {
  const space = payload.indexOf(SPACE);
  const end = space === -1 ? payload.length : space;
  let command: string;
  try {
    command = decodeUtf8(payload.subarray(0, end));
  } catch {
    return undefined;
  }
  const content = space === -1 ? EMPTY : payload.subarray(space + 1);
  return { kind: "command", command, content };
}
