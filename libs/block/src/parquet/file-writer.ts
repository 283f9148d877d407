// A streaming Parquet file writer: rows go into ColumnWriters; each finished row group comes back as
// buffers for the caller to send on (e.g. into ObjectStore.write as an AsyncIterable), so memory
// holds one row group, never the file. The file needs no seeking: Parquet's metadata is a footer.
//
// Our own encoder rather than a library (measured in bench/results/block.md): it streams row
// groups without a temp file, tells us where every page lands (the trace-ID index stores those
// offsets, so a by-ID lookup needs no footer read), breaks `trace` pages only between traces, and
// compresses pages on the thread pool. hyparquet-writer was ~25% faster alone but 7% bigger and
// would need a temp file plus reading its offset index back; @dsnp/parquetjs ships no build.

import { ColumnWriter, type ColumnOptions, type PageLocation } from './column-writer';
import { encodeFileMeta, MAGIC, type RowGroupMeta } from './format';

export interface FlushedRowGroup {
  readonly ordinal: number;
  readonly buffers: Buffer[];
  /** Per column, where its data pages landed. */
  readonly pages: PageLocation[][];
  readonly rows: number;
}

export class ParquetFileWriter {
  readonly columns: ColumnWriter[];
  private offset = MAGIC.length;
  private readonly rowGroups: RowGroupMeta[] = [];
  private totalRows = 0;

  constructor(
    defs: readonly ColumnOptions[],
    private readonly sortedBy?: number,
  ) {
    this.columns = defs.map((d) => new ColumnWriter(d));
  }

  /** The first bytes of the file. */
  head(): Buffer {
    return Buffer.from(MAGIC);
  }

  /** Rows in the row group being built. */
  get rows(): number {
    return this.columns[0]?.rows ?? 0;
  }

  /** Uncompressed bytes the current row group holds: what `row_group_size_bytes` is compared with. */
  get bufferedBytes(): number {
    let n = 0;
    for (const c of this.columns) n += c.bufferedBytes;
    return n;
  }

  /** Waits until at most `maxBytes` of page data are still being compressed. */
  async throttle(maxBytes: number): Promise<void> {
    for (;;) {
      let pending = 0;
      let oldest: ColumnWriter | undefined;
      for (const c of this.columns) {
        const b = c.compressingBytes;
        pending += b;
        if (b > 0 && !oldest) oldest = c;
      }
      if (pending <= maxBytes || !oldest) return;
      await oldest.settleOne();
    }
  }

  async flushRowGroup(): Promise<FlushedRowGroup | undefined> {
    const rows = this.rows;
    if (rows === 0) return undefined;
    for (const c of this.columns) {
      if (c.rows !== rows) throw new Error(`parquet: column ${c.opts.leaf.name} has ${c.rows} rows, expected ${rows}`);
    }
    const start = this.offset;
    const buffers: Buffer[] = [];
    const pages: PageLocation[][] = [];
    const metas = [];
    let uncompressed = 0;
    for (const c of this.columns) {
      const out = await c.finishChunk(this.offset);
      for (const b of out.buffers) {
        buffers.push(b);
        this.offset += b.length;
      }
      pages.push(out.pages);
      metas.push(out.meta);
      if (out.plainData && out.meta.dictionaryPageOffset !== undefined) this.partialDictionaries.push(`${this.rowGroups.length}:${metas.length - 1}`);
      uncompressed += out.meta.totalUncompressedSize;
    }
    const ordinal = this.rowGroups.length;
    this.rowGroups.push({
      columns: metas,
      totalByteSize: uncompressed,
      numRows: rows,
      fileOffset: start,
      totalCompressedSize: this.offset - start,
      ordinal,
      ...(this.sortedBy !== undefined ? { sortedBy: this.sortedBy } : {}),
    });
    this.totalRows += rows;
    return { ordinal, buffers, pages, rows };
  }

  /** Footer (FileMetaData, its length, magic): the last bytes of the file. */
  footer(keyValue: Record<string, string>, createdBy: string): { bytes: Buffer; metadataSize: number } {
    const meta = encodeFileMeta({
      schema: this.columns.map((c) => c.opts.leaf),
      numRows: this.totalRows,
      rowGroups: this.rowGroups,
      keyValue,
      createdBy,
    });
    const len = Buffer.alloc(4);
    len.writeUInt32LE(meta.length);
    const bytes = Buffer.concat([meta, len, MAGIC]);
    this.offset += bytes.length;
    return { bytes, metadataSize: meta.length };
  }

  /**
   * Chunks (`rowGroup:column`) whose dictionary stopped filling part way (their later pages are PLAIN), so
   * a reader cannot rule a value out from the dictionary alone.
   */
  readonly partialDictionaries: string[] = [];

  get rowGroupCount(): number {
    return this.rowGroups.length;
  }

  /** Bytes produced so far (head, row groups, and footer once written). */
  get size(): number {
    return this.offset;
  }
}
