// @stave/block/testing: test support shared with other packages' tests (never imported by library code).

export { CountingStore, FailingStore } from './testing/stores';
export { absentTraceIDs, addLegacyHttpAttributes, realisticTraces, realisticTraceStream, countSpans, Rng } from './testing/realistic-traces';
export { traceArb } from './testing/arbitraries';
export { decodeEncodedTrace, encodeTrace } from './testing/codec';
export { scannedRows } from './testing/rows';
