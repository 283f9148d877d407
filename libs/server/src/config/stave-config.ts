// Stave's configuration, declared once: every key, its type and its default. Key names and defaults are
// Tempo 2.x's wherever the concept is the same, so an existing Tempo config loads unchanged. Every key is
// one of four kinds, and services/stave/src/config-keys.test.ts holds each to it:
// - read by the code that does what Tempo does with it;
// - `c.ignored(why)`: a Tempo key Stave will not implement; setting it warns, naming it;
// - `c.pending(field, why)`: a key Stave will honour but does not yet (its component has not landed);
//   typed, validated and shown in /status/config, and setting it warns that it is not in effect yet;
// - `c.only(value, ...)`: Tempo's setting where Stave does exactly one thing; Tempo's other values load
//   with a warning and are replaced by Stave's, so /status/config shows what Stave does.
// Defaults that differ from Tempo's, and why:
// - server.http_listen_port 3200 (Tempo's examples and Helm chart use 3200; the Go default is 80).
// - storage.trace.backend `local` with paths under ./data, so `stave` with no config file just runs.
// - storage.trace.block.version `vStave2`: the only block format Stave writes (libs/block FORMAT; it reads vStave1 too).
// - server.http_server_write_timeout 0 (off; Tempo 30s): Stave's /flush answers once every block is
//   flushed, which can take minutes.

const MERGE_BUFFERS = 'compaction streams pages; its memory is set by storage.trace.block.row_group_size_bytes and max_compaction_objects';
const SEARCH = 'lands with search';
const BLOCKLIST = 'the blocklist poller is not tunable yet: it polls tenants one at a time, each from its tenant index, else by listing';
const TEMPO_NETWORKS = ['tcp4', 'tcp6'];

import { c, type Infer } from './schema';

const endpoint = (def: string) => c.object({ endpoint: c.hostPort(def), tls: c.ignored(), include_metadata: c.ignored() });

const ringKv = c.object({
  store: c.enum(['inmemory', 'memberlist'], 'memberlist'),
  prefix: c.string('collectors/'),
  consul: c.ignored(),
  etcd: c.ignored(),
  multi: c.ignored(),
});

/** The shape dskit's ring config has for every component's ring. */
const basicRingShape = {
  kvstore: ringKv,
  heartbeat_period: c.duration('5s'),
  heartbeat_timeout: c.duration('1m'),
  instance_id: c.string(''),
  instance_addr: c.string(''),
  instance_port: c.int(0, { min: 0, max: 65535 }),
  instance_interface_names: c.list(c.string()),
  instance_availability_zone: c.string(''),
  enable_inet6: c.ignored(),
};
const basicRing = c.object(basicRingShape);

/** Tempo's compactor ring adds waiting for the ring to settle before the first compaction cycle. */
const compactorRing = c.object({
  ...basicRingShape,
  wait_stability_min_duration: c.duration('1m', 'the compactor ring must be unchanged this long before compacting starts; 0 disables'),
  wait_stability_max_duration: c.duration('5m', 'compacting starts after this even if the ring keeps changing'),
  wait_active_instance_timeout: c.duration('10m', 'how long to wait for this compactor to be ACTIVE in the ring'),
});

export const serverSection = c.object({
  http_listen_network: c.only('tcp', TEMPO_NETWORKS, 'Stave listens on'),
  http_listen_address: c.string(''),
  http_listen_port: c.int(3200, { min: 0, max: 65535 }),
  grpc_listen_network: c.only('tcp', TEMPO_NETWORKS, 'Stave listens on'),
  grpc_listen_address: c.string(''),
  grpc_listen_port: c.int(9095, { min: 0, max: 65535 }),
  http_listen_conn_limit: c.ignored(),
  grpc_listen_conn_limit: c.ignored(),
  http_tls_config: c.ignored(),
  grpc_tls_config: c.ignored(),
  register_instrumentation: c.bool(true),
  graceful_shutdown_timeout: c.duration('30s'),
  http_server_read_timeout: c.duration('30s'),
  http_server_write_timeout: c.duration('0s'),
  http_server_idle_timeout: c.duration('2m'),
  grpc_server_max_recv_msg_size: c.int(16 * 1024 * 1024, { min: 1 }),
  grpc_server_max_send_msg_size: c.int(16 * 1024 * 1024, { min: 1 }),
  grpc_server_max_concurrent_streams: c.int(100, { min: 1 }),
  grpc_server_max_connection_idle: c.ignored(),
  grpc_server_max_connection_age: c.ignored(),
  grpc_server_max_connection_age_grace: c.ignored(),
  grpc_server_keepalive_time: c.ignored(),
  grpc_server_keepalive_timeout: c.ignored(),
  log_format: c.enum(['logfmt', 'json'], 'json'),
  log_level: c.enum(['debug', 'info', 'warn', 'error'], 'info'),
  log_source_ips_enabled: c.ignored(),
  http_path_prefix: c.string(''),
  // Stave's own: keep every thread but the event loop off one CPU where an ingester runs, lifted while block
  // building needs it (libs/core/src/event-loop-cpu.ts, docs/configuration.md).
  reserve_event_loop_cpu: c.bool(true),
});

const otlpReceiver = c.optional(
  c.object({
    protocols: c.object({
      grpc: c.optional(endpoint('0.0.0.0:4317')),
      http: c.optional(endpoint('0.0.0.0:4318')),
    }),
  }),
);

const jaegerReceiver = c.optional(
  c.object({
    protocols: c.object({
      grpc: c.optional(endpoint('0.0.0.0:14250')),
      thrift_http: c.optional(endpoint('0.0.0.0:14268')),
      thrift_compact: c.optional(endpoint('0.0.0.0:6831')),
      thrift_binary: c.optional(endpoint('0.0.0.0:6832')),
    }),
  }),
);

export const distributorSection = c.object({
  // A receiver runs only when it is listed, as in Tempo (the collector's receiver config shape).
  receivers: c.object({
    otlp: otlpReceiver,
    jaeger: jaegerReceiver,
    zipkin: c.optional(endpoint('0.0.0.0:9411')),
    opencensus: c.ignored(),
    kafka: c.ignored(),
  }),
  ring: basicRing,
  log_received_spans: c.pending(
    c.object({
      enabled: c.bool(false),
      include_all_attributes: c.bool(false),
      filter_by_status_error: c.bool(false),
    }),
    'logging received spans is not implemented yet',
  ),
  log_discarded_spans: c.ignored(),
  metric_received_spans: c.ignored(),
  forwarders: c.ignored(),
  extend_writes: c.bool(true),
  retry_after_on_resource_exhausted: c.duration('0s'),
  max_span_attr_byte: c.pending(c.int(2048, { min: 0 }), 'attribute values are not truncated yet'),
});

export const ingesterSection = c.object({
  lifecycler: c.object({
    address: c.string(''),
    port: c.int(0, { min: 0, max: 65535 }),
    id: c.string(''),
    ring: c.object({
      kvstore: ringKv,
      heartbeat_timeout: c.duration('5m'),
      replication_factor: c.int(1, { min: 1 }),
      zone_awareness_enabled: c.bool(false),
      excluded_zones: c.string(''),
    }),
    num_tokens: c.int(128, { min: 1 }),
    heartbeat_period: c.duration('5s'),
    heartbeat_timeout: c.ignored('readiness and ring health use ingester.lifecycler.ring.heartbeat_timeout'),
    observe_period: c.duration('0s'),
    join_after: c.ignored('an ingester joins its ring at once; tokens are not handed over from a leaving ingester'),
    min_ready_duration: c.duration('15s'),
    interface_names: c.list(c.string(), () => ['eth0', 'en0']),
    enable_inet6: c.bool(false),
    final_sleep: c.duration('0s'),
    tokens_file_path: c.string(''),
    availability_zone: c.string(''),
    unregister_on_shutdown: c.bool(true),
    readiness_check_ring_health: c.bool(true),
  }),
  concurrent_flushes: c.int(4, { min: 1 }),
  flush_check_period: c.duration('10s'),
  flush_op_timeout: c.duration('5m'),
  trace_idle_period: c.duration('10s'),
  max_block_duration: c.duration('30m'),
  max_block_bytes: c.int(500 * 1024 * 1024, { min: 1 }),
  complete_block_timeout: c.duration('15m'),
  override_ring_key: c.string('ring'),
  flush_all_on_shutdown: c.bool(false),
  // Stave's own byte budgets (Tempo 2.x ingesters bound live traces by count only; the first name is the
  // one Tempo gives the same budget in its local-blocks processor). 0 turns a budget off. What a push adds
  // is indexed in memory until its block is built, so these bound the write path's memory: past
  // max_live_traces_bytes of head blocks the largest is cut early; a push that would take the WAL bytes
  // not yet built into a block past max_wal_backlog_bytes is refused (429/503, libs/ingester/src/budget.ts).
  max_live_traces_bytes: c.int(256 * 1024 * 1024, { min: 0 }),
  max_wal_backlog_bytes: c.int(512 * 1024 * 1024, { min: 0 }),
  // Block builds at once and their row group size fit this (libs/ingester/src/budget.ts, buildPlan).
  max_block_building_bytes: c.int(128 * 1024 * 1024, { min: 0 }),
});

export const querierSection = c.object({
  search: c.object({
    query_timeout: c.duration('30s'),
    prefer_self: c.ignored('it only divides jobs between this querier and querier.search.external_endpoints, which Stave does not call'),
    external_endpoints: c.ignored(),
    external_hedge_requests_at: c.ignored(),
    external_hedge_requests_up_to: c.ignored(),
    external_backend: c.ignored(),
  }),
  trace_by_id: c.object({ query_timeout: c.duration('10s') }),
  metrics: c.ignored(),
  max_concurrent_queries: c.int(20, { min: 1 }),
  frontend_worker: c.object({
    frontend_address: c.string(''),
    parallelism: c.int(2, { min: 1 }),
    match_max_concurrent: c.bool(true),
    grpc_client_config: c.ignored(),
    dns_lookup_duration: c.duration('10s', 'how often frontend_address is resolved again'),
  }),
  shuffle_sharding_ingesters_enabled: c.ignored(),
  shuffle_sharding_ingesters_lookback_period: c.ignored(),
  query_relevant_ingesters: c.bool(false),
  secondary_ingester_ring: c.ignored(),
});

export const queryFrontendSection = c.object({
  max_outstanding_per_tenant: c.int(2000, { min: 1 }),
  querier_forget_delay: c.ignored(),
  max_batch_size: c.int(5, { min: 1 }),
  max_retries: c.int(2, { min: 0 }),
  search: c.object({
    concurrent_jobs: c.int(1000, { min: 1 }),
    target_bytes_per_job: c.int(100 * 1024 * 1024, { min: 1 }),
    default_result_limit: c.int(20, { min: 1 }),
    max_result_limit: c.int(0, { min: 0 }),
    max_duration: c.duration('168h'),
    query_backend_after: c.duration('15m'),
    query_ingesters_until: c.duration('30m'),
    ingester_shards: c.int(3, { min: 1 }),
    max_spans_per_span_set: c.int(100, { min: 0 }),
  }),
  trace_by_id: c.object({
    query_shards: c.int(50, { min: 2, max: 100_000 }),
    hedge_requests_at: c.duration('2s'),
    hedge_requests_up_to: c.int(2, { min: 0 }),
    sla: c.ignored(),
  }),
  metrics: c.ignored(),
  multi_tenant_queries_enabled: c.bool(true),
  response_consumers: c.ignored(),
  api_timeout: c.ignored(),
});

// A lookup queues query_shards jobs at once: a tenant bound below that could never be served.
queryFrontendSection.addCheck((v, path, ctx) => {
  if (v.max_outstanding_per_tenant >= v.trace_by_id.query_shards) return;
  ctx.warnings.push({
    path: `${path}.max_outstanding_per_tenant`,
    message: `${v.max_outstanding_per_tenant} is below trace_by_id.query_shards (${v.trace_by_id.query_shards}): every trace-by-ID lookup queues query_shards jobs and would be answered 429`,
  });
});

// Tempo refuses to start so: the window between the two would be searched neither on the ingesters nor
// in the blocks.
queryFrontendSection.addCheck((v, path, ctx) => {
  if (v.search.query_ingesters_until >= v.search.query_backend_after) return;
  ctx.errors.push({ path: `${path}.search.query_backend_after`, message: 'query backend after should be less than or equal to query ingester until' });
});

// A search keeps up to concurrent_jobs jobs queued at once: above the tenant bound, a large search is answered 429.
queryFrontendSection.addCheck((v, path, ctx) => {
  if (v.search.concurrent_jobs <= v.max_outstanding_per_tenant) return;
  ctx.warnings.push({
    path: `${path}.search.concurrent_jobs`,
    message: `${v.search.concurrent_jobs} is above max_outstanding_per_tenant (${v.max_outstanding_per_tenant}): a search with more jobs than that would be answered 429`,
  });
});

export const compactorSection = c.object({
  ring: compactorRing,
  compaction: c.object({
    block_retention: c.duration('336h'),
    compacted_block_retention: c.duration('1h'),
    compaction_window: c.duration('1h'),
    compaction_cycle: c.duration('30s'),
    max_compaction_objects: c.int(6_000_000, { min: 1 }),
    max_block_bytes: c.int(100 * 1024 * 1024 * 1024, { min: 1 }),
    max_time_per_tenant: c.duration('5m'),
    retention_concurrency: c.int(10, { min: 1 }),
    v2_in_buffer_bytes: c.ignored(MERGE_BUFFERS),
    v2_out_buffer_bytes: c.ignored(MERGE_BUFFERS),
    v2_prefetch_traces_count: c.ignored(MERGE_BUFFERS),
    chunk_size_bytes: c.ignored(MERGE_BUFFERS),
    flush_size_bytes: c.ignored(MERGE_BUFFERS),
    iterator_buffer_size: c.ignored(MERGE_BUFFERS),
  }),
  override_ring_key: c.string('compactor'),
  disabled: c.ignored(),
});

// One Prometheus `remote_write` entry (@stave/remote-write applies it; docs/remote-write.md).
const remoteWrite = c.object({
  url: c.string(''),
  name: c.string(''),
  send_exemplars: c.bool(false),
  headers: c.map(c.string()),
  remote_timeout: c.duration('30s'),
  basic_auth: c.object({
    username: c.string(''),
    password: c.string(''),
    username_file: c.ignored('set username instead'),
    password_file: c.ignored('set password instead'),
  }),
  authorization: c.object({
    type: c.string('Bearer'),
    credentials: c.string(''),
    credentials_file: c.ignored('set credentials instead'),
  }),
  tls_config: c.ignored(),
  queue_config: c.ignored('one request in flight per tenant and endpoint, up to 2000 samples each, backoff 30ms to 5s'),
  write_relabel_configs: c.ignored(),
  metadata_config: c.ignored(),
  send_native_histograms: c.ignored('Stave sends classic histograms only'),
  protobuf_message: c.ignored('Stave sends remote write 1.0 (prometheus.WriteRequest)'),
  sigv4: c.ignored(),
  oauth2: c.ignored(),
  azuread: c.ignored(),
  google_iam: c.ignored(),
  proxy_url: c.ignored(),
  no_proxy: c.ignored(),
  proxy_from_environment: c.ignored(),
  proxy_connect_header: c.ignored(),
  follow_redirects: c.ignored(),
  enable_http2: c.ignored(),
  round_robin_dns: c.ignored(),
});

export const metricsGeneratorSection = c.object({
  ring: basicRing,
  processor: c.object({
    service_graphs: c.object({
      wait: c.duration('10s', 'how long an edge waits for its other side'),
      max_items: c.int(10_000, { min: 1 }, 'edges waiting at most; spans past it are dropped'),
      workers: c.ignored('edges are paired on the event loop, where a span never waits for a worker'),
      histogram_buckets: c.list(c.float(0), () => [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]),
      dimensions: c.list(c.string()),
      enable_client_server_prefix: c.bool(false),
      enable_messaging_system_latency_histogram: c.bool(false),
      enable_virtual_node_label: c.bool(false),
      peer_attributes: c.list(c.string(), () => ['peer.service', 'db.name', 'db.system']),
      span_multiplier_key: c.string(''),
    }),
    span_metrics: c.object({
      histogram_buckets: c.list(c.float(0), () => [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384]),
      intrinsic_dimensions: c.object({
        service: c.bool(true),
        span_name: c.bool(true),
        span_kind: c.bool(true),
        status_code: c.bool(true),
        status_message: c.bool(false),
      }),
      dimensions: c.list(c.string()),
      dimension_mappings: c.ignored(),
      enable_target_info: c.pending(c.bool(false), 'traces_target_info is not generated yet'),
      target_info_excluded_dimensions: c.ignored(),
      span_multiplier_key: c.string(''),
      filter_policies: c.ignored(),
    }),
    local_blocks: c.ignored(),
  }),
  registry: c.object({
    collection_interval: c.duration('15s'),
    stale_duration: c.duration('15m'),
    external_labels: c.map(c.string()),
    inject_tenant_id_as: c.ignored(),
    max_label_name_length: c.int(1024, { min: 1 }),
    max_label_value_length: c.int(2048, { min: 1 }),
  }),
  storage: c.object({
    path: c.string('./data/generator/wal'),
    // Tempo's copy of the Prometheus agent WAL options. Stave's queue is its own (docs/remote-write.md):
    // only the age limit applies.
    wal: c.object({
      max_wal_time: c.int(4 * 60 * 60 * 1000, { min: 0 }, 'queued records whose newest sample is older (ms) are dropped'),
      wal_segment_size: c.ignored('queue segments are 8 MiB'),
      wal_compression: c.ignored(),
      stripe_size: c.ignored(),
      truncate_frequency: c.ignored('segments are deleted as soon as every endpoint has sent them'),
      min_wal_time: c.ignored(),
      no_lockfile: c.ignored(),
    }),
    remote_write_flush_deadline: c.duration('1m'),
    remote_write: c.list(remoteWrite),
    remote_write_add_org_id_header: c.bool(true),
  }),
  traces_storage: c.ignored(),
  metrics_ingestion_time_range_slack: c.duration('30s', 'spans that ended further than this from now are dropped'),
  query_timeout: c.ignored(),
  override_ring_key: c.string('metrics-generator'),
});

const s3 = c.object({
  bucket: c.string(''),
  prefix: c.string(''),
  endpoint: c.string(''),
  region: c.string(''),
  access_key: c.string(''),
  secret_key: c.string(''),
  session_token: c.string(''),
  insecure: c.bool(false),
  insecure_skip_verify: c.bool(false),
  forcepathstyle: c.bool(false),
  bucket_lookup_type: c.int(0, { min: 0, max: 2 }),
  hedge_requests_at: c.duration('0s'),
  hedge_requests_up_to: c.int(2, { min: 0 }),
  part_size: c.int(5 * 1024 * 1024, { min: 5 * 1024 * 1024 }),
  tags: c.map(c.string()),
  storage_class: c.string(''),
  sse: c.ignored(),
  tls_cert_path: c.ignored(),
  tls_key_path: c.ignored(),
  tls_ca_path: c.ignored(),
  tls_server_name: c.ignored(),
  tls_insecure_skip_verify: c.ignored(),
  tls_cipher_suites: c.ignored(),
  tls_min_version: c.ignored(),
  signature_v2: c.ignored(),
  native_aws_auth_enabled: c.ignored(),
  list_blocks_concurrency: c.pending(c.int(3, { min: 1 }), BLOCKLIST),
});

const gcs = c.object({
  bucket_name: c.string(''),
  prefix: c.string(''),
  endpoint: c.string(''),
  chunk_buffer_size: c.int(10 * 1024 * 1024, { min: 1 }),
  insecure: c.bool(false),
  hedge_requests_at: c.duration('0s'),
  hedge_requests_up_to: c.int(2, { min: 0 }),
  object_cache_control: c.string(''),
  object_metadata: c.map(c.string()),
  list_blocks_concurrency: c.pending(c.int(3, { min: 1 }), BLOCKLIST),
});

const azure = c.object({
  container_name: c.string(''),
  prefix: c.string(''),
  storage_account_name: c.string(''),
  storage_account_key: c.string(''),
  connection_string: c.string(''),
  sas_token: c.string(''),
  endpoint_suffix: c.string('blob.core.windows.net'),
  max_buffers: c.int(4, { min: 1 }),
  buffer_size: c.int(3 * 1024 * 1024, { min: 1 }),
  hedge_requests_at: c.duration('0s'),
  hedge_requests_up_to: c.int(2, { min: 0 }),
  use_managed_identity: c.ignored(),
  use_federated_token: c.ignored(),
  user_assigned_id: c.ignored(),
  use_v2_sdk: c.ignored(),
});

export const storageSection = c.object({
  trace: c.object({
    backend: c.enum(['local', 's3', 'gcs', 'azure'], 'local'),
    wal: c.object({
      path: c.string('./data/wal'),
      v2_encoding: c.ignored(),
      search_encoding: c.ignored(),
      ingestion_time_range_slack: c.pending(c.duration('2m'), 'blocks take their time range from ingestion time'),
      version: c.ignored(),
    }),
    local: c.object({ path: c.string('./data/blocks') }),
    s3,
    gcs,
    azure,
    block: c.object({
      // Tempo configs say vParquet4 (or an older format): they load, with a warning that blocks are vStave2 (as does vStave1, which Stave reads but no longer writes).
      version: c.only('vStave2', ['vStave1', 'v2', 'vParquet', 'vParquet2', 'vParquet3', 'vParquet4', 'vParquet5'], 'Stave writes every block as'),
      bloom_filter_false_positive: c.float(0.01),
      bloom_filter_shard_size_bytes: c.int(100 * 1024, { min: 1024 }),
      row_group_size_bytes: c.int(100 * 1024 * 1024, { min: 1024 }),
      parquet_row_group_size_bytes: c.ignored(),
      parquet_dedicated_columns: c.ignored(),
      encoding: c.ignored(),
      search_encoding: c.ignored(),
      search_page_size_bytes: c.ignored(),
      v2_index_downsample_bytes: c.ignored(),
      v2_index_page_size_bytes: c.ignored(),
      v2_encoding: c.ignored(),
    }),
    // Stave's own keys (Tempo keeps no decoded block data in process): the one cache of decoded bloom
    // shards and trace-ID index pages (max_size_bytes), and of decompressed `trace` pages and search
    // columns (trace_pages_max_size_bytes), that a process's querier and ingester share (@stave/block's
    // BlockCache; the defaults are its BLOCK_CACHE_DEFAULTS). Counted in the process's memory budgets
    // (docs/limits.md). 0 keeps nothing of that kind.
    block_cache: c.object({
      max_size_bytes: c.int(64 * 1024 * 1024, { min: 0 }),
      trace_pages_max_size_bytes: c.int(32 * 1024 * 1024, { min: 0 }),
    }),
    // Stave's own keys (Tempo has no equivalent): one request policy for every remote backend.
    // `request_timeout` bounds each attempt (every retry and every hedged request gets its own);
    // `backoff` uses dskit's names. Retries happen only for retryable failures (unavailable,
    // throttled, timed out), never for a missing object or a bad request.
    request_timeout: c.duration('30s'),
    backoff: c.object({
      min_period: c.duration('100ms'),
      max_period: c.duration('5s'),
      max_retries: c.int(5, { min: 0 }),
    }),
    // In-process LRU, bounded by bytes, for small immutable block objects (Tempo's cache roles, kept in
    // memory instead of memcached/redis). max_size_bytes 0 turns it off.
    object_cache: c.object({
      max_size_bytes: c.int(64 * 1024 * 1024, { min: 0 }),
      max_object_size_bytes: c.int(1024 * 1024, { min: 0 }),
      roles: c.list(c.enum(['meta', 'bloom', 'trace-id-index', 'parquet-footer'], 'meta'), () => ['meta', 'bloom', 'trace-id-index', 'parquet-footer']),
    }),
    blocklist_poll: c.duration('5m'),
    blocklist_poll_concurrency: c.pending(c.int(50, { min: 1 }), BLOCKLIST),
    blocklist_poll_fallback: c.bool(true),
    blocklist_poll_tenant_index_builders: c.int(2, { min: 1 }),
    // Tempo's default is 0 (never stale). Stave's is under ingester.complete_block_timeout (15m), so that a
    // compactor that stops writing tenant indexes never hides blocks flushed since: never a wrong empty.
    blocklist_poll_stale_tenant_index: c.duration('10m'),
    blocklist_poll_jitter_ms: c.ignored(),
    empty_tenant_deletion_enabled: c.ignored(),
    empty_tenant_deletion_age: c.ignored(),
    pool: c.pending(c.object({ max_workers: c.int(400, { min: 1 }), queue_depth: c.int(20_000, { min: 1 }) }), SEARCH),
    search: c.ignored(),
    cache: c.ignored(),
    background_cache: c.ignored(),
    memcached: c.ignored(),
    redis: c.ignored(),
  }),
});

export const memberlistSection = c.object({
  node_name: c.string(''),
  randomize_node_name: c.bool(true),
  stream_timeout: c.duration('10s'),
  retransmit_factor: c.int(4, { min: 1 }),
  pull_push_interval: c.duration('30s'),
  gossip_interval: c.duration('200ms'),
  gossip_nodes: c.int(3, { min: 1 }),
  gossip_to_dead_nodes_time: c.duration('30s'),
  dead_node_reclaim_time: c.duration('0s'),
  compression_enabled: c.bool(false),
  advertise_addr: c.string(''),
  advertise_port: c.int(7946, { min: 0, max: 65535 }),
  cluster_label: c.string(''),
  cluster_label_verification_disabled: c.bool(false),
  join_members: c.list(c.string()),
  min_join_backoff: c.duration('1s'),
  max_join_backoff: c.duration('1m'),
  max_join_retries: c.int(10, { min: 0 }),
  abort_if_cluster_join_fails: c.bool(false),
  rejoin_interval: c.duration('0s'),
  left_ingesters_timeout: c.duration('5m'),
  leave_timeout: c.duration('20s'),
  message_history_buffer_bytes: c.ignored('the /memberlist page keeps no message history'),
  bind_addr: c.list(c.string()),
  bind_port: c.int(7946, { min: 0, max: 65535 }),
  packet_dial_timeout: c.duration('2s'),
  packet_write_timeout: c.ignored('gossip packets go over UDP, where a write does not block'),
  tls_enabled: c.ignored(),
});

/** Per-tenant limits, in Tempo's scoped form (`overrides.defaults.*` and per-tenant files). */
export const limitsSection = c.object({
  ingestion: c.object({
    rate_strategy: c.enum(['local', 'global'], 'local'),
    rate_limit_bytes: c.int(15_000_000, { min: 0 }),
    burst_size_bytes: c.int(20_000_000, { min: 0 }),
    max_traces_per_user: c.int(10_000, { min: 0 }),
    max_global_traces_per_user: c.pending(c.int(0, { min: 0 }), 'the global live-trace limit is not enforced yet; max_traces_per_user is'),
    tenant_shard_size: c.ignored(),
    max_attribute_bytes: c.ignored(),
  }),
  read: c.object({
    max_bytes_per_tag_values_query: c.pending(c.int(5_000_000, { min: 0 }), SEARCH),
    max_blocks_per_tag_values_query: c.pending(c.int(0, { min: 0 }), SEARCH),
    max_search_duration: c.pending(c.duration('0s'), SEARCH),
    max_metrics_duration: c.ignored(),
    unsafe_query_hints: c.ignored(),
  }),
  compaction: c.object({ block_retention: c.duration('0s'), compaction_window: c.ignored(), compaction_disabled: c.ignored() }),
  metrics_generator: c.object({
    processors: c.list(c.string()),
    ring_size: c.pending(c.int(0, { min: 0 }), 'no shuffle sharding yet: every tenant uses the whole metrics-generator ring'),
    max_active_series: c.int(0, { min: 0 }),
    collection_interval: c.duration('0s'),
    disable_collection: c.bool(false),
    processor: c.ignored(),
    forwarder: c.ignored(),
    remote_write_headers: c.ignored(),
    generate_native_histograms: c.ignored(),
    ingestion_time_range_slack: c.ignored(),
    trace_id_label_name: c.ignored(),
  }),
  forwarders: c.ignored(),
  global: c.object({ max_bytes_per_trace: c.int(5_000_000, { min: 0 }) }),
  storage: c.ignored(),
  cost_attribution: c.ignored(),
});

export const overridesSection = c.object({
  defaults: limitsSection,
  per_tenant_override_config: c.string(''),
  per_tenant_override_period: c.duration('10s'),
  user_configurable_overrides: c.ignored(),
  // Tempo's legacy flat form. Set keys win over `defaults`; see normalizeOverrides.
  ingestion_rate_strategy: c.optional(c.enum(['local', 'global'], 'local')),
  ingestion_rate_limit_bytes: c.optional(c.int(0, { min: 0 })),
  ingestion_burst_size_bytes: c.optional(c.int(0, { min: 0 })),
  max_traces_per_user: c.optional(c.int(0, { min: 0 })),
  max_global_traces_per_user: c.pending(c.optional(c.int(0, { min: 0 })), 'the global live-trace limit is not enforced yet; max_traces_per_user is'),
  max_bytes_per_trace: c.optional(c.int(0, { min: 0 })),
  block_retention: c.optional(c.duration('0s')),
  max_bytes_per_tag_values_query: c.pending(c.optional(c.int(0, { min: 0 })), SEARCH),
  max_search_duration: c.pending(c.optional(c.duration('0s')), SEARCH),
  metrics_generator_processors: c.optional(c.list(c.string())),
  metrics_generator_max_active_series: c.optional(c.int(0, { min: 0 })),
  max_bytes_per_trace_search: c.ignored(),
  max_search_bytes_per_trace: c.ignored(),
});

export const staveConfigSchema = c.object({
  target: c.string('all'),
  http_api_prefix: c.string(''),
  multitenancy_enabled: c.bool(false),
  auth_enabled: c.optional(c.bool(false)),
  stream_over_http_enabled: c.ignored(),
  use_otel_tracer: c.ignored(),
  autocomplete_filtering_enabled: c.ignored(),
  usage_report: c.ignored(),
  cache: c.ignored(),
  server: serverSection,
  internal_server: c.ignored(),
  distributor: distributorSection,
  ingester_client: c.object({
    remote_timeout: c.duration('5s'),
    pool_config: c.ignored(),
    grpc_client_config: c.ignored(),
  }),
  metrics_generator_client: c.object({ remote_timeout: c.duration('5s'), pool_config: c.ignored(), grpc_client_config: c.ignored() }),
  querier: querierSection,
  query_frontend: queryFrontendSection,
  compactor: compactorSection,
  ingester: ingesterSection,
  metrics_generator: metricsGeneratorSection,
  storage: storageSection,
  memberlist: memberlistSection,
  overrides: overridesSection,
});

export type StaveConfig = Infer<typeof staveConfigSchema>;
export type LimitsConfig = Infer<typeof limitsSection>;
