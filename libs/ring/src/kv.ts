// The key-value store the rings live in, in the spirit of dskit's memberlist KV: every value is a CRDT, so
// there is no compare-and-swap conflict to retry — a local `cas` merges the caller's new value into the
// current one, and the gossip layer merges what peers send the same way. Two implementations share one
// core: InMemoryKV (one process: the single binary and unit tests) and MemberlistKV (gossiped).

export interface MergeOptions {
  /**
   * True when `incoming` is a local CAS result: entries present in `current` but missing from `incoming`
   * were deleted by the caller and become tombstones. False for values from peers (a peer's value may be
   * a delta that names only what changed).
   */
  localCAS?: boolean;
  /** Now, ms since the epoch (tombstone timestamps). */
  now?: number;
}

export interface MergeResult<T> {
  value: T;
  /** What `incoming` changed in `current` (a delta to gossip), or undefined when nothing changed. */
  change: T | undefined;
}

/**
 * How one kind of value is stored and merged. `merge` must be commutative, associative and idempotent on
 * `value` (a join-semilattice), and a change must be enough on its own: merge(a, change) = merge(a, b).
 */
export interface Codec<T> {
  /** Travels with every value on the wire; a value with an unknown codec ID is dropped. */
  readonly id: string;
  encode(value: T): Uint8Array;
  /** Throws on malformed input (never returns a half-decoded value). */
  decode(bytes: Uint8Array): T;
  merge(current: T | undefined, incoming: T, opts?: MergeOptions): MergeResult<T>;
  /** Drops tombstones last changed before `limit` (ms since the epoch): garbage collection, not a merge. */
  removeTombstones(value: T, limit: number): T;
  /** Names what a change is about (instance IDs for a ring): a newer broadcast about the same content replaces an older one. */
  mergeContent(value: T): string[];
}

export interface KVClient<T> {
  get(key: string): Promise<T | undefined>;
  /**
   * Reads the current value, calls `f`, and merges what it returns (undefined: leave the value alone).
   * Calls for one key run one at a time. Resolves with the value after the merge.
   */
  cas(key: string, f: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined>;
  /** Calls `listener` with the value after every change to `key`. Returns the unsubscribe function. */
  watchKey(key: string, listener: (value: T | undefined) => void): () => void;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface KVStore {
  /** A client for values of one codec. */
  client<T>(codec: Codec<T>): KVClient<T>;
}

export interface KVEntrySummary {
  key: string;
  codec: string;
  version: number;
  encodedBytes: number;
}

interface Entry {
  codec: Codec<unknown>;
  value: unknown;
  version: number;
}

/** Keys a store holds at most: peers cannot grow it without bound. Rings use a handful. */
export const MAX_KEYS = 10_000;

/** Hook run after a local CAS changed a key (the gossip layer broadcasts `change`). */
export type LocalChangeHook = (key: string, codec: Codec<unknown>, change: unknown) => void;

/** The state both KV implementations share: values, versions, watchers, serialized CAS per key. */
export class KVState {
  private readonly entries = new Map<string, Entry>();
  private readonly watchers = new Map<string, Set<(value: unknown) => void>>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly opts: {
      now: () => number;
      /** Tombstones older than this are dropped after every merge (memberlist.left_ingesters_timeout). 0 keeps them. */
      tombstoneTimeoutMs: number;
      onLocalChange?: LocalChangeHook;
      onError?: (msg: string, err: unknown) => void;
    },
  ) {}

  get(key: string): unknown {
    return this.entries.get(key)?.value;
  }

  entry(key: string): Readonly<Entry> | undefined {
    return this.entries.get(key);
  }

  keys(): string[] {
    return [...this.entries.keys()].sort();
  }

  summaries(): KVEntrySummary[] {
    return this.keys().map((key) => {
      const e = this.entries.get(key)!;
      return { key, codec: e.codec.id, version: e.version, encodedBytes: e.codec.encode(e.value).length };
    });
  }

  cas<T>(key: string, codec: Codec<T>, f: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(async () => {
      const current = this.valueFor(key, codec);
      const out = await f(current);
      if (out === undefined) return current;
      const now = this.opts.now();
      const { value, change } = codec.merge(current, out, { localCAS: true, now });
      if (change === undefined) return current;
      this.store(key, codec, value);
      this.opts.onLocalChange?.(key, codec as Codec<unknown>, change);
      return this.valueFor(key, codec);
    });
    const settled = run.catch(() => undefined);
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return run;
  }

  /** Merges a value from a peer; returns the change it made, or undefined. */
  mergeRemote<T>(key: string, codec: Codec<T>, incoming: T): T | undefined {
    const existing = this.entries.get(key);
    if (!existing && this.entries.size >= MAX_KEYS) {
      this.opts.onError?.('value for a new key dropped: the store is full', new Error(`${MAX_KEYS} keys`));
      return undefined;
    }
    if (existing && existing.codec.id !== codec.id) {
      this.opts.onError?.('value with a different codec than the stored one dropped', new Error(`key ${key}: stored ${existing.codec.id}, got ${codec.id}`));
      return undefined;
    }
    const current = existing?.value as T | undefined;
    const { value, change } = codec.merge(current, incoming, { now: this.opts.now() });
    if (change === undefined) return undefined;
    this.store(key, codec, value);
    return change;
  }

  delete(key: string): void {
    if (!this.entries.delete(key)) return;
    this.notify(key, undefined);
  }

  watch(key: string, listener: (value: unknown) => void): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(key) === set) this.watchers.delete(key);
    };
  }

  /** Runs tombstone expiry on every key now (called periodically: expiry must not wait for a change). */
  sweepTombstones(): void {
    if (this.opts.tombstoneTimeoutMs <= 0) return;
    const limit = this.opts.now() - this.opts.tombstoneTimeoutMs;
    for (const [key, e] of this.entries) {
      const next = e.codec.removeTombstones(e.value, limit);
      if (next !== e.value) this.store(key, e.codec, next, false);
    }
  }

  private valueFor<T>(key: string, codec: Codec<T>): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.codec.id !== codec.id) throw new Error(`key ${key} holds a ${e.codec.id} value, not ${codec.id}`);
    return e.value as T;
  }

  private store<T>(key: string, codec: Codec<T>, value: T, expire = true): void {
    let v = value;
    if (expire && this.opts.tombstoneTimeoutMs > 0) v = codec.removeTombstones(v, this.opts.now() - this.opts.tombstoneTimeoutMs);
    const prev = this.entries.get(key);
    this.entries.set(key, { codec: codec as Codec<unknown>, value: v, version: (prev?.version ?? 0) + 1 });
    this.notify(key, v);
  }

  private notify(key: string, value: unknown): void {
    const set = this.watchers.get(key);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(value);
      } catch (err) {
        this.opts.onError?.('KV watcher failed', err);
      }
    }
  }
}

export function kvClientFor<T>(state: KVState, codec: Codec<T>): KVClient<T> {
  return {
    get: async (key) => {
      const e = state.entry(key);
      if (!e) return undefined;
      if (e.codec.id !== codec.id) throw new Error(`key ${key} holds a ${e.codec.id} value, not ${codec.id}`);
      return e.value as T;
    },
    cas: (key, f) => state.cas(key, codec, f),
    watchKey: (key, listener) => state.watch(key, listener as (v: unknown) => void),
    list: async (prefix) => state.keys().filter((k) => k.startsWith(prefix)),
    delete: async (key) => state.delete(key),
  };
}

export interface InMemoryKVOptions {
  now?: () => number;
  /** Tombstones older than this are dropped (ms); 0 keeps them. Default 5m (memberlist.left_ingesters_timeout). */
  tombstoneTimeoutMs?: number;
}

/** The KV store of one process (kvstore.store: inmemory): what the single binary and unit tests use. */
export class InMemoryKV implements KVStore {
  readonly state: KVState;

  constructor(opts: InMemoryKVOptions = {}) {
    this.state = new KVState({ now: opts.now ?? Date.now, tombstoneTimeoutMs: opts.tombstoneTimeoutMs ?? 5 * 60_000 });
  }

  client<T>(codec: Codec<T>): KVClient<T> {
    return kvClientFor(this.state, codec);
  }
}
