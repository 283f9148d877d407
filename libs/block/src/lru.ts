// A least-recently-used cache bounded by bytes (the caller says what each entry costs), for the small
// hot objects of blocks: bloom shards and index pages. One instance can be shared by every reader of
// a process (keys carry tenant and block), so the budget is global rather than per block.

export class ByteLru<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private used = 0;
  hits = 0;
  misses = 0;
  /** Entries dropped to stay within the budget (not explicit deletes). */
  evictions = 0;

  constructor(readonly maxBytes: number) {
    if (!(maxBytes >= 0)) throw new RangeError(`cache budget must be >= 0 bytes, got ${maxBytes}`);
  }

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  get(key: string): V | undefined {
    const v = this.peek(key);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  /** Like `get` (the entry becomes the most recently used) without counting a hit or a miss. */
  peek(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    // Re-insert: a Map iterates in insertion order, so the first entry is the least recently used.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Entries larger than the whole budget are not kept. */
  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.used += bytes;
    while (this.used > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evictions++;
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.used -= e.bytes;
  }

  /** Drops every entry whose key starts with `prefix` (e.g. a deleted block's). */
  deletePrefix(prefix: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.delete(k);
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
