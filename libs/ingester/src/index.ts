// @stave/ingester: WAL, head blocks, block completion and flush, and the ingester's read path.
export { Ingester, type IngesterOptions } from './ingester';
export {
  pushBytesRequest,
  remoteIngesterClient,
  traceByIDRequest,
  type IngesterClient,
  type PushBytesInit,
  type RemoteClientOptions,
  type TraceByIDInit,
} from './client';
export { WalSegment, decodeSegment, encodeRecord, type RecordRef, type ReplayResult, type WalRecord } from './wal';
