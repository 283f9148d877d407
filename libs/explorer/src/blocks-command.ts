// `stave blocks list` and `stave blocks inspect <blockID>`: the blocks of the backend named by a config
// file (`storage.trace`), read straight from object storage — meta.json of each block, the objects under
// it, and whether the compactor has marked it compacted. Scanning many blocks shows a progress bar.

import { COMPACTED_META_NAME, readMeta, type BlockMeta } from '@stave/block';
import type { ObjectStore } from '@stave/backend';
import { Code, codeOf, validateTenantID } from '@stave/core';
import { formatDuration } from './trace-model';
import { outputFormat, parseCommandArgs, Progress, table, UsageError, type CommandIO } from './terminal';

export const BLOCKS_USAGE = `Usage:
  stave blocks list [--tenant <id>] [--output json|table] -config.file=<path> [-<config.key>=<value> ...]
  stave blocks inspect <block-id> --tenant <id> [--output json|table] -config.file=<path>

  Reads the backend of storage.trace in the config (local, s3, gcs or azure) directly.
  list      every block of a tenant (or of every tenant), from each block's meta.json
  inspect   one block: its meta.json, the objects it is made of, and its compaction mark
  --tenant  the tenant; list without it covers every tenant; inspect defaults to single-tenant when
            multitenancy_enabled is false
  --output  table (default) or json
`;

const VALUED = new Set(['tenant', 'output', 'o']);
/** meta.json reads in flight at once. */
const CONCURRENCY = 16;

export interface ListedBlock {
  meta: BlockMeta;
  /** Marked compacted (meta.compacted.json present): kept until compacted_block_retention, then deleted. */
  compacted: boolean;
}

async function exists(store: ObjectStore, key: string): Promise<boolean> {
  try {
    await store.stat(key);
    return true;
  } catch (e) {
    if (codeOf(e) === Code.NotFound) return false;
    throw e;
  }
}

/** The block IDs (folders) of each tenant, then each block's meta.json, `CONCURRENCY` at a time. */
export async function scanBlocks(store: ObjectStore, tenants: readonly string[], progress?: Progress): Promise<{ blocks: ListedBlock[]; skipped: string[] }> {
  const ids: Array<[string, string]> = [];
  for (const tenant of tenants) {
    const { prefixes } = await store.list(`${tenant}/`, { delimiter: '/' });
    for (const p of prefixes) ids.push([tenant, p.slice(tenant.length + 1, -1)]);
  }
  progress?.setTotal(ids.length);
  const found: Array<ListedBlock | undefined> = new Array<ListedBlock | undefined>(ids.length);
  const skipped: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      const [tenant, id] = ids[i]!;
      try {
        const meta = await readMeta(store, tenant, id);
        found[i] = { meta, compacted: await exists(store, `${tenant}/${id}/${COMPACTED_META_NAME}`) };
      } catch (e) {
        // A folder without meta.json is a block being written, or not a block (index.json.gz sits beside).
        if (codeOf(e) !== Code.NotFound) skipped.push(`${tenant}/${id}: ${e instanceof Error ? e.message : String(e)}`);
      }
      progress?.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(CONCURRENCY, ids.length)) }, worker));
  return { blocks: found.filter((b): b is ListedBlock => b !== undefined), skipped };
}

/** Tenants: the top-level folders of the bucket. */
async function allTenants(store: ObjectStore): Promise<string[]> {
  const { prefixes } = await store.list('', { delimiter: '/' });
  return prefixes.map((p) => p.slice(0, -1));
}

const mib = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

function span(meta: BlockMeta): string {
  const ms = Date.parse(meta.endTime) - Date.parse(meta.startTime);
  return Number.isFinite(ms) ? formatDuration(ms * 1e6) : '';
}

function listTable(blocks: readonly ListedBlock[]): string {
  const rows = blocks.map(({ meta, compacted }) => [
    meta.tenantID,
    meta.blockID,
    meta.startTime.replace(/\.\d+Z$/, 'Z'),
    span(meta),
    String(meta.totalObjects),
    String(meta.totalSpans),
    mib(meta.size),
    String(meta.compactionLevel),
    compacted ? 'compacted' : '',
  ]);
  const traces = blocks.reduce((n, b) => n + b.meta.totalObjects, 0);
  const bytes = blocks.reduce((n, b) => n + b.meta.size, 0);
  return (
    table(['tenant', 'block id', 'start', 'span', 'traces', 'spans', 'size', 'level', 'state'], rows, new Set([3, 4, 5, 6, 7])) +
    `${blocks.length} blocks, ${traces} traces, ${mib(bytes)}\n`
  );
}

async function inspect(
  store: ObjectStore,
  tenant: string,
  blockID: string,
): Promise<{ meta: BlockMeta; compacted: boolean; objects: Array<{ key: string; size: number }> }> {
  const meta = await readMeta(store, tenant, blockID);
  const { objects } = await store.list(`${tenant}/${blockID}/`);
  const sized = await Promise.all(objects.map(async (key) => ({ key: key.slice(`${tenant}/${blockID}/`.length), size: (await store.stat(key)).size })));
  return { meta, compacted: sized.some((o) => o.key === COMPACTED_META_NAME), objects: sized };
}

function inspectTable(r: Awaited<ReturnType<typeof inspect>>): string {
  const m = r.meta;
  const facts: Array<[string, string]> = [
    ['block', m.blockID],
    ['tenant', m.tenantID],
    ['format', m.format],
    ['state', r.compacted ? 'compacted (awaiting deletion)' : 'live'],
    ['time', `${m.startTime} .. ${m.endTime} (${span(m)})`],
    ['traces', String(m.totalObjects)],
    ['spans', String(m.totalSpans)],
    ['trace ids', `${m.minID} .. ${m.maxID}`],
    ['data.parquet', `${mib(m.size)}, ${m.rowGroups} row groups, footer ${mib(m.footerSize)}, ${m.encoding}`],
    ['index', `${mib(m.indexSize)}, ${m.indexPageFirstIDs.length} pages`],
    ['bloom shards', String(m.bloomShards)],
    ['compaction level', String(m.compactionLevel)],
  ];
  if (m.replicationFactor !== undefined) facts.push(['replication factor', String(m.replicationFactor)]);
  const w = Math.max(...facts.map(([k]) => k.length));
  return (
    facts.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') +
    '\n\n' +
    table(
      ['object', 'size'],
      r.objects.map((o) => [o.key, String(o.size)]),
      new Set([1]),
    )
  );
}

/**
 * Runs `stave blocks ...` (argv after `blocks`, config flags removed) on `store`; `defaultTenant` is the
 * tenant of a single-tenant setup. Resolves with the exit code: 0 ok, 1 failed, 2 usage.
 */
export async function runBlocksCommand(argv: readonly string[], store: ObjectStore, defaultTenant: string | undefined, io: CommandIO): Promise<number> {
  try {
    const { flags, positional } = parseCommandArgs(argv, VALUED);
    if (flags.has('help') || flags.has('h')) {
      io.out(BLOCKS_USAGE);
      return 0;
    }
    const [what, arg, ...extra] = positional;
    if (what !== 'list' && what !== 'inspect')
      throw new UsageError(what === undefined ? 'stave blocks needs list or inspect' : `unknown blocks command "${what}"`);
    const output = outputFormat(flags);
    const given = flags.get('tenant');
    if (given !== undefined) validateTenantID(given);
    if (what === 'list') {
      if (arg !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      const tenants = given !== undefined ? [given] : await allTenants(store);
      const progress = new Progress(io, 'reading block metas', 0);
      const { blocks, skipped } = await scanBlocks(store, tenants, progress);
      progress.finish();
      for (const s of skipped) io.err(`skipped ${s}\n`);
      blocks.sort(
        (a, b) =>
          a.meta.tenantID.localeCompare(b.meta.tenantID) || a.meta.startTime.localeCompare(b.meta.startTime) || a.meta.blockID.localeCompare(b.meta.blockID),
      );
      io.out(output === 'json' ? JSON.stringify(blocks, null, 2) + '\n' : listTable(blocks));
      return 0;
    }
    if (arg === undefined) throw new UsageError('stave blocks inspect needs a block ID');
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const tenant = given ?? defaultTenant;
    if (tenant === undefined) throw new UsageError('stave blocks inspect needs --tenant (multitenancy is enabled)');
    let r;
    try {
      r = await inspect(store, tenant, arg);
    } catch (e) {
      if (codeOf(e) !== Code.NotFound) throw e;
      io.err(`block ${arg} of tenant ${tenant} not found (no ${tenant}/${arg}/meta.json)\n`);
      return 1;
    }
    io.out(output === 'json' ? JSON.stringify(r, null, 2) + '\n' : inspectTable(r));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${BLOCKS_USAGE}`);
      return 2;
    }
    io.err(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
