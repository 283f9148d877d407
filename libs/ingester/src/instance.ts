// One tenant's state inside the ingester: its head block, the cut blocks being built, and the complete
// blocks kept on local disk (queryable) until complete_block_timeout after their flush.

import type { BlockMeta, BlockReader } from '@stave/block';
import type { HeadBlock } from './head-block';

export interface CompleteBlock {
  readonly meta: BlockMeta;
  readonly reader: BlockReader;
  flushedMs: number | undefined;
}

export class TenantInstance {
  head: HeadBlock | undefined;
  readonly completing: HeadBlock[] = [];
  readonly complete: CompleteBlock[] = [];
  liveTraces = 0;

  constructor(readonly tenant: string) {}
}

/** A cut head block to build and flush, or (after replay) a complete block only to flush. */
export type FlushJob = { inst: TenantInstance; head: HeadBlock; complete?: undefined } | { inst: TenantInstance; head?: undefined; complete: CompleteBlock };

/** Where things sit under ingester's WAL path (storage.trace.wal.path). */
export const WAL_SUFFIX = '.wal';
export const COMPLETE_DIR = 'blocks';
export const QUARANTINE_DIR = 'quarantine';
