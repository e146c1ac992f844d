/**
 * Dialect v2: what Python hisock 2.0 – 2.0.2 (the release on PyPI) speaks.
 *
 * - hello: `$CLTHELLO$` + `{"name": ..., "group": ...}`
 * - command: `$CMD$` + command + `$MSG$` + content, content spelled as
 *   {@linkcode writeLegacyContent} says and cast on receipt
 * - raw: any payload that is not a command nor a reserved word
 * - presence: `$CLTCONN$` / `$CLTDISCONN$` + client-info JSON, to everyone,
 *   the joining client included
 * - `$CHNAME$` / `$CHGROUP$` + value (empty keeps the current one),
 *   `$GETCLT$` + name or `host:port`, answered with the client-info JSON as a
 *   raw message (or `{"traceback": "$NOEXIST$"}`)
 * - `$KEEPALIVE$` / `$KEEPACK$`, `$DISCONN$`, `$USRCLOSE$`
 *
 * @module
 */

import { castBytes, contentBytes, type Sendable } from "./content.ts";
import {
  clientInfoJson,
  commandFrameHead,
  commandHeadBytes,
  commandHeads,
  DOLLAR,
  parseClientWord,
  parseHelloJson,
  parseLegacyClientInfoReply,
  parseServerWord,
  payloadOf,
  peekPresence,
  sharedWriters,
  startsWith,
  WORDS,
  writeLegacyContent,
  writeWord,
} from "./dialect_common.ts";
import {
  type ClientBoundMessage,
  CommandReading,
  type Dialect,
  type Hello,
  type ServerBoundMessage,
} from "./dialect.ts";
import { ProtocolError } from "./errors.ts";
import type { FrameWriter } from "./framing.ts";
import { pyJsonDumps } from "./pyjson.ts";

/**
 * The v2 codec.
 *
 * @example Parsing a captured Python frame
 * ```ts
 * import { v2 } from "./dialect_v2.ts";
 * const message = v2.parseClientBound(new TextEncoder().encode("$CMD$greet$MSG$world"));
 * console.log(message); // { kind: "command", command: "greet", content: Uint8Array(5) }
 * ```
 */
export const v2: Dialect = {
  name: "v2",
  announceJoinToSelf: true,
  peekPresence,
  keepaliveByDefault: true,

  parseHello(payload: Uint8Array): Hello {
    if (!startsWith(payload, WORDS.hello)) throw new ProtocolError("expected a $CLTHELLO$");
    return parseHelloJson(payload.subarray(WORDS.hello.length));
  },

  parseServerBound(bytes: Uint8Array, start = 0, end = bytes.length): ServerBoundMessage {
    // Commands, the bulk of the traffic, are read in place; the rest as a view.
    if (isCommand(bytes, start, end)) return parseCommand(bytes, start, end);
    const payload = payloadOf(bytes, start, end);
    if (payload[0] !== DOLLAR) return { kind: "raw", content: payload };
    return parseClientWord(payload, SERVER_ONLY) ?? { kind: "raw", content: payload };
  },

  parseClientBound(bytes: Uint8Array, start = 0, end = bytes.length): ClientBoundMessage {
    if (isCommand(bytes, start, end)) return parseCommand(bytes, start, end);
    const payload = payloadOf(bytes, start, end);
    if (payload[0] !== DOLLAR) return { kind: "raw", content: payload };
    return parseServerWord(payload) ?? { kind: "raw", content: payload };
  },

  readCommand(bytes: Uint8Array, start: number, end: number, into: CommandReading): boolean {
    // A remembered head is a command's: one comparison answers both.
    if (!commandHeads.match(bytes, start, end)) {
      if (!isCommand(bytes, start, end)) return false;
      commandHeads.learn(bytes, start, end);
    }
    readInto(bytes, start, end, into);
    return true;
  },

  parseClientInfoReply: (content) => parseLegacyClientInfoReply(content as Uint8Array),

  cast: (content, type, owned) => castBytes(contentBytes(content), type, owned),

  writeHello(writer, name, group, extra) {
    writeWord(writer, WORDS.hello, pyJsonDumps({ name, group, ...extra }));
  },
  writeCommand(writer: FrameWriter, command: string, content: Sendable): void {
    if (content instanceof Uint8Array) {
      const head = commandFrameHead(writer.framing, command, content.length);
      if (head !== null) {
        writer.framed(head, content);
        return;
      }
    }
    writer.begin();
    try {
      writer.bytes(commandHeadBytes(command));
      writeLegacyContent(writer, content);
      writer.end();
    } catch (error) {
      writer.abort();
      throw error;
    }
  },
  ...sharedWriters(clientInfoJson),
};

/** Whether the payload `bytes[start, end)` starts with `$CMD$`. */
function isCommand(bytes: Uint8Array, start: number, end: number): boolean {
  return startsWith(bytes, WORDS.cmd, start, end);
}

/**
 * Copies what {@linkcode commandHeads} read last into `into`: for
 * `$CMD$name$MSG$content`, the name and the content's range. Without `$MSG$`
 * the whole rest is the command and there is no content (an empty range), as
 * Python reads it.
 */
function readInto(bytes: Uint8Array, start: number, end: number, into: CommandReading): void {
  into.command = commandHeads.command;
  const at = commandHeads.contentAt;
  into.content.set(bytes, at === -1 ? end : start + at, end);
}

/** A command as a message of its own (a view for its content). */
function parseCommand(
  bytes: Uint8Array,
  start: number,
  end: number,
): { kind: "command"; command: string; content: Uint8Array } {
  commandHeads.read(bytes, start, end);
  readInto(bytes, start, end, parsed);
  return { kind: "command", command: parsed.command, content: contentBytes(parsed.content) };
}
/** Where parseCommand reads (one parse runs at a time). */
const parsed = new CommandReading();

/** Words only a server sends: a client that sends one is refused. */
const SERVER_ONLY = [WORDS.hello, WORDS.join, WORDS.leave, WORDS.keepalive, WORDS.disconnect];
