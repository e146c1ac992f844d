/**
 * Handler bookkeeping and dispatch, shared by server and client: which
 * handlers listen to which event or command (each with its declared content
 * type), running them as events arrive or when the loop asks (`run()` /
 * `update()`), and turning their failures into `error` events.
 *
 * @module
 */

import { CAST_TYPES, type CastType } from "./content.ts";
import { asHiSockError, HandlerError, HiSockError } from "./errors.ts";

/** How events reach handlers. */
export type DispatchMode = "immediate" | "manual";

/** The default {@linkcode DispatcherOptions.maxPending}. */
export const DEFAULT_MAX_PENDING_EVENTS = 10_000;

/** Backpressure of manual dispatch. */
export interface DispatcherOptions {
  /**
   * Past this many events queued for {@linkcode Dispatcher.run}, the owner
   * is told to stop reading (`onPressure(true)`) until `run()` has emptied
   * the queue (`onPressure(false)`). Default 10,000.
   */
  maxPending?: number;
  /** Told when to pause (`true`) and resume (`false`) reading. */
  onPressure?: (high: boolean) => void;
}

/** What casts content to a declared type: a dialect. */
export interface ContentCaster {
  /** Turns content from a parsed message into the declared type. */
  cast(content: unknown, type: CastType, owned: boolean): unknown;
}

/** The arguments of an event, at most three. */
export type EventArgs = [] | [unknown] | [unknown, unknown] | [unknown, unknown, unknown];

/** A registered handler and the content type it declared. */
export interface HandlerEntry {
  /** The declared content type; `undefined` for reserved events. */
  readonly type: CastType | undefined;
  // deno-lint-ignore no-explicit-any
  readonly fn: (...args: any[]) => unknown;
  /** The handler's declared parameters (`fn.length`), read once. */
  readonly arity: number;
}

/**
 * Handlers by name, each with its declared content type. The lists are
 * copied on write, so a handler added or removed while an event is being
 * dispatched does not change the list being walked.
 *
 * @example
 * ```ts
 * import { HandlerMap } from "./dispatcher.ts";
 * const handlers = new HandlerMap();
 * handlers.add("greet", "str", (text: string) => console.log(text));
 * console.log(handlers.get("greet").length); // 1
 * ```
 */
export class HandlerMap {
  /** Made by the first add(): many clients register nothing, and each is an object less. */
  #handlers: Map<string, HandlerEntry[]> | null = null;
  /**
   * The name looked up last and its list: a stream of one command, or the
   * `message` event after every command, then costs a comparison (the same
   * string, usually) instead of hashing into the map. Cleared on every change.
   */
  #lastName: string | undefined = undefined;
  #lastList: readonly HandlerEntry[] = EMPTY;

  /**
   * Registers a handler.
   *
   * @param name The event or command.
   * @param type The declared content type, if any.
   * @param fn The handler.
   */
  add(name: string, type: CastType | undefined, fn: HandlerEntry["fn"]): void {
    if (typeof fn !== "function") throw new TypeError(`the handler for ${name} is not a function`);
    const handlers = this.#handlers ??= new Map();
    const list = handlers.get(name);
    const entry = { type, fn, arity: fn.length };
    handlers.set(name, list ? [...list, entry] : [entry]);
    this.#lastName = undefined;
  }

  /**
   * Removes one handler, or every handler of a name.
   *
   * @param name The event or command.
   * @param fn The handler; all of them when omitted.
   */
  remove(name: string, fn?: HandlerEntry["fn"]): void {
    const handlers = this.#handlers;
    const list = handlers?.get(name);
    if (!handlers || !list) return;
    const kept = fn ? list.filter((entry) => entry.fn !== fn) : [];
    if (kept.length) handlers.set(name, kept);
    else handlers.delete(name);
    this.#lastName = undefined;
  }

  /**
   * The handlers of a name (empty when none).
   *
   * @param name The event or command.
   */
  get(name: string): readonly HandlerEntry[] {
    if (name === this.#lastName) return this.#lastList;
    const list = this.#handlers?.get(name) ?? EMPTY;
    this.#lastName = name;
    this.#lastList = list;
    return list;
  }

  /**
   * Whether any handler listens to a name.
   *
   * @param name The event or command.
   */
  has(name: string): boolean {
    return this.#handlers?.has(name) ?? false;
  }
}

/**
 * Runs handlers for a server or client. Reserved events (`join`, `error`,
 * ...) and commands live in separate maps, so a peer cannot trigger an event
 * handler by sending a command of the same name.
 *
 * - `"immediate"` mode (the default): a handler runs as soon as its event is
 *   read, synchronously in the read loop, in arrival order.
 * - `"manual"` mode: events are queued and run when the owner's loop calls
 *   {@linkcode Dispatcher.run} (a game loop handling messages at its tick).
 *
 * In both modes {@linkcode Dispatcher.run} with `blocking` waits until at
 * least one event has been handled (immediate) or queued (manual).
 *
 * @example
 * ```ts
 * import { Dispatcher } from "./dispatcher.ts";
 * const dispatcher = new Dispatcher("manual", (error) => console.error(error));
 * dispatcher.commands.add("greet", "str", (text: string) => console.log(text));
 * for (const handler of dispatcher.commands.get("greet")) {
 *   dispatcher.invoke("greet", handler, undefined, 1, "hello");
 * }
 * await dispatcher.run(false); // prints "hello"
 * ```
 */
export class Dispatcher {
  /** When handlers run. */
  readonly mode: DispatchMode;
  /** Handlers of reserved events. */
  readonly events: HandlerMap = new HandlerMap();
  /** Handlers of commands. */
  readonly commands: HandlerMap = new HandlerMap();
  readonly #onError: (error: HiSockError, context: unknown) => void;
  /** Events waiting for run(), in manual mode. */
  #queue: Array<() => void> = [];
  #waiters: Array<() => void> = [];
  readonly #maxPending: number;
  readonly #onPressure: ((high: boolean) => void) | undefined;
  /** Whether the owner was told to stop reading. */
  #pressed = false;

  /**
   * @param mode When handlers run.
   * @param onError Where handler failures go (the owner's `error` event).
   * @param options Backpressure of manual dispatch.
   */
  constructor(
    mode: DispatchMode,
    onError: (error: HiSockError, context: unknown) => void,
    options: DispatcherOptions = {},
  ) {
    const maxPending = checkDispatchOptions(mode, options.maxPending);
    this.mode = mode;
    this.#onError = onError;
    this.#maxPending = maxPending;
    this.#onPressure = options.onPressure;
  }

  /** Whether the queue passed `maxPending` and reading should be paused. */
  get pressed(): boolean {
    return this.#pressed;
  }

  /**
   * Registers a handler as the owner's `on()` takes it: `(name, handler)` or
   * `(name, type, handler)`. A name in `reserved` is an event, any other a
   * command.
   *
   * @param reserved The owner's reserved event names.
   * @param name The event or command.
   * @param typeOrHandler The declared content type, or the handler.
   * @param maybeHandler The handler, when a type was given.
   * @throws {TypeError} On an unknown content type or a handler that is not a function.
   */
  on(
    reserved: ReadonlySet<string>,
    name: string,
    typeOrHandler: unknown,
    maybeHandler?: unknown,
  ): void {
    const [type, handler] = maybeHandler === undefined
      ? [undefined, typeOrHandler]
      : [checkCastType(typeOrHandler), maybeHandler];
    const map = reserved.has(name) ? this.events : this.commands;
    map.add(name, type, handler as HandlerEntry["fn"]);
  }

  /**
   * Removes a handler as the owner's `off()` takes it.
   *
   * @param reserved The owner's reserved event names.
   * @param name The event or command.
   * @param handler The handler; all of them when omitted.
   */
  off(reserved: ReadonlySet<string>, name: string, handler?: unknown): void {
    const map = reserved.has(name) ? this.events : this.commands;
    map.remove(name, handler as HandlerEntry["fn"] | undefined);
  }

  /**
   * Runs a handler now, or queues it for {@linkcode Dispatcher.run} in manual
   * mode. Failures, thrown or rejected, go to the error callback. The
   * arguments are passed one by one, not in an array: this runs once per
   * message, and neither an array nor a spread call is then free.
   *
   * @param name The event or command, for error reports.
   * @param handler The handler.
   * @param context Passed to the error callback with a failure (the client).
   * @param argc How many of `a`, `b`, `c` the handler is called with.
   * @param a Its first argument.
   * @param b Its second argument.
   * @param c Its third argument.
   */
  invoke(
    name: string,
    handler: HandlerEntry,
    context: unknown,
    argc: 0 | 1 | 2 | 3,
    a?: unknown,
    b?: unknown,
    c?: unknown,
  ): void {
    if (this.mode === "manual") this.#enqueue(name, handler, context, argc, a, b, c);
    else this.#call(name, handler, context, argc, a, b, c);
    if (this.#waiters.length > 0) this.#wake();
  }

  /**
   * Queues a handler's run for {@linkcode Dispatcher.run}. Its own method, as
   * is {@linkcode Dispatcher.#watch}: a function that makes a closure over its
   * parameters allocates a context for them on every call, branch taken or
   * not, until the optimizing compiler proves it unneeded, and invoke runs
   * once per message from the first.
   */
  #enqueue(
    name: string,
    handler: HandlerEntry,
    context: unknown,
    argc: number,
    a: unknown,
    b: unknown,
    c: unknown,
  ): void {
    this.#queue.push(() => this.#call(name, handler, context, argc, a, b, c));
    if (!this.#pressed && this.#queue.length > this.#maxPending) {
      this.#pressed = true;
      this.#onPressure?.(true);
    }
  }

  /**
   * Runs handlers whose last argument is content, in order: `lead` leading
   * arguments (`a`, then `b`), then the content cast to each handler's
   * declared type. A handler that takes no content gets the leading ones
   * only, and nothing is cast for it (see {@linkcode takesContent}). A failed
   * cast goes to the error callback and that handler does not run. The loop
   * is indexed: a for-of iterator was an allocation per message until the
   * optimizing compiler removed it.
   *
   * @param name The command or event, for error reports.
   * @param handlers The handlers.
   * @param context Passed to the error callback with a failure (the client).
   * @param lead How many arguments come before the content.
   * @param a The first leading argument.
   * @param b The second leading argument.
   * @param content The content in the dialect's own form.
   * @param owned Whether the content's bytes may be kept as they are.
   * @param caster The dialect, which casts the content.
   */
  deliver(
    name: string,
    handlers: readonly HandlerEntry[],
    context: unknown,
    lead: 0 | 1 | 2,
    a: unknown,
    b: unknown,
    content: unknown,
    owned: boolean,
    caster: ContentCaster,
  ): void {
    for (let i = 0; i < handlers.length; i++) {
      const handler = handlers[i];
      if (!takesContent(handler, lead + 1)) {
        this.invoke(name, handler, context, lead, a, b);
        continue;
      }
      let value: unknown;
      try {
        value = caster.cast(content, castTypeFor(handler, this), owned);
      } catch (error) {
        this.#onError(asHiSockError(error, "cast failed"), context);
        continue;
      }
      if (lead === 0) this.invoke(name, handler, context, 1, value);
      else if (lead === 1) this.invoke(name, handler, context, 2, a, value);
      else this.invoke(name, handler, context, 3, a, b, value);
    }
  }

  /**
   * Runs the handlers of a reserved event (`join`, `client_connect`, ...)
   * with `args`.
   *
   * @param event The event.
   * @param context Passed to the error callback with a failure (the client).
   * @param args The handlers' arguments.
   */
  emit(event: string, context: unknown, args: EventArgs): void {
    const handlers = this.events.get(event);
    for (let i = 0; i < handlers.length; i++) {
      this.invoke(event, handlers[i], context, args.length, args[0], args[1], args[2]);
    }
  }

  #call(
    name: string,
    handler: HandlerEntry,
    context: unknown,
    argc: number,
    a: unknown,
    b: unknown,
    c: unknown,
  ): void {
    try {
      const fn = handler.fn;
      const result = argc === 2 ? fn(a, b) : argc === 3 ? fn(a, b, c) : argc === 1 ? fn(a) : fn();
      if (result instanceof Promise) this.#watch(result, name, context);
    } catch (cause) {
      this.#onError(
        cause instanceof HiSockError && name === "error" ? cause : new HandlerError(name, cause),
        context,
      );
    }
  }

  /** Reports an async handler's rejection (see {@linkcode Dispatcher.#enqueue} for why apart). */
  #watch(result: Promise<unknown>, name: string, context: unknown): void {
    result.then(undefined, (cause) => this.#onError(new HandlerError(name, cause), context));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Events queued for {@linkcode Dispatcher.run} (manual mode). */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Runs queued events (manual mode). With `blocking`, first waits until an
   * event has been queued (manual) or handled (immediate).
   *
   * @param blocking Whether to wait for an event.
   * @param closed Resolves when the owner closes, ending the wait.
   * @returns How many queued events ran.
   */
  async run(blocking: boolean, closed?: Promise<unknown>): Promise<number> {
    if (blocking && this.#queue.length === 0) {
      const next = new Promise<void>((resolve) => this.#waiters.push(resolve));
      await (closed ? Promise.race([next, closed]) : next);
    }
    const queue = this.#queue;
    this.#queue = [];
    for (const run of queue) run();
    if (this.#pressed && this.#queue.length <= this.#maxPending) {
      this.#pressed = false;
      this.#onPressure?.(false);
    }
    return queue.length;
  }
}

const EMPTY: readonly HandlerEntry[] = Object.freeze([]);

/**
 * Whether a handler is given the content, which is then cast (for bytes that
 * are not the receiver's to keep, copied): when it declared a content type,
 * or when its parameters reach the content's place. As in Python hisock,
 * whose handlers get as many arguments as they declare, a handler written
 * without a content parameter, `(client) => …`, is called without it, and
 * nothing is cast or copied for it. A handler that reads the content through
 * a rest parameter, `arguments` or a parameter with a default (none of which
 * `fn.length` counts) declares a type: `on("cmd", "bytes", (...args) => …)`.
 *
 * @example
 * ```ts
 * import { takesContent } from "./dispatcher.ts";
 * const counter = { type: undefined, fn: () => {}, arity: 0 };
 * console.log(takesContent(counter, 2)); // false
 * ```
 *
 * @param handler The handler.
 * @param position Which argument the content is, counted from 1.
 * @returns Whether to pass the content.
 */
export function takesContent(handler: HandlerEntry, position: number): boolean {
  return handler.type !== undefined || handler.arity >= position;
}

/**
 * Checks the dispatch options of a server or client, without making a
 * dispatcher (a client checks them before it connects).
 *
 * @example
 * ```ts
 * import { checkDispatchOptions } from "./dispatcher.ts";
 * console.log(checkDispatchOptions("manual", undefined)); // 10000
 * ```
 *
 * @param mode When handlers run.
 * @param maxPending The manual queue's size before reading pauses.
 * @returns `maxPending`, or its default.
 * @throws {RangeError} When either is not a valid value.
 */
export function checkDispatchOptions(mode: DispatchMode, maxPending: number | undefined): number {
  if (mode !== "immediate" && mode !== "manual") {
    throw new RangeError(`dispatch must be "immediate" or "manual", not ${String(mode)}`);
  }
  const pending = maxPending ?? DEFAULT_MAX_PENDING_EVENTS;
  if (!Number.isSafeInteger(pending) || pending < 1) {
    throw new RangeError(`maxPendingEvents must be a positive integer, not ${pending}`);
  }
  return pending;
}

/**
 * Checks a declared content type given at run time.
 *
 * @param type The word.
 * @throws {TypeError} When the word is not a content type.
 */
export function checkCastType(type: unknown): CastType {
  if (typeof type !== "string" || !CAST_TYPES.has(type)) {
    throw new TypeError(
      `unknown content type ${String(type)}; use one of ${[...CAST_TYPES].join(", ")}`,
    );
  }
  return type as CastType;
}

/**
 * The type a handler's content is cast to: what it declared (bytes when
 * nothing), except that lent bytes (`"view"`) become a copy when the handler
 * will run later, in manual dispatch, after the buffer has been reused.
 *
 * @param handler The handler.
 * @param dispatcher Its dispatcher.
 * @returns The type to cast to.
 */
export function castTypeFor(handler: HandlerEntry, dispatcher: Dispatcher): CastType {
  const type = handler.type ?? "bytes";
  return type === "view" && dispatcher.mode === "manual" ? "bytes" : type;
}
