// The in-process handoff of forwarded spans to the generator's thread (`-target=all`): a bounded ring of
// bytes in a SharedArrayBuffer, one writer (the event loop that serves pushes) and one reader (the
// generator's thread). A push is copied into the ring and the writer returns; nothing is posted, nothing
// waits, nothing is shared but the memory and two counters.
//
// Why not a message per push: postMessage serialises the call and takes the receiving port's lock, and the
// reply comes back as a message the event loop must handle. Profiled under the ingest bench
// (bench/results/metrics-generator.md) that was the largest single cost forwarding added to the event
// loop, above the processors' own; and a lock the generator's thread holds when the scheduler preempts it
// can stall the event loop until that thread runs again. The reader polls
// (the generator's thread drains the ring every few milliseconds and before every message it handles), so
// there is no wake-up call either.
//
// Layout: `control` is an Int32Array of two counters, HEAD (bytes ever written) and TAIL (bytes ever
// read), both modulo 2^32; `data` holds records at `counter & (capacity - 1)` (capacity a power of two).
// The writer stores HEAD after the record's bytes, the reader stores TAIL once it has processed the record
// (in place, at its next read): Atomics make each side's bytes visible to the other before the counter
// that covers them.
//
//   record      u32 size (bytes of the whole record, > 0) | u32 trace count | u16 tenant bytes |
//               u32 overrides bytes (0: unchanged since the tenant's last record) | tenant (UTF-8) |
//               overrides (JSON) | per trace: u32 length | pad << 29, pad bytes, bytes, 7 - pad bytes
//   pad         0–7 bytes that put the trace's bytes at the same offset modulo 8 as in the writer's
//               buffer: V8 copies into shared memory a byte at a time (relaxed atomic stores) unless source
//               and destination are equally aligned, then a word at a time, about 4× faster. Each trace
//               takes 4 + 7 + length bytes wherever it lands, so a record's size does not depend on where.
//   wrap        a record never straddles the end: the writer skips to the start, marking the skip with a
//               u32 0 when at least 4 bytes are left (fewer: the reader skips them without a mark)
//
// Overrides travel inside the ring, before the spans they apply to, so a tenant's first record is never
// read with the overrides of nobody.

const HEAD = 0;
const TAIL = 1;
const RECORD_HEADER = 4 + 4 + 2 + 4;
const MAX_TENANT_BYTES = 0xffff;
/** Bytes a trace takes in a record besides its own: its length word and room to align it (see pad). */
const TRACE_OVERHEAD = 4 + 7;
/** A trace's length word: the length in the low 29 bits (a record is at most 2^28 bytes), its pad above. */
const LENGTH_BITS = 29;
const LENGTH_MASK = (1 << LENGTH_BITS) - 1;

export interface SpanRingBuffers {
  readonly control: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

/**
 * One record as the reader gets it, valid until the next read() (which releases its room in the ring to
 * the writer, and reuses the record object): process it before reading again. `data` is the ring's shared
 * memory: what outlives the record must be copied out of it, and TextDecoder does not read it.
 */
export class RingRecord {
  tenant = '';
  /** The tenant's overrides as JSON when they changed since its previous record. */
  overrides: string | undefined = undefined;
  /** Trace i is data[ranges[2i], ranges[2i + 1]): offsets, not a view per trace (an object per trace). */
  data: Uint8Array = new Uint8Array(0);
  ranges = new Int32Array(64);
  count = 0;
  /** Bytes of span data (the traces' lengths added up). */
  bytes = 0;

  /** The traces as views of `data` (new views: for callers off the hot path). */
  traces(): Uint8Array[] {
    return Array.from({ length: this.count }, (_, i) => this.data.subarray(this.ranges[2 * i], this.ranges[2 * i + 1]));
  }
}

/**
 * A new ring of `capacity` bytes (rounded up to a power of two, at least 64 KiB). With `prefault`, every
 * page is touched now: otherwise the first pass of pushes through the ring takes a page fault every 4 KiB
 * on the writer's thread, each a point where a busy machine's scheduler may preempt it.
 */
export function createSpanRing(capacity: number, opts: { prefault?: boolean } = {}): SpanRingBuffers {
  let size = 64 * 1024;
  while (size < capacity && size < 1 << 30) size *= 2;
  const data = new SharedArrayBuffer(size);
  if (opts.prefault) new Uint8Array(data).fill(1).fill(0);
  return { control: new SharedArrayBuffer(8), data };
}

class RingView {
  protected readonly control: Int32Array;
  protected readonly bytes: Uint8Array;
  protected readonly view: DataView;
  protected readonly mask: number;
  readonly capacity: number;

  constructor(b: SpanRingBuffers) {
    this.control = new Int32Array(b.control);
    this.bytes = new Uint8Array(b.data);
    this.view = new DataView(b.data);
    this.capacity = b.data.byteLength;
    this.mask = this.capacity - 1;
  }

  /** Bytes written and not yet read. */
  get used(): number {
    return (Atomics.load(this.control, HEAD) - Atomics.load(this.control, TAIL)) >>> 0;
  }
}

/** The writing side (one per ring, on one thread). */
export class SpanRingWriter extends RingView {
  private readonly encoder = new TextEncoder();
  /** Each tenant's overrides as last written (the reader has them from then on). */
  private readonly sentOverrides = new Map<string, string>();
  private readonly tenantBytes = new Map<string, Uint8Array>();

  /** The largest record the ring takes: a quarter of it, so that records never wait on one another's wrap. */
  get maxRecordBytes(): number {
    return this.capacity / 4;
  }

  /**
   * Copies the traces into the ring, as one record or several when they are larger than a record may be;
   * false when they do not fit (the ring is full, or one trace alone is larger than a record may be):
   * then nothing of them is written.
   *
   * `overridesKey` is a short string that changes when the overrides change; `overridesJson` is called
   * only then.
   */
  write(tenant: string, traces: readonly Uint8Array[], overridesKey: string, overridesJson: () => string): boolean {
    const tenantBytes = this.tenantUtf8(tenant);
    if (tenantBytes === undefined) return false;
    const changed = this.sentOverrides.get(tenant) !== overridesKey;
    const overrides = changed ? this.encoder.encode(overridesJson()) : undefined;
    // Cut the traces into records no larger than maxRecordBytes.
    const fixed = RECORD_HEADER + tenantBytes.length;
    const cuts: Array<{ from: number; to: number; size: number }> = [];
    let from = 0;
    let size = fixed + (overrides?.length ?? 0);
    for (let i = 0; i < traces.length; i++) {
      const add = TRACE_OVERHEAD + traces[i]!.length;
      if (size + add > this.maxRecordBytes) {
        if (i === from) return false;
        cuts.push({ from, to: i, size });
        from = i;
        size = fixed;
        if (size + add > this.maxRecordBytes) return false;
      }
      size += add;
    }
    if (from < traces.length) cuts.push({ from, to: traces.length, size });
    if (cuts.length === 0) return true;
    // All or nothing: check the room for every record, skips at the end of the ring included, first.
    if (!this.fits(cuts)) return false;
    let head = Atomics.load(this.control, HEAD) >>> 0;
    for (const [n, c] of cuts.entries()) {
      head = this.skipToFit(head, c.size);
      let at = head & this.mask;
      const v = this.view;
      v.setUint32(at, c.size, true);
      v.setUint32(at + 4, c.to - c.from, true);
      v.setUint16(at + 8, tenantBytes.length, true);
      const ov = n === 0 ? overrides : undefined;
      v.setUint32(at + 10, ov?.length ?? 0, true);
      at += RECORD_HEADER;
      this.bytes.set(tenantBytes, at);
      at += tenantBytes.length;
      if (ov) {
        this.bytes.set(ov, at);
        at += ov.length;
      }
      for (let i = c.from; i < c.to; i++) {
        const t = traces[i]!;
        // The ring's memory and every ArrayBuffer start 8-byte aligned: equal offsets modulo 8 copy by words.
        const pad = (t.byteOffset - (at + 4)) & 7;
        v.setUint32(at, (t.length | (pad << LENGTH_BITS)) >>> 0, true);
        this.bytes.set(t, at + 4 + pad);
        at += TRACE_OVERHEAD + t.length;
      }
      head = (head + c.size) >>> 0;
    }
    Atomics.store(this.control, HEAD, head | 0);
    if (changed) this.sentOverrides.set(tenant, overridesKey);
    return true;
  }

  /** Whether records of these sizes fit in the free space, skips at the end of the ring included. */
  private fits(records: ReadonlyArray<{ size: number }>): boolean {
    const tail = Atomics.load(this.control, TAIL) >>> 0;
    let head = Atomics.load(this.control, HEAD) >>> 0;
    for (const { size } of records) {
      head = (this.skipTarget(head, size) + size) >>> 0;
      if ((head - tail) >>> 0 > this.capacity) return false;
    }
    return true;
  }

  /** Where a record of `size` bytes starts when the writer is at `head`: there, or at the ring's start. */
  private skipTarget(head: number, size: number): number {
    const at = head & this.mask;
    return at + size <= this.capacity ? head : (head + (this.capacity - at)) >>> 0;
  }

  /** Moves past the end of the ring when the record does not fit before it, leaving the skip mark. */
  private skipToFit(head: number, size: number): number {
    const next = this.skipTarget(head, size);
    if (next !== head) {
      const at = head & this.mask;
      if (this.capacity - at >= 4) this.view.setUint32(at, 0, true);
    }
    return next;
  }

  private tenantUtf8(tenant: string): Uint8Array | undefined {
    let b = this.tenantBytes.get(tenant);
    if (!b) {
      b = this.encoder.encode(tenant);
      if (b.length > MAX_TENANT_BYTES || b.length === 0) return undefined;
      // Tenant IDs are few; the map is a cache, emptied if a flood of IDs ever fills it.
      if (this.tenantBytes.size >= 10_000) this.tenantBytes.clear();
      this.tenantBytes.set(tenant, b);
    }
    return b;
  }
}

/** The reading side (one per ring, on one thread). */
export class SpanRingReader extends RingView {
  private readonly decoder = new TextDecoder();
  /** Where the tenant and overrides bytes are copied to for TextDecoder (which does not read shared memory). */
  private scratch = new Uint8Array(1024);
  /** The last record's tenant, and its bytes (a tenant's records follow one another: decoded once). */
  private lastTenant = '';
  private lastTenantBytes = new Uint8Array(0);
  /** TAIL once the record read() returned last is processed: stored by the next read(). */
  private pendingTail: number | undefined;
  /** The record read() returns, reused. */
  private readonly record = new RingRecord();

  /**
   * The next record, or undefined when the ring is empty. Its traces are read where the writer put them,
   * in the shared memory (not copied out): the writer does not reuse that room until the next read()
   * (which releases it) or until the reader is done.
   */
  read(): RingRecord | undefined {
    if (this.pendingTail !== undefined) {
      Atomics.store(this.control, TAIL, this.pendingTail | 0);
      this.pendingTail = undefined;
    }
    const head = Atomics.load(this.control, HEAD) >>> 0;
    let tail = Atomics.load(this.control, TAIL) >>> 0;
    while (tail !== head) {
      const at = tail & this.mask;
      const left = this.capacity - at;
      if (left < 4 || this.view.getUint32(at, true) === 0) {
        tail = (tail + left) >>> 0;
        continue;
      }
      const v = this.view;
      const size = v.getUint32(at, true);
      const count = v.getUint32(at + 4, true);
      const tenantLength = v.getUint16(at + 8, true);
      const overridesLength = v.getUint32(at + 10, true);
      let p = at + RECORD_HEADER;
      const tenant = this.tenantAt(p, tenantLength);
      p += tenantLength;
      const overrides = overridesLength > 0 ? this.decoder.decode(this.copied(p, overridesLength)) : undefined;
      p += overridesLength;
      const out = this.record;
      if (out.ranges.length < 2 * count) out.ranges = new Int32Array(2 * count);
      let bytes = 0;
      for (let i = 0; i < count; i++) {
        const word = v.getUint32(p, true);
        const n = word & LENGTH_MASK;
        const start = p + 4 + (word >>> LENGTH_BITS);
        out.ranges[2 * i] = start;
        out.ranges[2 * i + 1] = start + n;
        bytes += n;
        p += TRACE_OVERHEAD + n;
      }
      this.pendingTail = (tail + size) >>> 0;
      out.tenant = tenant;
      out.overrides = overrides;
      out.data = this.bytes;
      out.count = count;
      out.bytes = bytes;
      return out;
    }
    Atomics.store(this.control, TAIL, tail | 0);
    return undefined;
  }

  /** The tenant whose UTF-8 bytes are at `p`: the last one when the bytes are the same. */
  private tenantAt(p: number, length: number): string {
    const last = this.lastTenantBytes;
    const b = this.bytes;
    let same = last.length === length;
    for (let i = 0; same && i < length; i++) same = b[p + i] === last[i];
    if (same) return this.lastTenant;
    const copy = this.copied(p, length).slice();
    this.lastTenantBytes = copy;
    this.lastTenant = this.decoder.decode(copy);
    return this.lastTenant;
  }

  /** `length` bytes at `p` of the ring, copied into the scratch buffer (valid until the next call). */
  private copied(p: number, length: number): Uint8Array {
    if (this.scratch.length < length) {
      let n = this.scratch.length;
      while (n < length) n *= 2;
      this.scratch = new Uint8Array(n);
    }
    for (let i = 0; i < length; i++) this.scratch[i] = this.bytes[p + i]!;
    return this.scratch.subarray(0, length);
  }
}
