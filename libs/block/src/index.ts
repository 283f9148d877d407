// @stave/block: the block format (Parquet + meta.json + trace-ID index + bloom shards), its writer and reader.
// Exports what other packages use; test helpers stay in src/testing/.

export { writeBlock, type BlockTrace, type WriteBlockOptions } from './writer';
export { checkRowGroupRange, openBlock, BlockReader, type BlockReaderOptions, type RowGroupRange } from './reader';
export { WireTraceMerger, type WireMergeRules } from './trace-merge';
export { FORMAT, type BlockMeta, readMeta, encodeMeta, parseMeta, hexID, isBlockID, parseNanos } from './meta';
export { MAX_HEADER_CACHE_BYTES, OtlpTraceCombiner, OtlpTranscoder } from './otlp-transcode';
export { readTenantIndex, writeTenantIndex, listBlocks, type CompactedBlockMeta, type ListBlocksOptions, type TenantIndex } from './tenant-index';
export { COMPACTED_META_NAME, markBlockCompacted, clearBlock, scanTenant, type TenantScan } from './compacted';
export { ByteLru } from './lru';
export { BlockCache, BLOCK_CACHE_DEFAULTS, BLOCK_CACHE_KINDS, TracePage } from './block-cache';
export { blockTagValues, planQuery, searchBlock, searchBlockTraces, hasSearchColumns, type BlockSearchOptions, type BlockSearchStats } from './block-search';
