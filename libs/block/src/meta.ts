// meta.json: what a block holds and how to read it without listing or opening anything else.
// Field names follow Tempo's meta.json (format, blockID, tenantID, startTime, endTime, totalObjects,
// size, compactionLevel, encoding, dataEncoding, bloomShards, footerSize, replicationFactor), plus
// Stave's own: totalSpans, minID/maxID, rowGroups, the trace-ID index's page directory, which lets a
// cold by-ID lookup go straight to one index page, and a compaction output's input blocks.

import { errors } from '@stave/core';

/** The block format this package writes. Bump on any change to the Parquet layout, index or codec. */
export const FORMAT = 'vStave2';
/** Formats this package reads: vStave1 blocks (no search columns) are searched trace by trace. */
export const READABLE_FORMATS: readonly string[] = ['vStave1', FORMAT];

export const META_NAME = 'meta.json';
export const DATA_NAME = 'data.parquet';
export const INDEX_NAME = 'index';
export const bloomName = (shard: number): string => `bloom-${shard}`;
export const TENANT_INDEX_NAME = 'index.json.gz';

export interface BlockMeta {
  format: string;
  blockID: string;
  tenantID: string;
  /** RFC3339 (nanosecond precision): earliest span start in the block. */
  startTime: string;
  /** RFC3339: latest span end. */
  endTime: string;
  /** Traces. */
  totalObjects: number;
  totalSpans: number;
  /** Bytes of data.parquet. */
  size: number;
  compactionLevel: number;
  /** Tempo's object encoding field; Parquet pages carry their own codec, named here. */
  encoding: string;
  dataEncoding: string;
  bloomShards: number;
  /** Smallest and largest trace ID, lowercase hex (32 characters). */
  minID: string;
  maxID: string;
  /** Bytes of data.parquet's Thrift FileMetaData (the footer before its length and magic). */
  footerSize: number;
  replicationFactor?: number;
  rowGroups: number;
  /** Bytes of the `index` object. */
  indexSize: number;
  /** First trace ID (hex) of each index page, ascending. */
  indexPageFirstIDs: string[];
  /** Byte offset of each index page in `index`, plus the index's size as a final entry. */
  indexPageOffsets: number[];
  /** When the block was written (RFC3339). */
  createdAt: string;
  /** data.parquet's columns, in schema order (layout.ts); absent in vStave1 blocks. */
  columns?: string[];
  /**
   * A compaction output's input blocks (Stave's own field). A compactor that finds any of them still live
   * finishes the job a crash interrupted between this meta.json and the inputs' marks: it marks them.
   */
  compactedFrom?: string[];
}

export function blockPrefix(tenant: string, blockID: string): string {
  return `${tenant}/${blockID}/`;
}

export function metaKey(tenant: string, blockID: string): string {
  return `${tenant}/${blockID}/${META_NAME}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether a name is a block ID (a lowercase UUID). */
export function isBlockID(id: string): boolean {
  return UUID_RE.test(id);
}

export function validateBlockID(id: string): void {
  if (!isBlockID(id)) throw errors.invalid(`invalid block ID ${JSON.stringify(id)}: expected a lowercase UUID`);
}

/** Nanoseconds since the epoch as RFC3339 with Go's RFC3339Nano trimming (what Tempo writes). */
export function formatNanos(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  if (frac === 0n) return `${base}Z`;
  return `${base}.${frac.toString().padStart(9, '0').replace(/0+$/, '')}Z`;
}

/** Parses RFC3339 (any fractional precision up to ns, Z or offset) to nanoseconds. */
export function parseNanos(s: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) throw errors.invalid(`invalid RFC3339 time ${JSON.stringify(s)}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) throw errors.invalid(`invalid RFC3339 time ${JSON.stringify(s)}`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

export function encodeMeta(meta: BlockMeta): Uint8Array {
  return Buffer.from(JSON.stringify(meta, null, 1));
}

const NUMBER_FIELDS = ['totalObjects', 'totalSpans', 'size', 'compactionLevel', 'bloomShards', 'footerSize', 'rowGroups', 'indexSize'] as const;
const STRING_FIELDS = ['format', 'blockID', 'tenantID', 'startTime', 'endTime', 'minID', 'maxID'] as const;

/** Parses and checks meta.json; a block whose meta does not parse is reported, not guessed at. */
export function parseMeta(data: Uint8Array | string): BlockMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw errors.invalid(`meta.json is not JSON: ${(err as Error).message}`);
  }
  return checkMeta(raw);
}

export function checkMeta(raw: unknown): BlockMeta {
  if (typeof raw !== 'object' || raw === null) throw errors.invalid('meta.json: expected an object');
  const m = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const f of STRING_FIELDS) if (typeof m[f] !== 'string') problems.push(`${f} must be a string`);
  for (const f of NUMBER_FIELDS)
    if (typeof m[f] !== 'number' || !Number.isInteger(m[f]) || (m[f] as number) < 0) problems.push(`${f} must be a non-negative integer`);
  if (!Array.isArray(m.indexPageFirstIDs) || !m.indexPageFirstIDs.every((x) => typeof x === 'string'))
    problems.push('indexPageFirstIDs must be an array of hex IDs');
  if (!Array.isArray(m.indexPageOffsets) || !m.indexPageOffsets.every((x) => typeof x === 'number'))
    problems.push('indexPageOffsets must be an array of numbers');
  else if (Array.isArray(m.indexPageFirstIDs) && m.indexPageOffsets.length !== m.indexPageFirstIDs.length + 1) {
    problems.push(`indexPageOffsets must have one more entry (${m.indexPageOffsets.length}) than indexPageFirstIDs (${m.indexPageFirstIDs.length})`);
  }
  if (m.replicationFactor !== undefined && typeof m.replicationFactor !== 'number') problems.push('replicationFactor must be a number');
  if (m.compactedFrom !== undefined && !(Array.isArray(m.compactedFrom) && m.compactedFrom.every((x) => typeof x === 'string' && isBlockID(x))))
    problems.push('compactedFrom must be an array of block IDs');
  if (m.columns !== undefined && !(Array.isArray(m.columns) && m.columns.every((x) => typeof x === 'string')))
    problems.push('columns must be an array of names');
  if (problems.length) throw errors.invalid(`meta.json of block ${String(m.blockID)}: ${problems.join('; ')}`);
  if (!READABLE_FORMATS.includes(m.format as string)) {
    throw errors.invalid(`block ${String(m.blockID)} has format ${String(m.format)}; this reader knows ${READABLE_FORMATS.join(', ')}`);
  }
  return {
    format: m.format as string,
    blockID: m.blockID as string,
    tenantID: m.tenantID as string,
    startTime: m.startTime as string,
    endTime: m.endTime as string,
    totalObjects: m.totalObjects as number,
    totalSpans: m.totalSpans as number,
    size: m.size as number,
    compactionLevel: m.compactionLevel as number,
    encoding: typeof m.encoding === 'string' ? m.encoding : 'none',
    dataEncoding: typeof m.dataEncoding === 'string' ? m.dataEncoding : '',
    bloomShards: m.bloomShards as number,
    minID: m.minID as string,
    maxID: m.maxID as string,
    footerSize: m.footerSize as number,
    ...(typeof m.replicationFactor === 'number' ? { replicationFactor: m.replicationFactor } : {}),
    rowGroups: m.rowGroups as number,
    indexSize: m.indexSize as number,
    indexPageFirstIDs: m.indexPageFirstIDs as string[],
    indexPageOffsets: m.indexPageOffsets as number[],
    createdAt: typeof m.createdAt === 'string' ? m.createdAt : '',
    ...(Array.isArray(m.columns) ? { columns: m.columns as string[] } : {}),
    ...(Array.isArray(m.compactedFrom) ? { compactedFrom: m.compactedFrom as string[] } : {}),
  };
}

/** Reads and parses `<tenant>/<blockID>/meta.json`. */
export async function readMeta(store: { read(key: string): Promise<Uint8Array> }, tenant: string, blockID: string): Promise<BlockMeta> {
  return parseMeta(await store.read(metaKey(tenant, blockID)));
}

export function hexID(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}
