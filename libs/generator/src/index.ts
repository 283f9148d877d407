// @stave/generator: the metrics-generator — span-metrics and service-graphs processors, the per-tenant
// registry that collects their series, and the MetricsGenerator service and its clients. See
// docs/metrics-generator.md.
export { Generator, type GeneratorOptions } from './generator';
export { GeneratorHost, generatorWorkerAvailable, type GeneratorApi } from './generator-host';
export { TenantInstance, type GeneratorConfig, type TenantOverrides } from './instance';
export { generatorHandlers, inProcessGeneratorClient, remoteGeneratorClient, type GeneratorClient, type RemoteGeneratorClientOptions } from './client';
export { GeneratorDiscardReason } from './metrics';
export { PROCESSORS, SERVICE_GRAPHS, SPAN_METRICS, type ProcessorName } from './processors/processor';
export { DEFAULT_SPAN_METRICS_BUCKETS, type IntrinsicDimensions } from './processors/span-metrics';
export { DEFAULT_PEER_ATTRIBUTES, DEFAULT_SERVICE_GRAPHS_BUCKETS } from './processors/service-graphs';
