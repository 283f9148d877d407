// Compacted blocks, as Tempo marks them: `<tenant>/<blockID>/meta.compacted.json` is the block's meta plus
// `compactedTime`, and meta.json is gone. From then on pollers (listBlocks) no longer see the block, but its
// objects stay readable for `compacted_block_retention`, so a querier holding an older blocklist can still
// finish its reads; then the block is cleared.
//
// Order, and what a crash at each step leaves:
//   mark:  write meta.compacted.json, then delete meta.json. A crash between leaves both: the block still
//          looks live to listBlocks (as in Tempo), and scanTenant reports it `halfMarked` so the compactor
//          finishes the job. A marker is written only once the block's spans live in another visible block
//          (or the block is past retention), so nothing is lost either way.
//   clear: meta.json (if any), the data objects, meta.compacted.json last. A crash part-way leaves a marker
//          (cleared again next time) or, at worst, an orphan folder with no meta at all.

import type { ObjectStore } from '@stave/backend';
import { Code, codeOf, errors, validateTenantID } from '@stave/core';
import { type BlockMeta, blockPrefix, checkMeta, encodeMeta, META_NAME, parseMeta } from './meta';
import type { CompactedBlockMeta } from './tenant-index';

export const COMPACTED_META_NAME = 'meta.compacted.json';

export function compactedMetaKey(tenant: string, blockID: string): string {
  return `${tenant}/${blockID}/${COMPACTED_META_NAME}`;
}

export function parseCompactedMeta(data: Uint8Array | string): CompactedBlockMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw errors.invalid(`${COMPACTED_META_NAME} is not JSON: ${(err as Error).message}`);
  }
  const t = (raw as { compactedTime?: unknown } | null)?.compactedTime;
  if (typeof t !== 'string') throw errors.invalid(`${COMPACTED_META_NAME}: compactedTime must be a string`);
  return { ...checkMeta(raw), compactedTime: t };
}

/** Marks a block compacted (marker first, then meta.json deleted). Idempotent. */
export async function markBlockCompacted(store: ObjectStore, meta: BlockMeta, now: Date = new Date()): Promise<CompactedBlockMeta> {
  validateTenantID(meta.tenantID);
  const compacted: CompactedBlockMeta = { ...meta, compactedTime: now.toISOString() };
  await store.write(compactedMetaKey(meta.tenantID, meta.blockID), encodeMeta(compacted));
  await store.delete(`${blockPrefix(meta.tenantID, meta.blockID)}${META_NAME}`);
  return compacted;
}

/**
 * Deletes every object of a block: meta.json first (invisible at once), the data next, the compacted
 * marker last (so a crash part-way leaves something the next sweep recognises). Returns objects deleted.
 */
export async function clearBlock(store: ObjectStore, tenant: string, blockID: string): Promise<number> {
  validateTenantID(tenant);
  const prefix = blockPrefix(tenant, blockID);
  const { objects } = await store.list(prefix);
  const meta = prefix + META_NAME;
  const marker = prefix + COMPACTED_META_NAME;
  if (objects.includes(meta)) await store.delete(meta);
  const rest = objects.filter((k) => k !== meta && k !== marker);
  for (let i = 0; i < rest.length; i += 16) await Promise.all(rest.slice(i, i + 16).map((k) => store.delete(k)));
  if (objects.includes(marker)) await store.delete(marker);
  return objects.length;
}

/** Everything a compactor needs to know about a tenant's blocks, from one listing of the tenant. */
export interface TenantScan {
  /** Live blocks (meta.json and no marker), sorted by block ID. */
  readonly metas: BlockMeta[];
  /** Compacted blocks (marker, no meta.json), sorted by block ID. */
  readonly compacted: CompactedBlockMeta[];
  /** Blocks with both meta.json and a marker: a mark interrupted part-way (finish it). */
  readonly halfMarked: CompactedBlockMeta[];
  /** Block folders with neither: being written, or left by a crash. */
  readonly noMeta: string[];
  /** Folders whose meta does not parse (left alone and reported). */
  readonly invalid: { blockID: string; err: unknown }[];
}

/**
 * Lists a tenant once (all keys under `<tenant>/`) and reads the meta of each block folder. One listing
 * instead of a listing per block: on object stores a recursive list costs one request per 1000 keys.
 */
export async function scanTenant(store: ObjectStore, tenant: string, opts: { concurrency?: number } = {}): Promise<TenantScan> {
  validateTenantID(tenant);
  const { objects } = await store.list(`${tenant}/`);
  const folders = new Map<string, { meta: boolean; marker: boolean }>();
  for (const key of objects) {
    const rest = key.slice(tenant.length + 1);
    const slash = rest.indexOf('/');
    if (slash < 0) continue; // index.json.gz and other tenant-level objects
    const id = rest.slice(0, slash);
    const name = rest.slice(slash + 1);
    const f = folders.get(id) ?? { meta: false, marker: false };
    if (name === META_NAME) f.meta = true;
    else if (name === COMPACTED_META_NAME) f.marker = true;
    folders.set(id, f);
  }
  const scan: TenantScan = { metas: [], compacted: [], halfMarked: [], noMeta: [], invalid: [] };
  const ids = [...folders.keys()].sort();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const f = folders.get(id)!;
      try {
        if (f.marker) {
          const c = parseCompactedMeta(await store.read(compactedMetaKey(tenant, id)));
          (f.meta ? scan.halfMarked : scan.compacted).push(c);
        } else if (f.meta) {
          scan.metas.push(parseMeta(await store.read(`${tenant}/${id}/${META_NAME}`)));
        } else {
          scan.noMeta.push(id);
        }
      } catch (err) {
        // Deleted between the listing and the read: it is simply gone.
        if (codeOf(err) === Code.NotFound) continue;
        if (codeOf(err) === Code.InvalidArgument) scan.invalid.push({ blockID: id, err });
        else throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 16, ids.length)) }, worker));
  const byID = (a: { blockID: string }, b: { blockID: string }) => (a.blockID < b.blockID ? -1 : a.blockID > b.blockID ? 1 : 0);
  scan.metas.sort(byID);
  scan.compacted.sort(byID);
  scan.halfMarked.sort(byID);
  scan.noMeta.sort();
  return scan;
}
