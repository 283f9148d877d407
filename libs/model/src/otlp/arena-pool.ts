// Free arenas of the split pool (split-pool.ts), kept for the next requests instead of left to the GC.
//
// Why: every push's arena (~146 KiB for a 200-span collector-shaped request) was a fresh ArrayBuffer on
// the main thread. V8 counts the bytes of young ArrayBuffers and starts a scavenge ("external memory
// pressure") once they pass twice the semi-space, and a mark-compact once all external memory has grown
// by its limit: measured, 93–101 of a collector-shaped run's ~100 scavenges of the main isolate, and 16 of
// its 34 mark-compacts, came from there (bench/results/ingest.md, ingest7 and ingest8). An arena handed
// back here and then moved to a split worker with the next request is detached from the main isolate,
// which takes its bytes off V8's count; one reused in place is not counted again.
//
// Bounded by bytes (capacity) and by size: arenas come in power-of-two sizes from MIN_ARENA_BYTES, so an
// arena fits the next requests of about the same size, and none larger than a quarter of the capacity is
// kept. The caller guarantees that nothing reads an arena given back (no view of it is alive).

/** The smallest arena made: requests of a few spans share this size. */
export const MIN_ARENA_BYTES = 64 * 1024;

/** The size an arena for `bytes` is made with: the next power of two, at least MIN_ARENA_BYTES. */
export function arenaSizeFor(bytes: number): number {
  let size = MIN_ARENA_BYTES;
  while (size < bytes) size *= 2;
  return size;
}

export interface ArenaPoolStats {
  /** Bytes of the arenas kept now. */
  readonly bytes: number;
  /** Arenas taken from the pool. */
  readonly reused: number;
  /** Arenas made because none kept was large enough. */
  readonly made: number;
  /** Arenas given back but not kept (pool full, or larger than a quarter of it). */
  readonly dropped: number;
}

export class ArenaPool {
  /** Free arenas by size (powers of two), most recently given back last. */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private held = 0;
  private reused = 0;
  private made = 0;
  private dropped = 0;

  constructor(private readonly capacityBytes: number) {}

  /** A kept arena of at least `bytes` (the smallest such), or undefined. */
  take(bytes: number): ArrayBuffer | undefined {
    for (let size = arenaSizeFor(bytes); size <= this.capacityBytes; size *= 2) {
      const list = this.free.get(size);
      const buf = list?.pop();
      if (buf) {
        this.held -= buf.byteLength;
        this.reused++;
        return buf;
      }
    }
    return undefined;
  }

  /** A kept arena of at least `bytes`, else a new one of arenaSizeFor(bytes) (uninitialised memory). */
  takeOrMake(bytes: number): ArrayBuffer {
    const kept = this.take(bytes);
    if (kept) return kept;
    this.made++;
    return Buffer.allocUnsafeSlow(arenaSizeFor(bytes)).buffer as ArrayBuffer;
  }

  /** Counts an arena made elsewhere (by a split worker) because none was given to it or large enough. */
  countMade(): void {
    this.made++;
  }

  /** Takes back an arena taken but not written (a split worker found it too small): not a reuse. */
  untake(buf: ArrayBuffer): void {
    this.reused--;
    this.give(buf);
  }

  /** Keeps `buf` for reuse if it is of an arena size and fits; nothing may read it afterwards. */
  give(buf: ArrayBuffer): void {
    const size = buf.byteLength;
    if (size < MIN_ARENA_BYTES || (size & (size - 1)) !== 0 || size * 4 > this.capacityBytes || this.held + size > this.capacityBytes) {
      this.dropped++;
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.held += size;
  }

  stats(): ArenaPoolStats {
    return { bytes: this.held, reused: this.reused, made: this.made, dropped: this.dropped };
  }
}
