// The per-tenant block list, `<tenant>/index.json.gz`, as Tempo keeps it: gzip JSON
// {createdAt, meta: [...], compacted: [...]} written by one builder so queriers and compactors learn
// every block with one read instead of listing the bucket. listBlocks is the fallback scan.

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ObjectStore } from '@stave/backend';
import { Code, codeOf, errors, validateTenantID } from '@stave/core';
import { type BlockMeta, checkMeta, META_NAME, parseMeta, TENANT_INDEX_NAME } from './meta';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/** A compacted block (still listed until compacted_block_retention passes). */
export type CompactedBlockMeta = BlockMeta & { compactedTime: string };

export interface TenantIndex {
  createdAt: string;
  meta: BlockMeta[];
  compacted: CompactedBlockMeta[];
}

/** Cap on the decompressed index: a corrupt or hostile object cannot take the process's memory. */
const DEFAULT_MAX_INDEX_BYTES = 512 * 1024 * 1024;

export function tenantIndexKey(tenant: string): string {
  return `${tenant}/${TENANT_INDEX_NAME}`;
}

export async function writeTenantIndex(
  store: ObjectStore,
  tenant: string,
  metas: readonly BlockMeta[],
  compactedMetas: readonly CompactedBlockMeta[] = [],
  now: () => Date = () => new Date(),
): Promise<TenantIndex> {
  validateTenantID(tenant);
  const index: TenantIndex = { createdAt: now().toISOString(), meta: [...metas], compacted: [...compactedMetas] };
  await store.write(tenantIndexKey(tenant), await gzip(Buffer.from(JSON.stringify(index))));
  return index;
}

/** The tenant's index, or undefined when it has none (callers then fall back to listBlocks). */
export async function readTenantIndex(store: ObjectStore, tenant: string, opts: { maxBytes?: number } = {}): Promise<TenantIndex | undefined> {
  validateTenantID(tenant);
  let data: Uint8Array;
  try {
    data = await store.read(tenantIndexKey(tenant));
  } catch (err) {
    if (codeOf(err) === Code.NotFound) return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    const json = await gunzip(data, { maxOutputLength: opts.maxBytes ?? DEFAULT_MAX_INDEX_BYTES });
    raw = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw errors.invalid(`tenant index ${tenantIndexKey(tenant)} is unreadable: ${(err as Error).message}`);
  }
  const o = raw as Partial<Record<keyof TenantIndex, unknown>>;
  if (typeof o !== 'object' || o === null || typeof o.createdAt !== 'string' || !Array.isArray(o.meta)) {
    throw errors.invalid(`tenant index ${tenantIndexKey(tenant)}: expected {createdAt, meta, compacted}`);
  }
  const compacted = Array.isArray(o.compacted) ? o.compacted : [];
  return {
    createdAt: o.createdAt,
    meta: o.meta.map((m) => checkMeta(m)),
    compacted: compacted.map((m) => {
      const c = m as { compactedTime?: unknown };
      if (typeof c.compactedTime !== 'string') throw errors.invalid(`tenant index ${tenantIndexKey(tenant)}: compacted block without compactedTime`);
      return { ...checkMeta(m), compactedTime: c.compactedTime };
    }),
  };
}

export interface ListBlocksOptions {
  /** meta.json reads in flight at once. Default 16. */
  readonly concurrency?: number;
  /** Called for a block whose meta.json exists but does not parse; the block is left out. */
  readonly onInvalid?: (blockID: string, err: unknown) => void;
}

/**
 * Complete blocks of a tenant, by scanning `<tenant>/<blockID>/meta.json`. A folder without meta.json
 * is a block still being written (or abandoned) and is skipped. Sorted by block ID.
 */
export async function listBlocks(store: ObjectStore, tenant: string, opts: ListBlocksOptions = {}): Promise<BlockMeta[]> {
  validateTenantID(tenant);
  const { prefixes } = await store.list(`${tenant}/`, { delimiter: '/' });
  const ids = prefixes.map((p) => p.slice(tenant.length + 1, -1));
  const out: (BlockMeta | undefined)[] = new Array<BlockMeta | undefined>(ids.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i]!;
      let data: Uint8Array;
      try {
        data = await store.read(`${tenant}/${id}/${META_NAME}`);
      } catch (err) {
        if (codeOf(err) === Code.NotFound) continue;
        throw err;
      }
      try {
        out[i] = parseMeta(data);
      } catch (err) {
        opts.onInvalid?.(id, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 16, ids.length)) }, worker));
  return out.filter((m): m is BlockMeta => m !== undefined);
}
