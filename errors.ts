/**
 * Typed errors of hisock. Every error the library raises or reports on an
 * `error` event is a {@linkcode HiSockError}, so callers can tell ours from
 * theirs with one `instanceof`, and a `code` string for logs and switches.
 *
 * @module
 */

/**
 * The base class of every error hisock raises or reports.
 *
 * @example Telling hisock's errors apart
 * ```ts
 * import { HiSockError, MessageTooLarge } from "./errors.ts";
 * const error: unknown = new MessageTooLarge(10, 5);
 * if (error instanceof HiSockError) console.log(error.code); // "MESSAGE_TOO_LARGE"
 * ```
 */
export class HiSockError extends Error {
  /** A stable machine-readable code, such as `"MALFORMED_HEADER"`. */
  readonly code: string;

  /**
   * Makes an error with a message and a code.
   *
   * @param message What went wrong, for people.
   * @param code What went wrong, for programs.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, code = "HISOCK_ERROR", options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A frame header that is not what the agreed header kind allows (for `ascii`
 * headers: anything but decimal digits followed by spaces).
 *
 * @example
 * ```ts
 * import { MalformedHeader } from "./errors.ts";
 * const error = new MalformedHeader(new TextEncoder().encode("12x             "));
 * console.log(error.message);
 * ```
 */
export class MalformedHeader extends HiSockError {
  /** The header bytes as received. */
  readonly header: Uint8Array;

  /**
   * Makes the error.
   *
   * @param header The offending header bytes (copied).
   * @param reason Why they were refused.
   */
  constructor(header: Uint8Array, reason = "not decimal digits then spaces") {
    super(
      `malformed frame header ${JSON.stringify(latin1(header))}: ${reason}`,
      "MALFORMED_HEADER",
    );
    this.header = header.slice();
  }
}

/**
 * A message longer than the configured `maxMessageSize`, or too long for the
 * header to express. Raised on send before anything is queued, and on receive
 * before any buffer for the payload is allocated.
 *
 * @example
 * ```ts
 * import { MessageTooLarge } from "./errors.ts";
 * const error = new MessageTooLarge(2 ** 30, 16 * 2 ** 20);
 * console.log(error.size, error.limit);
 * ```
 */
export class MessageTooLarge extends HiSockError {
  /** The message's length in bytes. */
  readonly size: number;
  /** The largest length allowed. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param size The message's length in bytes.
   * @param limit The largest length allowed.
   */
  constructor(size: number, limit: number) {
    super(
      `message of ${size} bytes exceeds the limit of ${limit} bytes`,
      "MESSAGE_TOO_LARGE",
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A well-framed payload that breaks the dialect's rules: a hello that is not
 * a hello, bad JSON in a reserved message, invalid UTF-8 in a command name.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * throw new ProtocolError("expected a hello");
 * ```
 */
export class ProtocolError extends HiSockError {
  /**
   * Makes the error.
   *
   * @param message What rule the peer broke.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "PROTOCOL_ERROR", options);
  }
}

/**
 * Content that cannot be cast to the type a handler declared (for example
 * `"int"` for the bytes `abc`). The message is dropped, the connection stays.
 *
 * @example
 * ```ts
 * import { TypeCastError } from "./errors.ts";
 * const error = new TypeCastError("int", "not an integer: abc");
 * console.log(error.castType);
 * ```
 */
export class TypeCastError extends HiSockError {
  /** The declared type the content failed to become. */
  readonly castType: string;

  /**
   * Makes the error.
   *
   * @param castType The declared type.
   * @param detail Why the content did not fit it.
   */
  constructor(castType: string, detail: string) {
    super(`cannot cast content to ${castType}: ${detail}`, "TYPE_CAST");
    this.castType = castType;
  }
}

/**
 * Content the dialect cannot carry (for example a symbol, or a nested `null`
 * in v3), refused on send before anything is queued.
 *
 * @example
 * ```ts
 * import { UnsupportedContent } from "./errors.ts";
 * throw new UnsupportedContent("a function cannot be sent");
 * ```
 */
export class UnsupportedContent extends HiSockError {
  /**
   * Makes the error.
   *
   * @param message What could not be encoded, and why.
   */
  constructor(message: string) {
    super(message, "UNSUPPORTED_CONTENT");
  }
}

/**
 * No connected client matches the given name or address.
 *
 * @example
 * ```ts
 * import { ClientNotFound } from "./errors.ts";
 * const error = new ClientNotFound("alice");
 * console.log(error.client); // "alice"
 * ```
 */
export class ClientNotFound extends HiSockError {
  /** The reference that matched nobody, as text. */
  readonly client: string;

  /**
   * Makes the error.
   *
   * @param client The reference that matched nobody, as text.
   */
  constructor(client: string) {
    super(`client ${client} is not connected`, "CLIENT_NOT_FOUND");
    this.client = client;
  }
}

/**
 * No connected client is in the given group.
 *
 * @example
 * ```ts
 * import { GroupNotFound } from "./errors.ts";
 * console.log(new GroupNotFound("red").group); // "red"
 * ```
 */
export class GroupNotFound extends HiSockError {
  /** The group that has no clients. */
  readonly group: string;

  /**
   * Makes the error.
   *
   * @param group The group that has no clients.
   */
  constructor(group: string) {
    super(`group ${JSON.stringify(group)} has no connected clients`, "GROUP_NOT_FOUND");
    this.group = group;
  }
}

/**
 * The server refused the TCP connection (nothing listens at the address).
 *
 * @example
 * ```ts
 * import { ServerNotRunning } from "./errors.ts";
 * console.log(new ServerNotRunning("127.0.0.1:1").code); // "SERVER_NOT_RUNNING"
 * ```
 */
export class ServerNotRunning extends HiSockError {
  /**
   * Makes the error.
   *
   * @param address The address that refused.
   * @param options Standard error options (`cause`).
   */
  constructor(address: string, options?: ErrorOptions) {
    super(`no hisock server is running at ${address}`, "SERVER_NOT_RUNNING", options);
  }
}

/**
 * An operation on a connection, client or server that is already closed.
 *
 * @example
 * ```ts
 * import { ConnectionClosed } from "./errors.ts";
 * throw new ConnectionClosed("the client is closed");
 * ```
 */
export class ConnectionClosed extends HiSockError {
  /**
   * Makes the error.
   *
   * @param message What was closed.
   * @param options Standard error options (`cause`).
   */
  constructor(message = "the connection is closed", options?: ErrorOptions) {
    super(message, "CONNECTION_CLOSED", options);
  }
}

/**
 * A handler threw or its promise rejected. The original error is the `cause`;
 * the connection and the server keep going.
 *
 * @example
 * ```ts
 * import { HandlerError } from "./errors.ts";
 * const error = new HandlerError("greet", new Error("boom"));
 * console.log(error.event, error.cause);
 * ```
 */
export class HandlerError extends HiSockError {
  /** The event or command whose handler failed. */
  readonly event: string;

  /**
   * Makes the error.
   *
   * @param event The event or command whose handler failed.
   * @param cause What the handler threw.
   */
  constructor(event: string, cause: unknown) {
    super(`handler for ${JSON.stringify(event)} failed: ${String(cause)}`, "HANDLER_ERROR", {
      cause,
    });
    this.event = event;
  }
}

/**
 * A peer that does not read what is sent to it: its queue of outgoing bytes
 * would pass `maxQueuedBytes`, so it was dropped (`slowClientPolicy:
 * "disconnect"`, the default) and its queue freed. Reported on `error`.
 *
 * @example
 * ```ts
 * import { SlowConsumer } from "./errors.ts";
 * const error = new SlowConsumer(70_000_000, 67_108_864);
 * console.log(error.code, error.queued, error.limit); // "SLOW_CONSUMER" ...
 * ```
 */
export class SlowConsumer extends HiSockError {
  /** The bytes that would have been queued. */
  readonly queued: number;
  /** The configured `maxQueuedBytes`. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param queued The bytes that would have been queued.
   * @param limit The configured `maxQueuedBytes`.
   */
  constructor(queued: number, limit: number) {
    super(
      `the peer does not read: ${queued} bytes would be queued, over the limit of ${limit}; dropped`,
      "SLOW_CONSUMER",
    );
    this.queued = queued;
    this.limit = limit;
  }
}

/**
 * A send refused because the recipient's queue of outgoing bytes would pass
 * `maxQueuedBytes` (`slowClientPolicy: "throw"`). Nothing was queued; the
 * connection stays. Thrown by a send to one peer; reported on `error` for
 * each recipient a broadcast skipped.
 *
 * @example
 * ```ts
 * import { QueueFull } from "./errors.ts";
 * const error = new QueueFull(70_000_000, 67_108_864);
 * console.log(error.code); // "QUEUE_FULL"
 * ```
 */
export class QueueFull extends HiSockError {
  /** The bytes that would have been queued. */
  readonly queued: number;
  /** The configured `maxQueuedBytes`. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param queued The bytes that would have been queued.
   * @param limit The configured `maxQueuedBytes`.
   */
  constructor(queued: number, limit: number) {
    super(
      `send refused: ${queued} bytes would be queued, over the limit of ${limit}`,
      "QUEUE_FULL",
    );
    this.queued = queued;
    this.limit = limit;
  }
}

/**
 * A peer that went silent: a client that answered no keepalive in time, or
 * (client side, with `keepalive.deadAfter`) a server that sent nothing for
 * that long. The connection is closed.
 *
 * @example
 * ```ts
 * import { KeepaliveTimeout } from "./errors.ts";
 * console.log(new KeepaliveTimeout(60_000).silentFor); // 60000
 * ```
 */
export class KeepaliveTimeout extends HiSockError {
  /** How long the peer had been silent, in milliseconds. */
  readonly silentFor: number;

  /**
   * Makes the error.
   *
   * @param silentFor How long the peer had been silent, in milliseconds.
   */
  constructor(silentFor: number) {
    super(`the peer has been silent for ${silentFor} ms; dropped`, "KEEPALIVE_TIMEOUT");
    this.silentFor = silentFor;
  }
}

/**
 * A hello the server's `authenticate` hook refused (or that threw, or did
 * not finish within `helloTimeout`). The client was sent `$DISCONN$` and
 * closed.
 *
 * @example
 * ```ts
 * import { AuthenticationFailed } from "./errors.ts";
 * const error = new AuthenticationFailed("bad token", "mallory", ["127.0.0.1", 50000]);
 * console.log(error.reason, error.clientName, error.address);
 * ```
 */
export class AuthenticationFailed extends HiSockError {
  /** Why: the string the hook returned, or a description. */
  readonly reason: string;
  /** The name the client asked for. */
  readonly clientName: string | null;
  /** The client's `[host, port]`. */
  readonly address: readonly [string, number];

  /**
   * Makes the error.
   *
   * @param reason Why the hello was refused.
   * @param clientName The name the client asked for.
   * @param address The client's `[host, port]`.
   * @param options Standard error options (`cause`).
   */
  constructor(
    reason: string,
    clientName: string | null,
    address: readonly [string, number],
    options?: ErrorOptions,
  ) {
    super(
      `authentication of ${address[0]}:${address[1]} failed: ${reason}`,
      "AUTHENTICATION_FAILED",
      options,
    );
    this.reason = reason;
    this.clientName = clientName;
    this.address = address;
  }
}

/** Bytes as a string of code points 0–255, for error messages. */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes.subarray(0, 64)) text += String.fromCharCode(byte);
  return text;
}

/**
 * `error` itself when it is a {@linkcode HiSockError}, otherwise one that
 * says what failed and keeps `error` as its cause (code `INTERNAL`).
 *
 * @example
 * ```ts
 * import { asHiSockError } from "./errors.ts";
 * console.log(asHiSockError(new Error("boom"), "accept failed").message); // "accept failed: Error: boom"
 * ```
 *
 * @param error What was thrown.
 * @param what What failed, for the message.
 * @returns A HiSockError.
 */
export function asHiSockError(error: unknown, what: string): HiSockError {
  return error instanceof HiSockError
    ? error
    : new HiSockError(`${what}: ${String(error)}`, "INTERNAL", { cause: error });
}
