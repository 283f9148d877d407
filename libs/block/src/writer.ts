// writeBlock: sorted traces in, a complete block out — data.parquet, index, bloom-0..n, then meta.json
// LAST, so a block without meta.json is incomplete and readers ignore it.
//
// Memory: one row group (bounded by `rowGroupSizeBytes` of uncompressed page data) plus ~36 bytes per
// trace for the index and bloom filter, which are written after the data. data.parquet is streamed
// into ObjectStore.write as an AsyncIterable: Parquet needs no seeking (its metadata is a footer), so
// there is no temp file. Pure function of its arguments (no module state): safe to run in a worker.

import { randomUUID } from 'node:crypto';
import type { ObjectStore } from '@stave/backend';
import type { TracesData } from '@stave/proto';
import { errors, validateTenantID } from '@stave/core';
import { bloomSizing, ShardedBloomBuilder } from './bloom';
import { ByteStrings } from './byte-strings';
import { ByteWriter } from './bytes';
import { blockColumns, Col, COLUMN_NAMES, OTHER_STRING, PARTIAL_DICTIONARIES_KEY, TRACE_LEVEL } from './layout';
import { type BlockMeta, blockPrefix, bloomName, DATA_NAME, encodeMeta, FORMAT, formatNanos, hexID, INDEX_NAME, META_NAME, validateBlockID } from './meta';
import { type CodecName, codecOf } from './parquet/compression';
// Own Parquet encoder, not hyparquet-writer (~25% faster alone, 7% bigger files): it streams row groups into ObjectStore.write and reports each page's offset for the index (bench/results/block.md).
import { ParquetFileWriter } from './parquet/file-writer';
import type { ColumnWriter } from './parquet/column-writer';
import { TraceEncoder } from './trace-codec';
import { TraceIndexBuilder } from './trace-index';
import {
  H_END_HI,
  H_END_LO,
  H_ROOT,
  H_SPANS,
  H_START_HI,
  H_START_LO,
  i64,
  R_DURATION,
  R_HTTP,
  R_HTTP_HI,
  R_HTTP_LO,
  R_KIND,
  R_METHOD_A,
  R_METHOD_B,
  R_MSG_A,
  R_MSG_B,
  R_NAME_A,
  R_NAME_B,
  R_SERVICE_A,
  R_SERVICE_B,
  R_STATUS,
  R_URL_A,
  R_URL_B,
  ROW_FIELDS,
  ROWS_HEADER,
  TraceRowsBuilder,
  u64,
} from './trace-rows';
import { ATTR_OTHER, TraceScan } from './trace-scan';

/**
 * One trace to write: a message, or its bytes in the `trace` column's encoding (what BlockReader's
 * iterateEncodedTraces yields; compaction copies them without decoding). Either way the block is the same.
 */
export type BlockTrace =
  | {
      /** 16-byte trace ID. */
      readonly id: Uint8Array;
      readonly trace: TracesData;
    }
  | {
      readonly id: Uint8Array;
      /** Read only while the writer handles this trace (it may be a view into a reused buffer). */
      readonly encoded: Uint8Array;
      /**
       * The trace's column values (trace-rows.ts), when whoever produced `encoded` has them (same lifetime
       * as `encoded`); the writer reads them from the encoding otherwise.
       */
      readonly rows?: Int32Array;
    };

export interface WriteBlockOptions {
  readonly tenant: string;
  /** Lowercase UUID; a random v4 when absent. */
  readonly blockID?: string;
  /** Ascending by ID, IDs unique (checked: out-of-order input is rejected). */
  readonly traces: AsyncIterable<BlockTrace> | Iterable<BlockTrace>;
  /** `storage.trace.block.bloom_filter_false_positive`. Default 0.01. */
  readonly bloomFalsePositive?: number;
  /** `storage.trace.block.bloom_filter_shard_size_bytes`. Default 100 KiB. */
  readonly bloomShardSizeBytes?: number;
  /** `storage.trace.block.row_group_size_bytes`: uncompressed bytes per Parquet row group. Default 100 MiB. */
  readonly rowGroupSizeBytes?: number;
  readonly compactionLevel?: number;
  readonly replicationFactor?: number;
  /** A compaction output's input block IDs (meta.json's compactedFrom). */
  readonly compactedFrom?: readonly string[];
  /** Target size of one trace-ID index page (one by-ID read). Default 64 KiB. */
  readonly indexPageSizeBytes?: number;
  /** Uncompressed size of one `trace` column page (one by-ID read, before compression). Default 2 MiB. */
  readonly tracePageSizeBytes?: number;
  /** Page codec. Default brotli. */
  readonly codec?: CodecName;
  /**
   * The codec's level: brotli quality (0–11, default 5), gzip level (1–9, default 6). Readers do not
   * need it. The ingester writes its blocks at a lower level than compaction does (their pages are
   * compressed again when compacted), so that building a block keeps up with ingest.
   */
  readonly codecLevel?: number;
  /** Clock for meta.json's createdAt. */
  readonly now?: () => Date;
}

export const WRITE_DEFAULTS = Object.freeze({
  bloomFalsePositive: 0.01,
  bloomShardSizeBytes: 100 * 1024,
  rowGroupSizeBytes: 100 * 1024 * 1024,
  compactionLevel: 0,
  indexPageSizeBytes: 64 * 1024,
  tracePageSizeBytes: 2 * 1024 * 1024,
  codec: 'brotli' as CodecName,
});

const PAGE_BYTES = 1024 * 1024;
/** Page data allowed to wait for the compression threads before the encoder waits for them. */
const MAX_COMPRESSING_BYTES = 16 * 1024 * 1024;

/**
 * The trace IDs a row group keeps until it is flushed, copied into slabs of their own: a 16-byte
 * Buffer.from() lands in Node's shared 8 KiB pool, and the slab it shares with a reader's short-lived
 * buffers then lives as long as the ID (measured: ~8 KiB kept per trace, ~130 MiB per row group).
 */
class IdArena {
  private slab = Buffer.allocUnsafeSlow(16 * 4096);
  private used = 0;

  copy(id: Uint8Array): Buffer {
    if (this.used + id.length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(16 * 4096, id.length));
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + id.length);
    out.set(id);
    this.used += id.length;
    return out;
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw errors.invalid(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * The data.parquet part of writeBlock: one block's rows, row groups and footer, and the index entries and
 * statistics meta.json needs. Its state is in fields, not in closures of writeBlock: closures made anew for
 * every block were optimized with that block's objects built in, and V8 threw the code away and compiled
 * it again in every block (for "weak objects" once the previous block's objects died).
 */
class BlockDataWriter {
  private readonly cols: ColumnWriter[];
  readonly index = new TraceIndexBuilder();
  private readonly encoder = new TraceEncoder();
  private readonly scan = new TraceScan();
  private readonly rowsBuilder = new TraceRowsBuilder();
  private readonly strings = new ByteStrings();
  private readonly payload = new ByteWriter(64 * 1024);
  private readonly ids = new IdArena();
  readonly stats = { spans: 0, minStart: undefined as bigint | undefined, maxEnd: undefined as bigint | undefined };
  prev: Buffer | undefined;
  first: Buffer | undefined;
  footerSize = 0;

  // Traces of the row group being built: where their `trace` value went (page within the chunk).
  private pendingIds: Buffer[] = [];
  private pendingPage: number[] = [];
  private pendingOrdinal: number[] = [];
  private pendingSpans: number[] = [];

  constructor(
    private readonly pw: ParquetFileWriter,
    private readonly blockID: string,
    private readonly tenant: string,
  ) {
    this.cols = pw.columns;
  }

  private async *flush(): AsyncGenerator<Uint8Array> {
    const rg = await this.pw.flushRowGroup();
    if (!rg) return;
    const pages = rg.pages[Col.Trace]!;
    for (let i = 0; i < this.pendingIds.length; i++) {
      const loc = pages[this.pendingPage[i]!]!;
      this.index.add(this.pendingIds[i]!, { pageOffset: loc.offset, pageLength: loc.length, ordinal: this.pendingOrdinal[i]!, spans: this.pendingSpans[i]! });
    }
    this.pendingIds = [];
    this.pendingPage = [];
    this.pendingOrdinal = [];
    this.pendingSpans = [];
    yield* rg.buffers;
  }

  private str(c: Col, buf: Buffer, a: number, b: number): void {
    const cols = this.cols;
    if (a === ATTR_OTHER) cols[c]!.addString(OTHER_STRING);
    else if (a >= 0) cols[c]!.addString(buf.toString('utf8', a, b));
    else cols[c]!.addNull();
  }

  /**
   * One trace's rows from its encoding `buf` and its column values (trace-rows.ts): given
   * by whoever produced the encoding, or read from it here. Either way they are derived from the encoding
   * alone, so a trace given as a message and the same trace given encoded make the same block.
   */
  private addRows(id: Buffer, buf: Buffer, given: Int32Array | undefined): void {
    const { cols, strings, stats } = this;
    const d = given ?? this.rowsBuilder.fromScan(this.scan.scan(buf));
    const pos = cols[Col.Trace]!.nextValuePosition();
    const n = d[H_SPANS]!;
    // Consecutive spans mostly share their service: its string is made once per run.
    let serviceA = -1;
    let serviceB = -1;
    let service = '';
    for (let k = 0; k < n; k++) {
      const at = ROWS_HEADER + k * ROW_FIELDS;
      cols[Col.TraceId]!.addBytes(id);
      const sa = d[at + R_SERVICE_A]!;
      if (sa >= 0) {
        const sb = d[at + R_SERVICE_B]!;
        if (sa !== serviceA || sb !== serviceB) {
          serviceA = sa;
          serviceB = sb;
          service = strings.get(buf, sa, sb);
        }
        cols[Col.ServiceName]!.addString(service);
      } else if (sa === ATTR_OTHER) cols[Col.ServiceName]!.addString(OTHER_STRING);
      else cols[Col.ServiceName]!.addNull();
      cols[Col.Name]!.addString(strings.get(buf, d[at + R_NAME_A]!, d[at + R_NAME_B]!));
      cols[Col.Kind]!.addInt32(d[at + R_KIND]!);
      cols[Col.Duration]!.addInt32(d[at + R_DURATION]!);
      cols[Col.StatusCode]!.addInt32(d[at + R_STATUS]!);
      this.str(Col.StatusMessage, buf, d[at + R_MSG_A]!, d[at + R_MSG_B]!);
      this.str(Col.HttpMethod, buf, d[at + R_METHOD_A]!, d[at + R_METHOD_B]!);
      this.str(Col.HttpUrl, buf, d[at + R_URL_A]!, d[at + R_URL_B]!);
      if (d[at + R_HTTP] !== 0) {
        const lo = d[at + R_HTTP_LO]!;
        const hi = d[at + R_HTTP_HI]!;
        // |value| < 2^53 (every real status code): no bigint per span.
        if (hi >= -0x200000 && hi < 0x200000) cols[Col.HttpStatusCode]!.addInt64Number(hi * 0x1_0000_0000 + (lo >>> 0));
        else cols[Col.HttpStatusCode]!.addInt64(i64(lo, hi));
      } else cols[Col.HttpStatusCode]!.addNull();
      if (k === 0) {
        const root = d[H_ROOT]!;
        if (root >= 0) {
          const ra = ROWS_HEADER + root * ROW_FIELDS;
          const rsa = d[ra + R_SERVICE_A]!;
          if (rsa >= 0) cols[Col.RootServiceName]!.addString(strings.get(buf, rsa, d[ra + R_SERVICE_B]!));
          else this.str(Col.RootServiceName, buf, rsa, -1);
          cols[Col.RootName]!.addString(strings.get(buf, d[ra + R_NAME_A]!, d[ra + R_NAME_B]!));
        } else {
          cols[Col.RootServiceName]!.addNull();
          cols[Col.RootName]!.addNull();
        }
        cols[Col.TraceStart]!.addInt64(u64(d[H_START_LO]!, d[H_START_HI]!));
        cols[Col.TraceEnd]!.addInt64(u64(d[H_END_LO]!, d[H_END_HI]!));
        cols[Col.Trace]!.addBytes(buf);
      } else {
        for (const c of TRACE_LEVEL) cols[c]!.addNull();
      }
    }
    if (n > 0) {
      const traceStart = u64(d[H_START_LO]!, d[H_START_HI]!);
      const traceEnd = u64(d[H_END_LO]!, d[H_END_HI]!);
      if (stats.minStart === undefined || traceStart < stats.minStart) stats.minStart = traceStart;
      if (stats.maxEnd === undefined || traceEnd > stats.maxEnd) stats.maxEnd = traceEnd;
    } else {
      // A trace without spans still gets its row, so it round-trips.
      cols[Col.TraceId]!.addBytes(id);
      for (let c = Col.TraceId + 1; c < Col.Trace; c++) cols[c]!.addNull();
      cols[Col.Trace]!.addBytes(buf);
    }
    stats.spans += n;
    this.pendingIds.push(id);
    this.pendingPage.push(pos.page);
    this.pendingOrdinal.push(pos.ordinal);
    this.pendingSpans.push(n);
  }

  /** One trace's rows. Kept out of `data`, whose rare paths (a row group's flush, the footer) deoptimize it once or twice per block. */
  private addTrace(t: BlockTrace): void {
    const rawId = t.id;
    if (rawId.length !== 16) throw errors.invalid(`trace ID must be 16 bytes, got ${rawId.length} (${hexID(rawId)})`);
    const id = this.ids.copy(rawId);
    const prev = this.prev;
    if (prev && Buffer.compare(prev, id) >= 0) {
      throw errors.invalid(`traces must be sorted by ID with no duplicates: ${hexID(id)} came after ${hexID(prev)}`);
    }
    this.prev = id;
    this.first ??= id;
    if ('encoded' in t) {
      // Read in place (the column writer copies the bytes it keeps): no copy per trace.
      const e = t.encoded;
      this.addRows(id, Buffer.isBuffer(e) ? e : Buffer.from(e.buffer, e.byteOffset, e.byteLength), t.rows);
    } else {
      this.payload.reset();
      this.encoder.encode(id, t.trace, this.payload);
      this.addRows(id, this.payload.view(), undefined);
    }
  }

  async *data(traces: AsyncIterable<BlockTrace> | Iterable<BlockTrace>, rowGroupSize: number): AsyncGenerator<Uint8Array> {
    const pw = this.pw;
    yield pw.head();
    let n = 0;
    for await (const t of traces) {
      this.addTrace(t);
      if (pw.bufferedBytes >= rowGroupSize) yield* this.flush();
      else if (++n % 64 === 0) await pw.throttle(MAX_COMPRESSING_BYTES);
    }
    yield* this.finish();
  }

  private async *finish(): AsyncGenerator<Uint8Array> {
    if (!this.first) throw errors.invalid(`block ${this.blockID} for tenant ${this.tenant}: no traces to write`);
    yield* this.flush();
    const pw = this.pw;
    const footer = pw.footer(
      {
        'stave.format': FORMAT,
        'stave.block_id': this.blockID,
        'stave.tenant_id': this.tenant,
        'stave.columns': COLUMN_NAMES.join(','),
        [PARTIAL_DICTIONARIES_KEY]: pw.partialDictionaries.join(','),
      },
      `stave ${FORMAT}`,
    );
    this.footerSize = footer.metadataSize;
    yield footer.bytes;
  }
}

export async function writeBlock(store: ObjectStore, opts: WriteBlockOptions): Promise<BlockMeta> {
  validateTenantID(opts.tenant);
  const blockID = opts.blockID ?? randomUUID();
  validateBlockID(blockID);
  const fp = opts.bloomFalsePositive ?? WRITE_DEFAULTS.bloomFalsePositive;
  if (!(fp > 0 && fp < 1)) throw errors.invalid(`bloomFalsePositive must be in (0, 1), got ${fp}`);
  const shardSize = positiveInt('bloomShardSizeBytes', opts.bloomShardSizeBytes ?? WRITE_DEFAULTS.bloomShardSizeBytes);
  const rowGroupSize = positiveInt('rowGroupSizeBytes', opts.rowGroupSizeBytes ?? WRITE_DEFAULTS.rowGroupSizeBytes);
  const indexPageSize = positiveInt('indexPageSizeBytes', opts.indexPageSizeBytes ?? WRITE_DEFAULTS.indexPageSizeBytes);
  const tracePageSize = positiveInt('tracePageSizeBytes', opts.tracePageSizeBytes ?? WRITE_DEFAULTS.tracePageSizeBytes);
  const compactionLevel = opts.compactionLevel ?? WRITE_DEFAULTS.compactionLevel;
  if (!Number.isInteger(compactionLevel) || compactionLevel < 0) throw errors.invalid(`compactionLevel must be a non-negative integer, got ${compactionLevel}`);
  const codec = codecOf(opts.codec ?? WRITE_DEFAULTS.codec);

  const prefix = blockPrefix(opts.tenant, blockID);
  const written: string[] = [];
  const put = async (name: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> => {
    written.push(prefix + name);
    await store.write(prefix + name, data);
  };

  const codecLevel = opts.codecLevel;
  const maxLevel = (opts.codec ?? WRITE_DEFAULTS.codec) === 'gzip' ? 9 : 11;
  if (codecLevel !== undefined && !(Number.isInteger(codecLevel) && codecLevel >= 0 && codecLevel <= maxLevel)) {
    throw errors.invalid(`codecLevel must be an integer in [0, ${maxLevel}] for ${opts.codec ?? WRITE_DEFAULTS.codec}, got ${codecLevel}`);
  }
  const pw = new ParquetFileWriter(
    blockColumns({ codec, tracePageBytes: Math.min(tracePageSize, rowGroupSize), pageBytes: Math.min(PAGE_BYTES, rowGroupSize) }).map((c) =>
      codecLevel === undefined ? c : { ...c, codecLevel },
    ),
    Col.TraceId,
  );
  const w = new BlockDataWriter(pw, blockID, opts.tenant);

  try {
    await put(DATA_NAME, w.data(opts.traces, rowGroupSize));

    const built = w.index.build(indexPageSize);
    await put(INDEX_NAME, built.bytes);

    const bloom = new ShardedBloomBuilder(bloomSizing(w.index.size, fp, shardSize));
    for (const id of w.index.ids()) bloom.add(id);
    const shards = bloom.shards();
    for (let i = 0; i < shards.length; i++) await put(bloomName(i), shards[i]!);

    const meta: BlockMeta = {
      format: FORMAT,
      blockID,
      tenantID: opts.tenant,
      startTime: formatNanos(w.stats.minStart ?? 0n),
      endTime: formatNanos(w.stats.maxEnd ?? w.stats.minStart ?? 0n),
      totalObjects: w.index.size,
      totalSpans: w.stats.spans,
      size: pw.size,
      compactionLevel,
      encoding: opts.codec ?? WRITE_DEFAULTS.codec,
      dataEncoding: FORMAT,
      columns: [...COLUMN_NAMES],
      bloomShards: shards.length,
      minID: hexID(w.first!),
      maxID: hexID(w.prev!),
      footerSize: w.footerSize,
      ...(opts.replicationFactor !== undefined ? { replicationFactor: opts.replicationFactor } : {}),
      rowGroups: pw.rowGroupCount,
      indexSize: built.bytes.length,
      indexPageFirstIDs: built.firstIDs,
      indexPageOffsets: built.offsets,
      createdAt: (opts.now?.() ?? new Date()).toISOString(),
      ...(opts.compactedFrom ? { compactedFrom: [...opts.compactedFrom] } : {}),
    };
    // meta.json last: its presence is what makes the block exist.
    await put(META_NAME, encodeMeta(meta));
    return meta;
  } catch (err) {
    // Best effort: remove the parts written so far (a block without meta.json is ignored anyway).
    await Promise.allSettled(written.filter((k) => !k.endsWith(META_NAME)).map((k) => store.delete(k)));
    throw err;
  }
}
