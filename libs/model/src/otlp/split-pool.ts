// The per-byte work of a push, off the event loop: worker threads split each OTLP request by trace
// (split.ts, validation included) and lay every trace out as a ready WAL record, CRC included, in one
// buffer per request (an "arena"). The main thread only orders, appends and answers: the ingester's WAL
// writes a push whose records are framed in an arena without encoding or checksumming them again, and
// when the records of a push lie back to back in one arena, without copying them (wal.ts, walFrameOf).
//
// Record layout written in front of each trace (the ingester's WAL record, little-endian):
//   u32 payloadLength | u32 crc32(payload) | payload = 16-byte trace ID | u32 startSeconds | u32 endSeconds | trace bytes
//
// Only arenas made here are trusted to carry a correct CRC: they are registered in a WeakMap when they
// arrive from a worker, so no byte layout coming from a client can pass for a framed record.
//
// Adaptive: a split is handed off only while the event loop is busy (DEFAULT_OFFLOAD_ABOVE_ELU); an idle
// loop splits in place, which costs less CPU in all. Either way the records are framed, so the WAL never
// encodes them again.
//
// Arenas are reused (arena-pool.ts): the caller hands a split back with `release` once nothing reads its
// traces any more (the WAL writes and every replica's call have ended), and its arena goes to the next
// split, in place or moved to a worker with the request. An arena is never reused while a view of it may
// be alive: one that is not released is simply left to the GC.
//
// Bounded: at most MAX_QUEUED_BYTES of request bodies wait for the workers; past that a request is split
// on the calling thread (slower, never refused). Without the compiled worker script (unit tests run the
// TypeScript sources) every split runs on the calling thread.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { Code, ConnectError } from '@stave/core';
import { ArenaPool, arenaSizeFor, type ArenaPoolStats } from './arena-pool';
import { splitByTrace, SplitTrace, type SplitResult, type TraceSplit } from './split';

/** Bytes in front of each trace's bytes in an arena: the WAL record header (8) and payload prefix (24). */
export const WAL_FRAME_PREFIX = 32;
/** Per-trace numbers in a worker's answer: data offset, data length, spans, start ns hi/lo, end ns hi/lo. */
const META_STRIDE = 7;
/** Request bodies waiting for (or in) the workers before further requests are split on the calling thread. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Bodies smaller than this are split on the calling thread: the hand-off would cost more than the split. */
const MIN_OFFLOAD_BYTES = 2048;
/** How long `close` waits for splits in the workers before stopping them. */
const CLOSE_WAIT_MS = 5000;
/** How often the event loop's utilization is looked at to decide whether to hand splits off. */
const ELU_WINDOW_MS = 100;
/**
 * Event-loop utilization above which splits go to the workers. A hand-off costs more CPU in all than a
 * split in place (a message each way, a second heap to collect): measured on the collector-shaped bench,
 * +15–25% CPU per span in all threads for −25–30% on the event loop. It pays only when the event loop is
 * what holds pushes up.
 */
const DEFAULT_OFFLOAD_ABOVE_ELU = 0.7;
/**
 * Free arenas kept for reuse (arena-pool.ts). A collector-shaped request's arena is ~146 KiB (kept as
 * 256 KiB); the pushes in flight at once (8 clients, each request's arena held until its WAL write is
 * synced) need ~16–24 of them.
 */
const ARENA_POOL_BYTES = 8 * 1024 * 1024;

// ---- arenas ----

/** Arenas made by split workers, by their ArrayBuffer: only these are trusted to hold framed records. */
const arenas = new WeakMap<ArrayBufferLike, Buffer>();

/** The arena holding `data`, when `data` was cut by a split worker. */
export function frameArena(data: Uint8Array): Buffer | undefined {
  return arenas.get(data.buffer);
}

/**
 * Where the framed WAL record of `data` starts in its arena (frameArena(data)), or -1 when `data` is not
 * framed there with exactly this trace ID and time range (the record would have to be encoded anew).
 */
export function walFrameOf(arena: Buffer, traceID: Uint8Array, startSeconds: number, endSeconds: number, data: Uint8Array): number {
  const off = data.byteOffset - WAL_FRAME_PREFIX;
  if (off < 0 || data.buffer !== arena.buffer) return -1;
  if (arena.readUInt32LE(off) !== WAL_FRAME_PREFIX - 8 + data.length) return -1;
  if (arena.readUInt32LE(off + 24) !== startSeconds >>> 0 || arena.readUInt32LE(off + 28) !== endSeconds >>> 0) return -1;
  if (traceID.buffer !== arena.buffer || traceID.byteOffset !== off + 8) {
    for (let i = 0; i < 16; i++) if (arena[off + 8 + i] !== traceID[i]) return -1;
  }
  return off;
}

/**
 * Frames the trace bytes already at `buf[off + WAL_FRAME_PREFIX, + dataLength)` as one WAL record: writes
 * the header and payload prefix in front of them (length, trace ID, time range), then the CRC. Returns
 * where the record ends. The one writer of the record layout: the split workers and the WAL both use it.
 */
export function frameWalRecord(buf: Buffer, off: number, traceID: Uint8Array, startSeconds: number, endSeconds: number, dataLength: number): number {
  const end = off + WAL_FRAME_PREFIX + dataLength;
  buf.writeUInt32LE(WAL_FRAME_PREFIX - 8 + dataLength, off);
  buf.set(traceID, off + 8);
  buf.writeUInt32LE(startSeconds >>> 0, off + 24);
  buf.writeUInt32LE(endSeconds >>> 0, off + 28);
  buf.writeUInt32LE(crc32(buf.subarray(off + 8, end)), off + 4);
  return end;
}

// ---- the worker side ----

export interface SplitTask {
  readonly seq: number;
  readonly body: Uint8Array;
  /** A free arena to write the records into, when it is large enough (moved to the worker). */
  readonly arena?: ArrayBuffer;
}

export type SplitAnswer =
  | {
      readonly seq: number;
      readonly arena: ArrayBuffer;
      readonly meta: Uint32Array;
      readonly spanCount: number;
      /** The worker made a new arena (none was given, or it was too small). */
      readonly made: boolean;
      /** The task's arena, not used: handed back. */
      readonly spare?: ArrayBuffer;
    }
  | { readonly seq: number; readonly error: string; readonly code: number | undefined; readonly spare?: ArrayBuffer };

/**
 * Splits `body` into framed WAL records in one arena: the one `take` gives for the bytes needed, else a
 * new one of an arena size (arenaSizeFor; `made`).
 */
function splitIntoArena(body: Uint8Array, take: (bytes: number) => ArrayBuffer | undefined): { res: SplitResult; made: boolean } {
  let made = false;
  const output = (bytes: number): Buffer => {
    const kept = take(bytes);
    if (kept) return Buffer.from(kept, 0, kept.byteLength);
    made = true;
    return Buffer.allocUnsafeSlow(arenaSizeFor(bytes));
  };
  const res = splitByTrace(body, { framePrefix: WAL_FRAME_PREFIX, output });
  if (res.traces.length > 0) {
    const first = res.traces[0]!.bytes;
    const arena = Buffer.from(first.buffer, 0, first.buffer.byteLength);
    for (const t of res.traces as SplitTrace[])
      frameWalRecord(arena, t.bytes.byteOffset - WAL_FRAME_PREFIX, t.id, t.startSeconds, t.endSeconds, t.bytes.length);
  }
  return { res, made };
}

/** Splits one request into an arena of framed WAL records (runs in a worker; usable anywhere). */
export function splitFramed(task: SplitTask): { answer: SplitAnswer; transfer: ArrayBuffer[] } {
  const given = task.arena;
  let used = false;
  const take = (bytes: number): ArrayBuffer | undefined => {
    if (given === undefined || given.byteLength < bytes) return undefined;
    used = true;
    return given;
  };
  let split;
  try {
    split = splitIntoArena(task.body, take);
  } catch (err) {
    const code = err instanceof ConnectError ? err.code : undefined;
    const error = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
    return { answer: { seq: task.seq, error, code, spare: given }, transfer: given ? [given] : [] };
  }
  const { res, made } = split;
  const spare = used ? undefined : given;
  const n = res.traces.length;
  const meta = new Uint32Array(n * META_STRIDE);
  const arena = n === 0 ? new ArrayBuffer(0) : (res.traces[0]!.bytes.buffer as ArrayBuffer);
  for (let i = 0; i < n; i++) {
    const t = res.traces[i] as SplitTrace;
    const m = i * META_STRIDE;
    meta[m] = t.bytes.byteOffset;
    meta[m + 1] = t.bytes.length;
    meta[m + 2] = t.spanCount;
    meta[m + 3] = t.startHi;
    meta[m + 4] = t.startLo;
    meta[m + 5] = t.endHi;
    meta[m + 6] = t.endLo;
  }
  const transfer = [arena, meta.buffer];
  if (spare) transfer.push(spare);
  return { answer: { seq: task.seq, arena, meta, spanCount: res.spanCount, made, spare }, transfer };
}

/** Trusts `buf` as an arena of framed records: once per arena, however often it is reused. */
function trustArena(buf: ArrayBuffer): void {
  if (!arenas.has(buf)) arenas.set(buf, Buffer.from(buf));
}

/** A worker's answer as a SplitResult on the receiving thread; its arena is trusted from now on. */
export function framedResult(a: Extract<SplitAnswer, { arena: ArrayBuffer }>): SplitResult {
  trustArena(a.arena);
  const m = a.meta;
  const n = m.length / META_STRIDE;
  const traces = new Array<TraceSplit>(n);
  for (let i = 0, at = 0; i < n; i++, at += META_STRIDE) {
    const off = m[at]!;
    traces[i] = new SplitTrace(
      new Uint8Array(a.arena, off - WAL_FRAME_PREFIX + 8, 16),
      new Uint8Array(a.arena, off, m[at + 1]!),
      m[at + 2]!,
      m[at + 3]!,
      m[at + 4]!,
      m[at + 5]!,
      m[at + 6]!,
    );
  }
  return { traces, spanCount: a.spanCount, traceCount: n };
}

// ---- the pool ----

interface Pending {
  readonly bytes: number;
  readonly worker: Worker;
  readonly resolve: (r: SplitResult) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Splits requests on worker threads (see the top of this file). `split` answers what splitByTrace would,
 * for the same input: the same traces in the same order, the same InvalidArgument errors.
 */
export class SplitPool {
  private readonly workers: Worker[] = [];
  private readonly load = new Map<Worker, number>();
  private readonly pending = new Map<number, Pending>();
  private readonly arenaPool = new ArenaPool(ARENA_POOL_BYTES);
  /** The arena of each split not yet released (splits with traces only). */
  private readonly leases = new WeakMap<SplitResult, ArrayBuffer>();
  private queuedBytes = 0;
  private seq = 0;
  private closed = false;
  private drained: (() => void) | undefined;
  private readonly enabled: boolean;

  /**
   * @param threads worker threads (0: every split on the calling thread).
   * @param script the worker's compiled entry (tests of the sources point it at the build).
   */
  constructor(
    private readonly threads: number,
    private readonly script = path.join(__dirname, 'split-worker.js'),
    /** Event-loop utilization (0–1) above which splits are handed off; 0: always. */
    private readonly offloadAboveElu = DEFAULT_OFFLOAD_ABOVE_ELU,
  ) {
    this.enabled = threads > 0 && existsSync(this.script);
  }

  private eluMark: EventLoopUtilization | undefined;
  private eluAt = 0;
  private busy = false;

  /** Whether the event loop was busy enough over the last window to hand splits off. */
  private eventLoopBusy(): boolean {
    if (this.offloadAboveElu <= 0) return true;
    const now = performance.now();
    if (now - this.eluAt >= ELU_WINDOW_MS) {
      const mark = performance.eventLoopUtilization();
      if (this.eluMark) this.busy = performance.eventLoopUtilization(mark, this.eluMark).utilization > this.offloadAboveElu;
      this.eluMark = mark;
      this.eluAt = now;
    }
    return this.busy;
  }

  /**
   * Splits `body`. With `disposable` (the caller will not read it again) a body that owns its whole
   * ArrayBuffer is moved to the worker, not copied: the caller's view of it becomes empty.
   */
  split(body: Uint8Array, disposable = false): Promise<SplitResult> {
    if (!this.enabled || this.closed || body.length < MIN_OFFLOAD_BYTES || this.queuedBytes + body.length > MAX_QUEUED_BYTES || !this.eventLoopBusy()) {
      return Promise.resolve().then(() => this.splitHere(body));
    }
    const worker = this.pick();
    const seq = ++this.seq;
    const bytes = body.length;
    // Moved when the caller allows and the body is its buffer's only view; else a copy the worker owns.
    const movable = disposable && body.buffer instanceof ArrayBuffer && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    const own = movable ? body : new Uint8Array(body);
    this.queuedBytes += bytes;
    this.load.set(worker, (this.load.get(worker) ?? 0) + 1);
    // A request's records take at least about its own size (each trace's spans, resource and scope).
    const arena = this.arenaPool.take(bytes);
    const transfer = [own.buffer as ArrayBuffer];
    if (arena) transfer.push(arena);
    return new Promise<SplitResult>((resolve, reject) => {
      this.pending.set(seq, { bytes, worker, resolve, reject });
      worker.postMessage({ seq, body: own, arena } satisfies SplitTask, transfer);
    });
  }

  /** Splits on this thread into a kept arena (or a new one), framed as a worker frames it. */
  private splitHere(body: Uint8Array): SplitResult {
    const { res, made } = splitIntoArena(body, (bytes) => this.arenaPool.take(bytes));
    if (made) this.arenaPool.countMade();
    if (res.traces.length > 0) {
      const buf = res.traces[0]!.bytes.buffer as ArrayBuffer;
      trustArena(buf);
      this.leases.set(res, buf);
    }
    return res;
  }

  /**
   * Hands a split's arena back for reuse. Call once nothing reads the split's traces or IDs any more
   * (every WAL write and every call that carries them has ended): the next split overwrites them. A
   * split not released is left to the GC; releasing one twice, or one not made here, does nothing.
   */
  release(split: SplitResult): void {
    const buf = this.leases.get(split);
    if (!buf) return;
    this.leases.delete(split);
    this.arenaPool.give(buf);
  }

  /** The arena pool's counts (metrics). */
  arenaStats(): ArenaPoolStats {
    return this.arenaPool.stats();
  }

  /** The least loaded worker, started on first need. */
  private pick(): Worker {
    if (this.workers.length < this.threads) {
      const w = this.spawn();
      this.workers.push(w);
      return w;
    }
    let best = this.workers[0]!;
    for (const w of this.workers) if ((this.load.get(w) ?? 0) < (this.load.get(best) ?? 0)) best = w;
    return best;
  }

  private spawn(): Worker {
    const w = new Worker(this.script);
    this.load.set(w, 0);
    w.on('message', (a: SplitAnswer) => this.answer(w, a));
    const fail = (err: Error) => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      this.load.delete(w);
      for (const [seq, p] of this.pending) {
        if (p.worker !== w) continue;
        this.settled(seq);
        this.queuedBytes -= p.bytes;
        p.reject(new ConnectError(`request not split: split worker failed (${err.message})`, Code.Unavailable));
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    w.unref();
    return w;
  }

  private settled(seq: number): void {
    this.pending.delete(seq);
    if (this.pending.size === 0) this.drained?.();
  }

  private answer(w: Worker, a: SplitAnswer): void {
    const p = this.pending.get(a.seq);
    if (!p) return;
    this.settled(a.seq);
    this.queuedBytes -= p.bytes;
    this.load.set(w, (this.load.get(w) ?? 1) - 1);
    if (a.spare) this.arenaPool.untake(a.spare);
    if ('error' in a) {
      p.reject(a.code === undefined ? new Error(a.error) : new ConnectError(a.error, a.code as Code));
      return;
    }
    if (a.made) this.arenaPool.countMade();
    const res = framedResult(a);
    if (a.arena.byteLength > 0) this.leases.set(res, a.arena);
    p.resolve(res);
  }

  /** Splits asked for from now on run on the calling thread; the workers stop once their splits are answered. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pending.size > 0) {
      // Bounded: a split takes milliseconds; past CLOSE_WAIT_MS the workers are stopped and what they
      // held fails with UNAVAILABLE (the client retries).
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      });
      clearTimeout(timer);
    }
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }
}
