// @stave/block: the block format (Parquet + meta.json + trace-ID index + bloom shards), its writer and reader.

export { writeBlock, writeOptionsFromConfig, WRITE_DEFAULTS, type BlockTrace, type WriteBlockOptions } from './writer';
export { openBlock, BlockReader, type BlockReaderOptions } from './reader';
export { FORMAT, type BlockMeta, blockPrefix, metaKey, encodeMeta, parseMeta, readMeta, formatNanos, parseNanos, hexID, isBlockID } from './meta';
export {
  writeTenantIndex,
  readTenantIndex,
  listBlocks,
  tenantIndexKey,
  type TenantIndex,
  type CompactedBlockMeta,
  type ListBlocksOptions,
} from './tenant-index';
export { COMPACTED_META_NAME, compactedMetaKey, parseCompactedMeta, markBlockCompacted, clearBlock, scanTenant, type TenantScan } from './compacted';
export { ByteLru } from './lru';
export { bloomSizing, bloomShardOf, BloomShard, ShardedBloomBuilder, type BloomSizing } from './bloom';
export { COLUMN_NAMES } from './layout';
export type { CodecName } from './parquet/compression';
