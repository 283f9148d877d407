// @stave/block: the block format (Parquet + meta.json + trace-ID index + bloom shards), its writer and reader.
// Exports what other packages use; test helpers stay in src/testing/.

export { writeBlock, type BlockTrace, type WriteBlockOptions } from './writer';
export { openBlock, BlockReader, type BlockReaderOptions } from './reader';
export { FORMAT, type BlockMeta, readMeta, hexID, isBlockID } from './meta';
export { readTenantIndex, listBlocks, type ListBlocksOptions, type TenantIndex } from './tenant-index';
export { ByteLru } from './lru';
export { BlockCache, BLOCK_CACHE_KINDS } from './block-cache';
