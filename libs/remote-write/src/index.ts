// @stave/remote-write: Prometheus remote write 1.0 (protobuf + snappy) from a bounded, durable, per-tenant
// on-disk queue with retries and backoff. The metrics-generator appends through SampleAppender.
export type { Labels, SampleAppender, Series } from './types';
export { RemoteWriteMetrics } from './metrics';
export { RemoteWriter, endpointKey, tenantHeaders, type RemoteWriteEndpoint, type RemoteWriterOptions } from './remote-writer';
export { remoteWriterOptions, type GeneratorStorageConfig } from './config';
export { DropReason } from './queue';
export { compress, encodeChunks, uncompress, withoutExemplars, type EncodedChunk } from './encode';
