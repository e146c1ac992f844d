/**
 * The server's index of connected clients: by address, by name and by group,
 * each a map kept consistent on join, rename, regroup and leave, so every
 * lookup is O(1).
 *
 * @module
 */

import type { ClientInfo } from "./client_info.ts";

/** What the registry stores per client: at least its current info. */
export interface RegistryEntry {
  /** The client's current info; replaced (not mutated) on change. */
  info: ClientInfo;
}

/**
 * Clients indexed three ways. Names need not be unique: a name maps to the
 * set of clients holding it, in the order they took it, and
 * {@linkcode ClientRegistry.byName} returns the one that has held it longest
 * (Python hisock's first match).
 *
 * @example
 * ```ts
 * import { ClientRegistry } from "./registry.ts";
 * import { makeClientInfo } from "./client_info.ts";
 * const registry = new ClientRegistry();
 * registry.add({ info: makeClientInfo("127.0.0.1", 5001, "alice", "red") });
 * console.log(registry.byName("alice")?.info.ipstr); // "127.0.0.1:5001"
 * console.log(registry.group("red")?.length); // 1
 * ```
 */
export class ClientRegistry<E extends RegistryEntry = RegistryEntry> {
  readonly #byAddress = new Map<string, E>();
  /**
   * Names are nearly always unique, so a name maps to its one holder and
   * only a shared name to a set: thousands of clients cost no set each.
   */
  readonly #byName = new Map<string, E | Set<E>>();
  readonly #byGroup = new Map<string, Set<E>>();
  /**
   * Arrays of the entries, all and per group, made when first asked for and
   * dropped when their members change (see {@linkcode ClientRegistry.list}).
   */
  #list: E[] | null = null;
  readonly #groupLists = new Map<string, E[]>();

  /** How many clients are registered. */
  get size(): number {
    return this.#byAddress.size;
  }

  /** Every entry, in join order. */
  entries(): IterableIterator<E> {
    return this.#byAddress.values();
  }

  /**
   * Calls `visit` with every entry, in join order, as the registry is during
   * the walk (an entry removed before its turn is not visited, one added
   * meanwhile is, as a `Map` walks). Neither copies nor iterates: a
   * `for...of` over {@linkcode ClientRegistry.entries} allocates a result
   * object per entry until the optimizing compiler removes it, and a storm
   * of joins, each announced to every client, walked the registry millions
   * of times (W5p, Deno: 4.9 of the 40 MB the server allocated).
   *
   * @param visit Called with each entry.
   */
  forEach(visit: (entry: E) => void): void {
    this.#byAddress.forEach(visit);
  }

  /**
   * Every entry, in join order, as an array that is never changed: a change
   * to the registry makes a new one when next asked for. A broadcast loops
   * over it; an array loops several times faster than a `Map` or `Set`
   * iterator before the JIT has compiled the loop (Node W4: a tenth of the
   * server's send loop went to the `Set` iterator), and a snapshot does not
   * see entries come and go while it is used.
   */
  list(): readonly E[] {
    return this.#list ??= [...this.#byAddress.values()];
  }

  /**
   * The entries in a group, in the order they entered it, as an array that
   * is never changed (see {@linkcode ClientRegistry.list}), or `undefined`
   * when the group has none.
   *
   * @param group The group.
   */
  group(group: string): readonly E[] | undefined {
    let list = this.#groupLists.get(group);
    if (list === undefined) {
      const members = this.#byGroup.get(group);
      if (members === undefined) return undefined;
      this.#groupLists.set(group, list = [...members]);
    }
    return list;
  }

  /** Drops the array of a group whose members changed. */
  #groupChanged(group: string | null): void {
    if (group !== null) this.#groupLists.delete(group);
  }

  /**
   * Adds a client.
   *
   * @param entry The client; its `info.ipstr` must be new.
   */
  add(entry: E): void {
    if (this.#byAddress.has(entry.info.ipstr)) {
      throw new Error(`${entry.info.ipstr} is already registered`);
    }
    this.#byAddress.set(entry.info.ipstr, entry);
    this.#addName(entry.info.name, entry);
    addTo(this.#byGroup, entry.info.group, entry);
    this.#list = null;
    this.#groupChanged(entry.info.group);
  }

  /**
   * Removes a client; nothing happens if it is not registered.
   *
   * @param entry The client.
   * @returns Whether it was registered.
   */
  remove(entry: E): boolean {
    if (this.#byAddress.get(entry.info.ipstr) !== entry) return false;
    this.#byAddress.delete(entry.info.ipstr);
    this.#removeName(entry.info.name, entry);
    removeFrom(this.#byGroup, entry.info.group, entry);
    this.#list = null;
    this.#groupChanged(entry.info.group);
    return true;
  }

  /**
   * Replaces a registered client's info, moving it between name and group
   * indexes as needed. The address must not change.
   *
   * @param entry The client.
   * @param info Its new info.
   */
  update(entry: E, info: ClientInfo): void {
    const old = entry.info;
    if (old.ipstr !== info.ipstr) throw new Error("a client's address cannot change");
    if (old.name !== info.name) {
      this.#removeName(old.name, entry);
      this.#addName(info.name, entry);
    }
    if (old.group !== info.group) {
      removeFrom(this.#byGroup, old.group, entry);
      addTo(this.#byGroup, info.group, entry);
      // Every client is still there, in the same order: `list()` stands.
      this.#groupChanged(old.group);
      this.#groupChanged(info.group);
    }
    entry.info = info;
  }

  /**
   * The client at an address.
   *
   * @param ipstr The address as `"host:port"`.
   */
  byAddress(ipstr: string): E | undefined {
    return this.#byAddress.get(ipstr);
  }

  /**
   * The client that has held a name longest.
   *
   * @param name The name.
   */
  byName(name: string): E | undefined {
    const holders = this.#byName.get(name);
    return holders instanceof Set ? holders.values().next().value : holders;
  }

  /**
   * How many clients hold a name.
   *
   * @param name The name.
   */
  nameCount(name: string): number {
    const holders = this.#byName.get(name);
    return holders === undefined ? 0 : holders instanceof Set ? holders.size : 1;
  }

  #addName(name: string | null, entry: E): void {
    if (name === null) return;
    const holders = this.#byName.get(name);
    if (holders === undefined) this.#byName.set(name, entry);
    else if (holders instanceof Set) holders.add(entry);
    // Insertion order keeps the longest holder first.
    else this.#byName.set(name, new Set([holders, entry]));
  }

  #removeName(name: string | null, entry: E): void {
    if (name === null) return;
    const holders = this.#byName.get(name);
    if (holders === entry) this.#byName.delete(name);
    else if (holders instanceof Set) {
      holders.delete(entry);
      if (holders.size === 1) this.#byName.set(name, holders.values().next().value!);
    }
  }
}

function addTo<E>(index: Map<string, Set<E>>, key: string | null, entry: E): void {
  if (key === null) return;
  let set = index.get(key);
  if (set === undefined) index.set(key, set = new Set());
  set.add(entry);
}

function removeFrom<E>(index: Map<string, Set<E>>, key: string | null, entry: E): void {
  if (key === null) return;
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(entry);
  if (set.size === 0) index.delete(key);
}
