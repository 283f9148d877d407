// @stave/compactor: compaction (a streaming k-way merge of blocks by trace ID), job selection as Tempo
// groups blocks, retention, and the tenant index. See docs/compactor.md.

export { Compactor, type CompactorConfig, type CompactorOptions, type CycleReport, type JobResult } from './compactor';
export { mergeByTraceID, newMergeStats, writeMergedBlock, type MergeJob, type MergeStats } from './merge';
export { MergeWorker, type MergeRunner } from './merge-worker-client';
export { selectCompactionJobs, blockEndMs, DEFAULT_MAX_INPUT_BLOCKS, DEFAULT_MIN_INPUT_BLOCKS, type CompactionJob, type SelectorOptions } from './selector';
export { CompactorMetrics } from './metrics';
