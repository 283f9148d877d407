// A single-consumer async queue: the glue between callback code and a Connect stream's async iterable.
// It holds no bound of its own; both users put at most `parallelism` items in it at a time (the frontend
// hands a stream only as many jobs as it has free slots, and a worker answers only the jobs it was given).

export class AsyncChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds an item; throws once the channel is closed (the reader is gone). */
  push(item: T): void {
    if (this.closed) throw new Error('stream closed');
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Ends the iteration once the items already pushed are read. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }

  /** Connect needs a full async generator (with `throw`) for request streams: one over `next()`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        const r = await this.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      this.close();
    }
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }
}
