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

/**
 * Re-cuts a stream into parts of exactly `size` bytes (the last one shorter, never empty unless the
 * stream is). Each part is a fresh buffer the caller may keep while later parts are produced, so
 * memory is `size` times the parts held, however long the stream.
 */
export async function* rechunk(data: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let part = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const chunk of data) {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(size - fill, chunk.length - off);
      part.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield part;
        part = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield part.subarray(0, fill);
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

export async function* slices(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, Math.min(data.length, off + size));
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
