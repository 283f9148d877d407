// A tenant's bounded on-disk queue of remote write records: `<path>/<tenant>/wal/`.
//
//   <seq>.seg           segments (8-digit sequence numbers), records in append order (see record.ts);
//                       each write is fdatasynced before its records become visible to senders
//   cursor-<endpoint>   per endpoint: where its acknowledged records end, and how far records may have
//                       been sent ({"segment","offset","inflight":{"segment","offset"}|null}),
//                       replaced atomically (write, fsync, rename)
//
// One log, one cursor per endpoint (as Prometheus' WAL watcher keeps one position per remote). A segment
// is deleted once every cursor is past it. Bounds: `maxPendingBytes` in memory waiting for the disk
// (appends beyond it are dropped), `maxBytes` on disk (the oldest segment is dropped when a write goes
// past it), `maxAgeMs` (a sealed segment whose newest sample is older is dropped: the receiver would
// refuse it as out of bounds anyway). Every drop is counted per endpoint that had not sent it yet.
//
// Syncing: each write and each cursor replacement is fdatasynced (a handful per collection interval). That
// was a suspect for the metrics-generator's cost on push latency, since the ingester's WAL syncs on the
// same disk to acknowledge pushes; measured with bench/metrics-generator/src/sync-interplay.ts, a WAL-shaped
// writer's sync latency is the same alone, beside this queue's syncs and beside the same writes unsynced
// (bench/results/metrics-generator.md), so the syncs stay: a machine crash, not only a Stave crash (which
// the page cache survives), loses nothing the queue took.
//
// Order is the contract with the receiver: Prometheus refuses a sample older than the newest it has for
// that series (and rolls back the whole request), so records are sent strictly in append order, one
// request in flight per endpoint, and a request is retried byte for byte. After a restart, the records
// up to the persisted in-flight end may already have been committed by the receiver: they are resent
// one record per request, so a refusal of one of them cannot take newer records down with it.
//
// Cursor writes are batched, not one per request: before a request that may follow records sent since
// the cursor was last written, the cursor's in-flight end is moved to the end of everything on disk (a
// lease: one write covers every request until the endpoint has sent all of it), and an acknowledgement is
// written only when the endpoint has caught up with the disk, or when the queue closes. So the persisted
// in-flight end is always at or past every record that may have been sent, which is all a restart needs
// (above); a crash costs at most the lease's records resent one by one. Under the ingest bench this is 2
// cursor writes per collection instead of one per request (18).

import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@stave/core';
import type { EncodedChunk } from './encode';
import { encodeRecord, parseRecord, RECORD_HEADER, type DecodedRecord } from './record';

export interface Position {
  readonly segment: number;
  readonly offset: number;
}

export function comparePositions(a: Position, b: Position): number {
  return a.segment - b.segment || a.offset - b.offset;
}

const maxPosition = (a: Position, b: Position): Position => (comparePositions(a, b) >= 0 ? a : b);

/** Why records left the queue unsent (the `reason` label of stave_remote_write_samples_dropped_total). */
export const DropReason = {
  /** More bytes waiting for the disk than `maxPendingBytes`. */
  QueueFull: 'queue_full',
  /** The on-disk queue went past its byte cap; its oldest segment was dropped. */
  DiskFull: 'disk_full',
  /** A segment's newest sample is older than max_wal_time. */
  TooOld: 'too_old',
  /** The receiver answered 4xx (other than 429): the request can never succeed. */
  Rejected: 'rejected',
  /** The disk failed: the records could not be written. */
  WriteFailed: 'write_failed',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export interface QueueOptions {
  readonly dir: string;
  /** Endpoint keys (cursor names), in configuration order. */
  readonly endpoints: readonly string[];
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly maxPendingBytes: number;
  readonly maxAgeMs: number;
  readonly now: () => number;
  readonly logger: Logger;
  /** Samples and exemplars that left the queue unsent, for one endpoint. */
  readonly onDrop: (endpoint: string, reason: DropReason, samples: number, exemplars: number) => void;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Durable bytes (what senders may read). */
  bytes: number;
  samples: number;
  exemplars: number;
  newestMs: number;
  sealed: boolean;
}

interface Cursor {
  readonly key: string;
  readonly file: string;
  acked: Position;
  /** `acked` as the cursor file has it. */
  persisted: Position;
  /** The cursor file's in-flight end: no record past it has been sent (see "Cursor writes" above). */
  lease: Position | undefined;
  /** The in-flight end found on opening: records before it may be committed already and go one by one. */
  resendEnd: Position | undefined;
  /** Samples and exemplars of acknowledged records in `acked.segment`. */
  ackedSamplesInSegment: number;
  ackedExemplarsInSegment: number;
  pendingSamples: number;
  pendingExemplars: number;
}

/** A record read back from the queue, with the segment it sits in. */
export interface QueuedRecord extends DecodedRecord {
  readonly segment: number;
}

/** Consecutive records read for one request, and where they end. */
export interface Batch {
  readonly records: QueuedRecord[];
  readonly end: Position;
  readonly samples: number;
  readonly exemplars: number;
  /** The newest sample timestamp among the records (ms). */
  readonly newestMs: number;
}

export interface BatchLimits {
  readonly maxSamples: number;
  readonly maxBytes: number;
}

const SEGMENT_RE = /^(\d{8})\.seg$/;
const segmentName = (seq: number): string => `${String(seq).padStart(8, '0')}.seg`;

export class TenantQueue {
  private readonly segments: Segment[] = [];
  private readonly cursors = new Map<string, Cursor>();
  private writer: FileHandle | undefined;
  private pending: Buffer[] = [];
  private pendingChunks: EncodedChunk[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> | undefined;
  private waiters: Array<() => void> = [];
  private closed = false;
  /** The sequence number of the next segment: past every segment and every saved cursor. */
  private nextSeq = 1;

  private constructor(private readonly opts: QueueOptions) {}

  /** Opens the queue, replaying what is on disk (torn tails cut off), and starts a new segment for appends. */
  static async open(opts: QueueOptions): Promise<TenantQueue> {
    const q = new TenantQueue(opts);
    await q.replay();
    return q;
  }

  get diskBytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  pendingFor(endpoint: string): { samples: number; exemplars: number } {
    const c = this.cursors.get(endpoint);
    return { samples: c?.pendingSamples ?? 0, exemplars: c?.pendingExemplars ?? 0 };
  }

  /** True when every endpoint has acknowledged everything written so far and nothing waits in memory. */
  get drained(): boolean {
    if (this.pending.length > 0 || this.flushing) return false;
    const last = this.segments[this.segments.length - 1];
    if (!last) return true;
    const end: Position = { segment: last.seq, offset: last.bytes };
    for (const c of this.cursors.values()) if (comparePositions(this.normalize(c.acked), end) < 0) return false;
    return true;
  }

  /**
   * Queues encoded chunks for the disk. Never blocks: past `maxPendingBytes` waiting in memory, the
   * chunks are dropped and counted (reason queue_full).
   */
  enqueue(chunks: readonly EncodedChunk[]): void {
    for (const c of chunks) {
      if (this.closed || this.pendingBytes + c.bytes.length > this.opts.maxPendingBytes) {
        for (const e of this.opts.endpoints) this.opts.onDrop(e, DropReason.QueueFull, c.samples, c.exemplars);
        continue;
      }
      this.pending.push(encodeRecord(c));
      this.pendingChunks.push(c);
      this.pendingBytes += c.bytes.length;
    }
    this.kick();
  }

  /** Resolves once everything enqueued so far is on disk (or dropped because the disk failed). */
  async flush(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      this.kick();
      await this.flushing;
    }
  }

  private kick(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = this.writePending().finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0 && !this.closed) this.kick();
    });
  }

  private async writePending(): Promise<void> {
    const bufs = this.pending;
    const chunks = this.pendingChunks;
    this.pending = [];
    this.pendingChunks = [];
    this.pendingBytes = 0;
    const seg = this.segments[this.segments.length - 1]!;
    const data = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await this.writer!.write(data, written, data.length - written, seg.bytes + written);
        written += bytesWritten;
      }
      await this.writer!.datasync();
    } catch (err) {
      // The bytes may be partly on disk: cut the segment back to its durable end and start a new one,
      // so a later write never lands after a hole.
      this.opts.logger.error('remote write queue: write failed, records dropped', { dir: this.opts.dir, err: String(err) });
      for (const c of chunks) for (const e of this.opts.endpoints) this.opts.onDrop(e, DropReason.WriteFailed, c.samples, c.exemplars);
      await this.writer?.truncate(seg.bytes).catch(() => undefined);
      await this.roll().catch(() => undefined);
      return;
    }
    seg.bytes += data.length;
    for (const c of chunks) {
      seg.samples += c.samples;
      seg.exemplars += c.exemplars;
      seg.newestMs = Math.max(seg.newestMs, c.newestMs);
      for (const cur of this.cursors.values()) {
        cur.pendingSamples += c.samples;
        cur.pendingExemplars += c.exemplars;
      }
    }
    if (seg.bytes >= this.opts.segmentBytes) await this.roll();
    await this.enforceBounds();
    this.wake();
  }

  /** Seals the current segment and opens the next. */
  private async roll(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    if (last) last.sealed = true;
    await this.writer?.close().catch(() => undefined);
    this.writer = undefined;
    const seq = this.nextSeq++;
    const file = path.join(this.opts.dir, segmentName(seq));
    this.writer = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    await syncDir(this.opts.dir);
    this.segments.push({ seq, path: file, bytes: 0, samples: 0, exemplars: 0, newestMs: -Infinity, sealed: false });
  }

  /** Drops the oldest sealed segments while the queue is over its byte cap or they are too old. */
  private async enforceBounds(): Promise<void> {
    const cutoff = this.opts.now() - this.opts.maxAgeMs;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const reason = this.diskBytes > this.opts.maxBytes ? DropReason.DiskFull : oldest.newestMs < cutoff ? DropReason.TooOld : undefined;
      if (!reason) break;
      const next: Position = { segment: this.segments[1]!.seq, offset: 0 };
      for (const c of this.cursors.values()) {
        if (comparePositions(c.acked, next) >= 0) continue;
        const inSegment = c.acked.segment === oldest.seq;
        const samples = oldest.samples - (inSegment ? c.ackedSamplesInSegment : 0);
        const exemplars = oldest.exemplars - (inSegment ? c.ackedExemplarsInSegment : 0);
        this.opts.onDrop(c.key, reason, samples, exemplars);
        c.pendingSamples -= samples;
        c.pendingExemplars -= exemplars;
        c.acked = next;
        c.ackedSamplesInSegment = c.ackedExemplarsInSegment = 0;
      }
      this.opts.logger.warn('remote write queue: dropped its oldest segment', { dir: this.opts.dir, segment: oldest.seq, reason, samples: oldest.samples });
      this.segments.shift();
      await rm(oldest.path, { force: true });
    }
  }

  /**
   * The next records for `endpoint` after its acknowledged position, within `limits` (always at least one
   * record), or undefined when there is none yet. Records before a persisted in-flight end come one at a time.
   */
  async nextBatch(endpoint: string, limits: BatchLimits): Promise<Batch | undefined> {
    const c = this.cursors.get(endpoint)!;
    const records: QueuedRecord[] = [];
    let pos = this.normalize(c.acked);
    let samples = 0;
    let exemplars = 0;
    let bytes = 0;
    let newestMs = -Infinity;
    const oneByOne = c.resendEnd !== undefined && comparePositions(pos, c.resendEnd) < 0;
    while (true) {
      const seg = this.segments.find((s) => s.seq === pos.segment);
      if (!seg || pos.offset >= seg.bytes) break;
      const want = Math.min(seg.bytes - pos.offset, Math.max(limits.maxBytes, RECORD_HEADER) + 64 * 1024);
      const buf = await readAt(seg.path, pos.offset, want);
      let at = 0;
      let stop = false;
      while (at < buf.length) {
        const r = parseRecord(buf, at, pos.offset);
        if ('incomplete' in r) {
          if (records.length === 0 && at === 0) {
            // One record larger than the read: read exactly it.
            const len = buf.readUInt32LE(0) + RECORD_HEADER;
            const whole = parseRecord(await readAt(seg.path, pos.offset, len), 0, pos.offset);
            if ('record' in whole) {
              records.push({ ...whole.record, segment: seg.seq });
              samples += whole.record.samples;
              exemplars += whole.record.exemplars;
              newestMs = Math.max(newestMs, whole.record.newestMs);
              at = len;
            }
          }
          stop = true;
          break;
        }
        if ('corrupt' in r) {
          // Validated on replay and written by us since: the disk changed under us. The rest of the
          // segment is lost; what was read before the damage is still sent.
          this.opts.logger.error('remote write queue: corrupt record, skipping the rest of the segment', {
            file: seg.path,
            offset: pos.offset + at,
            reason: r.corrupt,
          });
          if (records.length === 0) this.skipCorrupt(c, seg);
          stop = records.length > 0;
          at = -1;
          break;
        }
        const rec = r.record;
        if (records.length > 0 && (samples + exemplars + rec.samples + rec.exemplars > limits.maxSamples || bytes + rec.bytes.length > limits.maxBytes)) {
          stop = true;
          break;
        }
        records.push({ ...rec, segment: seg.seq });
        samples += rec.samples;
        exemplars += rec.exemplars;
        bytes += rec.bytes.length;
        newestMs = Math.max(newestMs, rec.newestMs);
        at += rec.size;
        if (oneByOne) {
          stop = true;
          break;
        }
      }
      if (records.length > 0) {
        const last = records[records.length - 1]!;
        pos = this.normalize({ segment: seg.seq, offset: last.offset + last.size });
      } else if (at === -1) {
        pos = this.normalize(c.acked);
      }
      if (stop) break;
    }
    if (records.length === 0) return undefined;
    return { records, end: pos, samples, exemplars, newestMs };
  }

  /** Drops the rest of a damaged segment for one endpoint, counting its unsent samples as write failures. */
  private skipCorrupt(c: Cursor, seg: Segment): void {
    const inSegment = c.acked.segment === seg.seq;
    const samples = seg.samples - (inSegment ? c.ackedSamplesInSegment : 0);
    const exemplars = seg.exemplars - (inSegment ? c.ackedExemplarsInSegment : 0);
    this.opts.onDrop(c.key, DropReason.WriteFailed, samples, exemplars);
    c.pendingSamples -= samples;
    c.pendingExemplars -= exemplars;
    c.acked = { segment: seg.seq, offset: seg.bytes };
    c.ackedSamplesInSegment = seg.samples;
    c.ackedExemplarsInSegment = seg.exemplars;
  }

  /**
   * Call before sending `batch` (each attempt's bytes are the same): persists a lease past it unless the
   * cursor file covers it already, or it is the one record right after the persisted acknowledgement
   * (resent alone or first in a batch, a record committed already is a duplicate the receiver accepts).
   */
  async beforeSend(endpoint: string, batch: Batch): Promise<void> {
    const c = this.cursors.get(endpoint)!;
    if (c.lease && comparePositions(batch.end, c.lease) <= 0) return;
    const first = batch.records[0]!;
    if (batch.records.length === 1 && comparePositions(this.normalize(c.persisted), { segment: first.segment, offset: first.offset }) === 0) return;
    c.lease = maxPosition(batch.end, this.durableEnd() ?? batch.end);
    await this.writeCursor(c);
  }

  /** Records up to `batch.end` are done for `endpoint` (sent, or refused for good). */
  async ack(endpoint: string, batch: Batch): Promise<void> {
    const c = this.cursors.get(endpoint)!;
    if (comparePositions(batch.end, c.acked) > 0) {
      // Segments the batch crossed into were dropped meanwhile? Their records were counted then.
      for (const r of batch.records) {
        if (comparePositions({ segment: r.segment, offset: r.offset }, c.acked) < 0) continue;
        c.pendingSamples -= r.samples;
        c.pendingExemplars -= r.exemplars;
      }
      const endSegment = batch.end.segment;
      const inEnd = batch.records.filter((r) => r.segment === endSegment);
      const carried = c.acked.segment === endSegment ? c : undefined;
      c.ackedSamplesInSegment = (carried?.ackedSamplesInSegment ?? 0) + inEnd.reduce((n, r) => n + r.samples, 0);
      c.ackedExemplarsInSegment = (carried?.ackedExemplarsInSegment ?? 0) + inEnd.reduce((n, r) => n + r.exemplars, 0);
      c.acked = maxPosition(c.acked, batch.end);
    }
    if (c.resendEnd && comparePositions(c.acked, c.resendEnd) >= 0) c.resendEnd = undefined;
    // Persisted once the endpoint has caught up (or at close): until then the lease covers what was sent.
    const end = this.durableEnd();
    if (!end || comparePositions(this.normalize(c.acked), this.normalize(end)) >= 0) await this.persist(c);
    await this.deleteAcked();
  }

  /** Where the records written to disk so far end. */
  private durableEnd(): Position | undefined {
    const last = this.segments[this.segments.length - 1];
    return last ? { segment: last.seq, offset: last.bytes } : undefined;
  }

  /** Writes `c`'s acknowledgement if the file is behind it; a lease it has passed is dropped. */
  private async persist(c: Cursor): Promise<void> {
    if (c.lease && comparePositions(c.acked, c.lease) >= 0) c.lease = undefined;
    if (comparePositions(c.persisted, c.acked) === 0 && !c.lease) return;
    await this.writeCursor(c);
  }

  /** Resolves when records may be available for senders, or when `signal` aborts. */
  waitForData(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Stops taking appends, writes what is waiting in memory, and closes the segment. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.wake();
    for (const c of this.cursors.values())
      await this.persist(c).catch((err: unknown) =>
        this.opts.logger.error('remote write queue: could not record progress', { dir: this.opts.dir, err: String(err) }),
      );
    await this.writer?.close().catch(() => undefined);
    this.writer = undefined;
  }

  /** A position at the end of a sealed segment is the start of the next one. */
  private normalize(p: Position): Position {
    let pos = p;
    for (const s of this.segments) {
      if (s.seq < pos.segment) continue;
      if (s.seq > pos.segment) return { segment: s.seq, offset: 0 };
      if (s.sealed && pos.offset >= s.bytes) {
        pos = { segment: s.seq + 1, offset: 0 };
        continue;
      }
      return pos;
    }
    return pos;
  }

  private async deleteAcked(): Promise<void> {
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const next: Position = { segment: this.segments[1]!.seq, offset: 0 };
      for (const c of this.cursors.values()) if (comparePositions(this.normalize(c.acked), next) < 0) return;
      this.segments.shift();
      await rm(oldest.path, { force: true });
    }
  }

  private async writeCursor(c: Cursor): Promise<void> {
    const acked = c.acked;
    const body = JSON.stringify({ segment: acked.segment, offset: acked.offset, inflight: c.lease ?? null });
    const tmp = `${c.file}.tmp`;
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    try {
      await fh.writeFile(body);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, c.file);
    c.persisted = acked;
  }

  private async replay(): Promise<void> {
    const { dir, logger } = this.opts;
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    const seqs = names
      .map((n) => SEGMENT_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    // Per segment, the samples before each record boundary, to place cursors.
    const boundaries = new Map<number, Map<number, { samples: number; exemplars: number }>>();
    for (const seq of seqs) {
      const file = path.join(dir, segmentName(seq));
      const buf = await readFile(file);
      const seg: Segment = { seq, path: file, bytes: 0, samples: 0, exemplars: 0, newestMs: -Infinity, sealed: true };
      const marks = new Map<number, { samples: number; exemplars: number }>([[0, { samples: 0, exemplars: 0 }]]);
      let at = 0;
      while (at < buf.length) {
        const r = parseRecord(buf, at);
        if (!('record' in r)) {
          logger.warn('remote write queue: torn segment tail cut off', { file, offset: at, reason: 'corrupt' in r ? r.corrupt : 'truncated record' });
          await truncateFile(file, at);
          break;
        }
        seg.samples += r.record.samples;
        seg.exemplars += r.record.exemplars;
        seg.newestMs = Math.max(seg.newestMs, r.record.newestMs);
        at += r.record.size;
        marks.set(at, { samples: seg.samples, exemplars: seg.exemplars });
      }
      seg.bytes = at;
      boundaries.set(seq, marks);
      this.segments.push(seg);
    }
    for (const key of this.opts.endpoints) {
      const file = path.join(dir, `cursor-${key}`);
      const saved = await readCursor(file);
      const c: Cursor = {
        key,
        file,
        acked: { segment: 0, offset: 0 },
        persisted: { segment: 0, offset: 0 },
        lease: saved?.inflight ?? undefined,
        resendEnd: saved?.inflight ?? undefined,
        ackedSamplesInSegment: 0,
        ackedExemplarsInSegment: 0,
        pendingSamples: 0,
        pendingExemplars: 0,
      };
      if (saved) {
        const marks = boundaries.get(saved.segment);
        if (marks) {
          // Snap to the record boundary at or after the saved offset.
          let best: [number, { samples: number; exemplars: number }] | undefined;
          for (const [off, m] of marks) if (off >= saved.offset && (!best || off < best[0])) best = [off, m];
          const seg = this.segments.find((s) => s.seq === saved.segment)!;
          const [off, m] = best ?? [seg.bytes, { samples: seg.samples, exemplars: seg.exemplars }];
          c.acked = { segment: saved.segment, offset: off };
          c.ackedSamplesInSegment = m.samples;
          c.ackedExemplarsInSegment = m.exemplars;
        } else {
          c.acked = { segment: saved.segment, offset: saved.offset };
        }
      }
      c.persisted = c.acked;
      for (const s of this.segments) {
        if (s.seq < c.acked.segment) continue;
        const before = s.seq === c.acked.segment;
        c.pendingSamples += s.samples - (before ? c.ackedSamplesInSegment : 0);
        c.pendingExemplars += s.exemplars - (before ? c.ackedExemplarsInSegment : 0);
      }
      this.cursors.set(key, c);
    }
    // Cursor files of endpoints no longer configured would hold segments forever: remove them.
    for (const n of names) {
      if (n.startsWith('cursor-') && !this.cursors.has(n.slice('cursor-'.length))) await rm(path.join(dir, n), { force: true });
    }
    const seen = [...seqs, ...[...this.cursors.values()].flatMap((c) => [c.acked.segment, c.lease?.segment ?? 0])];
    this.nextSeq = Math.max(0, ...seen) + 1;
    await this.roll();
    await this.deleteAcked();
    await this.enforceBounds();
  }
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

async function truncateFile(file: string, size: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.truncate(size);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readCursor(file: string): Promise<{ segment: number; offset: number; inflight: Position | null } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as { segment?: unknown; offset?: unknown; inflight?: { segment?: unknown; offset?: unknown } | null };
    if (typeof v.segment !== 'number' || typeof v.offset !== 'number') return undefined;
    const inflight =
      v.inflight && typeof v.inflight.segment === 'number' && typeof v.inflight.offset === 'number'
        ? { segment: v.inflight.segment, offset: v.inflight.offset }
        : null;
    return { segment: v.segment, offset: v.offset, inflight };
  } catch {
    return undefined;
  }
}
