// @stave/traceql/testing: the conformance dataset, the brute-force reference and the query table, shared
// with other packages' tests (the end-to-end search tests). Never imported by library code.
export {
  generateDataset,
  SERVICES,
  type Dataset,
  type DatasetOptions,
  type FlatAttributes,
  type FlatEvent,
  type FlatKind,
  type FlatLink,
  type FlatSpan,
  type FlatStatus,
  type FlatTrace,
  type FlatValue,
} from './testing/dataset';
export { durationNs, elements, fullMatch, isTrue, ms, num, RefTrace, sec, text, unscoped } from './testing/reference';
export { CONFORMANCE_CASES, expectedTraceIds, type ConformanceCase } from './testing/conformance';
