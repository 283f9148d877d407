// The write-ahead log. One segment file per head block: `<wal>/<tenant>/<blockID>.wal`. A push is
// acknowledged only after its records are fsynced (group commit: appends queued while earlier batches are
// being written share the next batch; a few batches are written and synced at once), so an acknowledged
// span survives kill -9.
//
// Record layout (little-endian):  u32 payloadLength | u32 crc32(payload) | payload
// payload:                         16-byte trace ID | u32 startSeconds | u32 endSeconds | TracesData bytes
// A record that is cut short or fails its CRC ends replay of that segment (a torn tail): everything
// before it is replayed, the tear is reported with its file and offset.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { frameArena, frameWalRecord, WAL_FRAME_PREFIX, walFrameOf } from '@stave/model';

export const RECORD_HEADER = 8;
/** Trace ID, start and end seconds in front of a record's trace bytes (frameWalRecord writes them). */
export const PAYLOAD_PREFIX = WAL_FRAME_PREFIX - RECORD_HEADER;
/** Records larger than this are refused on write and treated as corruption on replay. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export interface WalRecord {
  readonly traceID: Uint8Array;
  readonly startSeconds: number;
  readonly endSeconds: number;
  readonly data: Uint8Array;
}

/** Where one record's TracesData bytes sit in its segment file. */
export interface RecordRef {
  readonly offset: number;
  readonly length: number;
}

export function encodeRecord(r: WalRecord): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER + PAYLOAD_PREFIX + r.data.length);
  writeRecord(buf, 0, r);
  return buf;
}

/** Writes one record at `off` of `buf` (which has room for it); returns the offset after it. */
function writeRecord(buf: Buffer, off: number, r: WalRecord): number {
  buf.set(r.data, off + WAL_FRAME_PREFIX);
  return frameWalRecord(buf, off, r.traceID, r.startSeconds, r.endSeconds, r.data.length);
}

export interface ReplayedRecord extends WalRecord {
  /** Offset of the TracesData bytes in the file. */
  readonly dataOffset: number;
}

export interface ReplayResult {
  readonly records: ReplayedRecord[];
  /** Bytes of valid records; anything after is torn. */
  readonly validBytes: number;
  /** Set when the file had bytes after the last valid record. */
  readonly tear?: { offset: number; reason: string };
}

/** Reads every valid record of a segment's contents. */
export function decodeSegment(buf: Buffer): ReplayResult {
  const records: ReplayedRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < RECORD_HEADER) return { records, validBytes: off, tear: { offset: off, reason: 'truncated record header' } };
    const len = buf.readUInt32LE(off);
    if (len < PAYLOAD_PREFIX || len > MAX_RECORD_BYTES) return { records, validBytes: off, tear: { offset: off, reason: `bad record length ${len}` } };
    if (buf.length - off - RECORD_HEADER < len) return { records, validBytes: off, tear: { offset: off, reason: 'truncated record' } };
    const payload = buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(off + 4)) return { records, validBytes: off, tear: { offset: off, reason: 'checksum mismatch' } };
    records.push({
      traceID: new Uint8Array(payload.subarray(0, 16)),
      startSeconds: payload.readUInt32LE(16),
      endSeconds: payload.readUInt32LE(20),
      data: payload.subarray(PAYLOAD_PREFIX),
      dataOffset: off + RECORD_HEADER + PAYLOAD_PREFIX,
    });
    off += RECORD_HEADER + len;
  }
  return { records, validBytes: off };
}

/** An append refused because its segment was sealed first (by a cut or shutdown): nothing was written. */
export class SegmentSealedError extends Error {
  constructor(readonly segmentPath: string) {
    super(`WAL segment ${segmentPath} is sealed`);
  }
}

interface Pending {
  /** The push's records, in order: runs of framed records in their arenas, and encoded ones. */
  bufs: Buffer[];
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Batch {
  readonly waiters: Pending[];
  readonly offset: number;
  readonly bytes: number;
  synced: boolean;
  /** Its write and sync have returned: nothing reads its buffers any more. */
  ended: boolean;
}

/** Write+sync batches in flight at once. fdatasync dominates an append's latency; overlapping them
 *  lets the next batch's write start while the previous one syncs (measured: see bench/results). */
const MAX_BATCHES_IN_FLIGHT = 8;

/**
 * An open segment that takes appends. `append` resolves once the record is durable and returns where
 * its data sits, so reads can find it later. Each batch is written at its reserved offset and synced;
 * batches are acknowledged strictly in order, so an acknowledged record never follows a hole.
 */
export class WalSegment {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private readonly inflight: Batch[] = [];
  private idleWaiters: Array<() => void> = [];
  private sealed = false;
  private closed = false;
  private failed: Error | undefined;
  /** Bytes handed to the file so far (reservations included); offsets are assigned from here. */
  private reserved: number;
  /** Offset where the next batch is written. */
  private writeOffset: number;
  /** Bytes known durable. */
  private durable: number;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    size: number,
  ) {
    this.reserved = size;
    this.writeOffset = size;
    this.durable = size;
  }

  /** Opens (creating if needed) a segment for appending after `validBytes` (anything after is cut off). */
  static async open(path: string, validBytes = 0): Promise<WalSegment> {
    // Not O_APPEND: batches are written at their own offsets.
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    const { size } = await fh.stat();
    if (size > validBytes) {
      await fh.truncate(validBytes);
      await fh.sync();
    }
    return new WalSegment(path, fh, Math.min(size, validBytes));
  }

  get size(): number {
    return this.reserved;
  }

  get durableSize(): number {
    return this.durable;
  }

  /**
   * Appends records; resolves with each record's data location once all are fsynced. Records framed by a
   * split worker (walFrameOf) are written from their arenas as they are, CRC included, without a copy:
   * records that lie back to back in one arena as one buffer. Only the others are encoded (into one new
   * buffer). The promise settles only once nothing reads the records' buffers any more, failures
   * included, so a caller may reuse them then (split-pool.ts reuses arenas).
   */
  append(records: readonly WalRecord[]): Promise<RecordRef[]> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.sealed) return Promise.reject(new SegmentSealedError(this.path));
    const n = records.length;
    const frames = new Array<number>(n);
    const arenas = new Array<Buffer | undefined>(n);
    let encodedBytes = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const a = frameArena(r.data);
      const at = a === undefined ? -1 : walFrameOf(a, r.traceID, r.startSeconds, r.endSeconds, r.data);
      frames[i] = at;
      arenas[i] = a;
      if (at < 0) encodedBytes += RECORD_HEADER + PAYLOAD_PREFIX + r.data.length;
    }
    const encoded = encodedBytes > 0 ? Buffer.allocUnsafe(encodedBytes) : undefined;
    let encodedAt = 0;
    const refs: RecordRef[] = new Array<RecordRef>(n);
    const bufs: Buffer[] = [];
    // The run being gathered: [runStart, runEnd) of runBuf (an arena or `encoded`).
    let runBuf: Buffer | undefined;
    let runStart = 0;
    let runEnd = 0;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const len = RECORD_HEADER + PAYLOAD_PREFIX + r.data.length;
      let buf: Buffer;
      let from = frames[i]!;
      if (from >= 0) {
        buf = arenas[i]!;
      } else {
        buf = encoded!;
        from = encodedAt;
        encodedAt = writeRecord(encoded!, from, r);
      }
      if (buf !== runBuf || from !== runEnd) {
        if (runBuf) bufs.push(runBuf.subarray(runStart, runEnd));
        runBuf = buf;
        runStart = from;
      }
      runEnd = from + len;
      refs[i] = { offset: this.reserved + size + RECORD_HEADER + PAYLOAD_PREFIX, length: r.data.length };
      size += len;
    }
    if (runBuf) bufs.push(runBuf.subarray(runStart, runEnd));
    this.reserved += size;
    return new Promise<RecordRef[]>((resolve, reject) => {
      this.queue.push({ bufs, bytes: size, resolve: () => resolve(refs), reject });
      this.queuedBytes += size;
      this.kick();
    });
  }

  private kick(): void {
    while (this.queue.length > 0 && this.inflight.length < MAX_BATCHES_IN_FLIGHT && !this.failed) {
      const waiters = this.queue;
      const bytes = this.queuedBytes;
      this.queue = [];
      this.queuedBytes = 0;
      const batch: Batch = { waiters, offset: this.writeOffset, bytes, synced: false, ended: false };
      this.writeOffset += bytes;
      this.inflight.push(batch);
      void this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    try {
      // The pushes of a group commit go down in one vectored write, not copied into one buffer first: a
      // copy of every WAL byte was garbage on the event loop's heap (external memory).
      const bufs = batch.waiters.length === 1 ? batch.waiters[0]!.bufs : batch.waiters.flatMap((p) => p.bufs);
      let written = 0;
      if (bufs.length > 1) written = (await this.fh.writev(bufs, batch.offset)).bytesWritten;
      if (written < batch.bytes) {
        const data = written === 0 && bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs, batch.bytes);
        while (written < data.length) {
          const { bytesWritten } = await this.fh.write(data, written, data.length - written, batch.offset + written);
          written += bytesWritten;
        }
      }
      await this.fh.datasync();
      batch.synced = true;
    } catch (err) {
      this.failed ??= err instanceof Error ? err : new Error(String(err));
    }
    batch.ended = true;
    if (this.failed) {
      this.failAll();
    } else {
      // Acknowledge in order: a batch is done only when every batch before it is.
      while (this.inflight.length > 0 && this.inflight[0]!.synced) {
        const b = this.inflight.shift()!;
        this.durable = b.offset + b.bytes;
        for (const p of b.waiters) p.resolve();
      }
    }
    this.kick();
    if (this.inflight.length === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * A failed write leaves the file in an unknown state: every append not yet acknowledged, and every one
   * after, is refused. A batch still being written hears of it when its write returns (its buffers are
   * read until then).
   */
  private failAll(): void {
    const failed = this.failed!;
    for (let i = 0; i < this.inflight.length;) {
      const b = this.inflight[i]!;
      if (!b.ended) {
        i++;
        continue;
      }
      this.inflight.splice(i, 1);
      for (const p of b.waiters) p.reject(failed);
    }
    for (const p of this.queue.splice(0)) p.reject(failed);
    this.queuedBytes = 0;
  }

  /** Resolves once nothing is queued or in flight. */
  private idle(): Promise<void> {
    if (this.inflight.length === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Reads bytes already durable. */
  async read(ref: RecordRef): Promise<Buffer> {
    if (ref.offset + ref.length > this.durable) throw new Error(`WAL read past durable end of ${this.path}`);
    const buf = Buffer.allocUnsafe(ref.length);
    let done = 0;
    while (done < ref.length) {
      const { bytesRead } = await this.fh.read(buf, done, ref.length - done, ref.offset + done);
      if (bytesRead === 0) throw new Error(`short WAL read at ${ref.offset} in ${this.path}`);
      done += bytesRead;
    }
    return buf;
  }

  /** Takes no more appends; resolves once every accepted append is durable (or failed). Reads go on. */
  async seal(): Promise<void> {
    this.sealed = true;
    await this.idle();
  }

  /** Seals and releases the file. */
  async close(): Promise<void> {
    await this.seal();
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
