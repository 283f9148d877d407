// @stave/ingester: WAL, head blocks, block completion and flush, and the ingester's read path. Exported:
// what other packages use (the service and the client interface that binds it in-process or remotely).
export { Ingester, type IngesterOptions } from './ingester';
export { BUDGET_RETRY_AFTER_SECONDS, BudgetReason, budgetReasonOf, compactionJobBytes, WorkMemoryGate } from './budget';
export {
  pushBytesRequest,
  IngesterClientPool,
  remoteIngesterClient,
  searchRequest,
  searchTagsRequest,
  traceByIDRequest,
  type IngesterClient,
  type RemoteClientOptions,
} from './client';
export { PUSH_BYTES_PATH, pushBytesMessage, pushBytesUnaryHandler, type PushPiece } from './push-encoding';
export { compileSearch, ROOT_NOT_YET_RECEIVED, SearchCollector, type TraceSink } from './search';
export { INTRINSIC_TAGS, MAX_TAG_VALUES, parseTagName, TAG_SCOPES, TagsCollector } from './search-tags';
