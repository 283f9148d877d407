// WAL replay on start. Under the WAL path:
//   <tenant>/<blockID>.wal          head or cut blocks not yet built: replayed up to any torn tail, rebuilt
//   blocks/<tenant>/<blockID>/      built blocks: flushed again (meta.json is written last, so a block
//                                   without one is a build that was cut short; its WAL segment rebuilds it)
//   quarantine/                     whatever could not be read, kept for an operator, never deleted
// Only "not found" means absent. Any other error on a file or block is logged with its path, counted
// (tempo_ingester_replay_errors_total) and the data moved to quarantine; an error on a directory the
// replay must read fails start-up, naming it: an ingester that cannot see its WAL must not report ready.

import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LocalStore } from '@stave/backend';
import { isBlockID, openBlock, readMeta, type BlockCache } from '@stave/block';
import { Code, codeOf, type Logger } from '@stave/server';
import { HeadBlock } from './head-block';
import { COMPLETE_DIR, QUARANTINE_DIR, WAL_SUFFIX, type FlushJob, type TenantInstance } from './instance';
import { QuarantineReason, type IngesterMetrics } from './metrics';
import { entryFor } from './push';
import { decodeSegment, WalSegment } from './wal';

export interface ReplayOptions {
  walPath: string;
  completeStore: LocalStore;
  /** Shared by the readers of every complete block (bloom shards and index pages). */
  blockCache: BlockCache;
  metrics: IngesterMetrics;
  log: Logger;
  instance: (tenant: string) => TenantInstance;
  /** Receives every replayed block, in order, to build and/or flush. */
  enqueue: (job: FlushJob) => void;
}

/** Replays everything under the WAL path. Rejects (naming the path) when a directory cannot be read. */
export async function replayWal(opts: ReplayOptions): Promise<void> {
  const root = opts.walPath;
  try {
    await mkdir(root, { recursive: true });
  } catch (err) {
    throw dirError(root, 'create', err);
  }
  const builtIDs = await replayBuiltBlocks(opts);
  for (const tenant of await listDirs(root)) {
    if (tenant === COMPLETE_DIR || tenant === QUARANTINE_DIR) continue;
    const dir = path.join(root, tenant);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw dirError(dir, 'read', err);
    }
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        await replaySegment(opts, tenant, file, builtIDs);
      } catch (err) {
        // A file that cannot be read (EIO, EACCES, ...) is kept, never taken for empty.
        if (isAbsent(err)) continue;
        await quarantine(opts, tenant, file, QuarantineReason.Corrupt, `unreadable: ${(err as Error).message}`);
      }
    }
  }
}

/** Built blocks go back on the flush queue; returns the IDs of those that are whole. */
async function replayBuiltBlocks(opts: ReplayOptions): Promise<Set<string>> {
  const whole = new Set<string>();
  const blocksRoot = path.join(opts.walPath, COMPLETE_DIR);
  for (const tenant of await listDirs(blocksRoot)) {
    for (const blockID of await listDirs(path.join(blocksRoot, tenant))) {
      const dir = path.join(blocksRoot, tenant, blockID);
      try {
        const meta = await readMeta(opts.completeStore, tenant, blockID);
        const inst = opts.instance(tenant);
        const complete = { meta, reader: openBlock(opts.completeStore, meta, { cache: opts.blockCache }), flushedMs: undefined };
        inst.complete.push(complete);
        opts.enqueue({ inst, complete });
        whole.add(blockID);
      } catch (err) {
        if (isAbsent(err) && (await exists(path.join(opts.walPath, tenant, blockID + WAL_SUFFIX)))) {
          // A build cut short (meta.json is written last): its WAL segment is still there and rebuilds it.
          await rm(dir, { recursive: true, force: true });
          continue;
        }
        // Unreadable meta, or no meta and no segment: the block may hold the only copy of its traces.
        await quarantine(opts, tenant, dir, QuarantineReason.UnreadableBlock, `meta.json: ${(err as Error).message}`);
      }
    }
  }
  return whole;
}

async function replaySegment(opts: ReplayOptions, tenant: string, file: string, builtIDs: ReadonlySet<string>): Promise<void> {
  const name = path.basename(file);
  const blockID = name.slice(0, -WAL_SUFFIX.length);
  const st = await stat(file);
  if (!st.isFile() || !name.endsWith(WAL_SUFFIX) || !isBlockID(blockID)) {
    await quarantine(opts, tenant, file, QuarantineReason.NotASegment, 'not a WAL segment');
    return;
  }
  // Nothing was ever acknowledged from an empty segment; a built block supersedes its segment.
  if (st.size === 0 || builtIDs.has(blockID)) {
    await rm(file, { force: true });
    return;
  }
  const res = decodeSegment(await readFile(file));
  if (res.tear) {
    opts.metrics.walCorrupt.inc();
    opts.log.warn('WAL segment has a torn or corrupt tail; replaying the records before it', {
      file,
      offset: res.tear.offset,
      reason: res.tear.reason,
      records: res.records.length,
    });
    if (res.records.length === 0) {
      await quarantine(opts, tenant, file, QuarantineReason.Corrupt, res.tear.reason);
      return;
    }
  }
  const seg = await WalSegment.open(file, res.validBytes);
  const inst = opts.instance(tenant);
  const head = new HeadBlock(tenant, blockID, seg, st.mtimeMs);
  for (const r of res.records) {
    const e = entryFor(head, r, 0);
    head.addPart(e, { offset: r.dataOffset, length: r.data.length });
    e.bytes += r.data.length;
    head.dataBytes += r.data.length;
  }
  opts.metrics.walReplayed.inc(res.records.length);
  opts.log.info('replayed WAL segment', { tenant, block: blockID, records: res.records.length, traces: head.traces.size });
  inst.completing.push(head);
  opts.enqueue({ inst, head });
}

/** Moves a file or block directory into quarantine/, counted and logged; the data is kept. */
async function quarantine(opts: ReplayOptions, tenant: string, file: string, reason: QuarantineReason, detail: string): Promise<void> {
  const dir = path.join(opts.walPath, QUARANTINE_DIR);
  await mkdir(dir, { recursive: true });
  const dest = path.join(dir, `${Date.now()}-${tenant}-${path.basename(file)}`);
  await rename(file, dest);
  opts.metrics.walQuarantined.inc({ reason });
  opts.metrics.replayErrors.inc({ tenant });
  opts.log.warn('moved an unreadable file out of the WAL', { file, moved_to: dest, reason, detail });
}

/** Subdirectories of `dir`; none when it does not exist. Any other error fails the replay. */
async function listDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if (isAbsent(err)) return [];
    throw dirError(dir, 'read', err);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (isAbsent(err)) return false;
    throw err;
  }
}

/** "Not found", from the file system or an object store: the only error that means absent. */
function isAbsent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' || codeOf(err) === Code.NotFound;
}

function dirError(dir: string, verb: string, err: unknown): Error {
  return new Error(`cannot ${verb} WAL directory ${dir} (storage.trace.wal.path): ${(err as Error).message}`, { cause: err });
}
