// Byte-stream helpers shared by the backends.

/** Concatenates a body stream (Node Readable or any async iterable of bytes) into one Buffer. */
export async function collect(body: AsyncIterable<Uint8Array | string>, sizeHint?: number): Promise<Buffer> {
  if (sizeHint !== undefined && sizeHint >= 0) {
    // Known length: one allocation, no concatenation copy.
    const out = Buffer.allocUnsafe(sizeHint);
    let n = 0;
    const extra: Buffer[] = [];
    for await (const c of body) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      const fit = Math.min(b.length, sizeHint - n);
      if (fit > 0) out.set(b.subarray(0, fit), n);
      n += fit;
      if (fit < b.length) extra.push(Buffer.from(b.subarray(fit)));
    }
    return extra.length === 0 ? out.subarray(0, n) : Buffer.concat([out.subarray(0, n), ...extra]);
  }
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat(parts);
}

/** A part of a re-cut stream: `release()` it once sent, so its buffer can carry a later part. */
export interface Part {
  readonly bytes: Uint8Array;
  release(): void;
}

/**
 * Re-cuts a stream into parts of exactly `size` bytes (the last one shorter; none for an empty stream),
 * in at most `buffers` reusable buffers: the producer waits for a released buffer before it fills the
 * next part. Memory is `size × buffers` whatever the stream's length, and reusing the buffers keeps
 * the allocator from growing the heap by a part per part.
 */
export async function* rechunk(data: AsyncIterable<Uint8Array>, size: number, buffers: number): AsyncGenerator<Part> {
  const free: Buffer[] = [];
  let made = 0;
  let waiter: (() => void) | undefined;
  const acquire = async (): Promise<Buffer> => {
    for (;;) {
      const b = free.pop();
      if (b) return b;
      if (made < buffers) {
        made++;
        return Buffer.allocUnsafe(size);
      }
      await new Promise<void>((r) => (waiter = r));
    }
  };
  const part = (buf: Buffer, n: number): Part => {
    let released = false;
    return {
      bytes: buf.subarray(0, n),
      release: () => {
        if (released) return;
        released = true;
        free.push(buf);
        const w = waiter;
        waiter = undefined;
        w?.();
      },
    };
  };
  let buf = await acquire();
  let fill = 0;
  for await (const chunk of data) {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(size - fill, chunk.length - off);
      buf.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield part(buf, fill);
        buf = await acquire();
        fill = 0;
      }
    }
  }
  if (fill > 0) yield part(buf, fill);
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure (after the in-flight ones settle). */
export async function forEachLimited<T>(items: AsyncIterable<T>, limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  const inflight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let i = 0;
  for await (const item of items) {
    if (failure) break;
    const p: Promise<void> = fn(item, i++).then(
      () => {
        inflight.delete(p);
      },
      (err: unknown) => {
        inflight.delete(p);
        failure ??= { err };
      },
    );
    inflight.add(p);
    if (inflight.size >= limit) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure) throw failure.err;
}

/** An in-memory object as parts (views, nothing copied). */
export async function* slices(data: Uint8Array, size: number): AsyncGenerator<Part> {
  for (let off = 0; off < data.length; off += size) yield { bytes: data.subarray(off, Math.min(data.length, off + size)), release: () => undefined };
}

/** `head`, then the rest of an iterator already started; closing it closes the source too. */
export async function* prepend<T>(head: T[], rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    yield* head;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await rest.return?.();
  }
}
