// Tenant and block helpers over any ObjectStore. The layout is Tempo's:
//   <tenant>/<blockID>/{meta.json, data.parquet, index, bloom-0..n}   and   <tenant>/index.json.gz

import type { ObjectStore } from './object-store';

/** Tenants with anything stored: the top-level "folders". */
export async function listTenants(store: ObjectStore): Promise<string[]> {
  const { prefixes } = await store.list('', { delimiter: '/' });
  return prefixes.map((p) => p.slice(0, -1));
}

/** Block IDs (folders) under a tenant, complete or not: a block is complete once its meta.json exists. */
export async function listBlockIDs(store: ObjectStore, tenant: string): Promise<string[]> {
  const { prefixes } = await store.list(`${tenant}/`, { delimiter: '/' });
  return prefixes.map((p) => p.slice(tenant.length + 1, -1));
}

export function blockObjectKey(tenant: string, blockID: string, name: string): string {
  return `${tenant}/${blockID}/${name}`;
}

/**
 * Deletes every object of a block. meta.json goes first: from then on pollers no longer see the block,
 * so a crash half-way leaves an orphan folder to clean, never a visible block with missing parts.
 */
export async function deleteBlockObjects(store: ObjectStore, tenant: string, blockID: string): Promise<number> {
  const prefix = `${tenant}/${blockID}/`;
  const { objects } = await store.list(prefix);
  const meta = `${prefix}meta.json`;
  if (objects.includes(meta)) await store.delete(meta);
  const rest = objects.filter((k) => k !== meta);
  for (let i = 0; i < rest.length; i += 16) await Promise.all(rest.slice(i, i + 16).map((k) => store.delete(k)));
  return objects.length;
}

const COPY_CHUNK_BYTES = 8 * 1024 * 1024;

async function* chunksOf(store: ObjectStore, key: string): AsyncIterable<Uint8Array> {
  const { size } = await store.stat(key);
  for (let off = 0; off < size; off += COPY_CHUNK_BYTES) yield store.readRange(key, off, Math.min(COPY_CHUNK_BYTES, size - off));
}

/**
 * Copies every object of a block to another store in bounded chunks, meta.json last: a block without its
 * meta.json is not a block, so a partial copy is never seen. Copying again overwrites (same block ID).
 */
export async function copyBlockObjects(from: ObjectStore, to: ObjectStore, tenant: string, blockID: string): Promise<void> {
  const prefix = `${tenant}/${blockID}/`;
  const { objects } = await from.list(prefix);
  const meta = `${prefix}meta.json`;
  for (const key of [...objects.filter((k) => k !== meta), ...objects.filter((k) => k === meta)]) await to.write(key, chunksOf(from, key));
}
