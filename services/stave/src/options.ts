// From Stave's config (Tempo's keys) to the plain option objects the libraries take, in one place, so the
// libraries never see StaveConfig and modules.ts only wires.
//
// Rings: which KV store, which key, which timeouts, how many tokens.
//
//   ring               KV key (kvstore.prefix +)                      tokens RF                   auto-forget
//   ingester           ingester.override_ring_key ("ring")            num_tokens ingester.lifecycler.ring.replication_factor   2 × ring.heartbeat_timeout
//   metrics-generator  metrics_generator.override_ring_key            256    1                    2 × heartbeat_timeout
//   compactor          compactor.override_ring_key ("compactor")      512    1                    2 × heartbeat_timeout
//   distributor        "distributor"                                  1      1                    2 × heartbeat_timeout
//
// Token counts and the auto-forget period (ringAutoForgetUnhealthyPeriods = 2) are Tempo's constants.

import os from 'node:os';
import type { TraceStorageConfig } from '@stave/backend';
import type { CompactorConfig } from '@stave/compactor';
import type { GeneratorConfig, TenantOverrides } from '@stave/generator';
import { interfaceAddress, type DiscoveryOptions, type MemberlistKVOptions, type RingConfig, type RingKind } from '@stave/ring';
import type { Logger, Overrides, StaveConfig } from '@stave/server';
import type { Registry } from 'prom-client';

const AUTO_FORGET_PERIODS = 2;

/**
 * The gRPC server's listen address when it names one host (not every interface): peers can reach this
 * instance there and nowhere else, so it is advertised before any interface's address. A wildcard or empty
 * address says nothing about reachability and leaves the choice to `interface_names`, as in Tempo.
 */
function boundAddress(cfg: StaveConfig): string {
  const a = cfg.server.grpc_listen_address.trim();
  return a === '' || a === '0.0.0.0' || a === '::' || a === '[::]' ? '' : a;
}

export function ringConfig(cfg: StaveConfig, kind: RingKind): RingConfig {
  const defaultId = os.hostname();
  const common = {
    extendWrites: cfg.distributor.extend_writes,
    tokensFilePath: '',
    unregisterOnShutdown: true,
    observePeriodMs: 0,
    minReadyDurationMs: 0,
    finalSleepMs: 0,
    readinessCheckRingHealth: false,
    excludedZones: [] as string[],
    waitStabilityMinMs: 0,
    waitStabilityMaxMs: 0,
    waitActiveInstanceTimeoutMs: 0,
  };
  if (kind === 'ingester') {
    const lc = cfg.ingester.lifecycler;
    return {
      ...common,
      kind,
      store: lc.ring.kvstore.store,
      key: lc.ring.kvstore.prefix + cfg.ingester.override_ring_key,
      replicationFactor: lc.ring.replication_factor,
      numTokens: lc.num_tokens,
      heartbeatPeriodMs: lc.heartbeat_period,
      heartbeatTimeoutMs: lc.ring.heartbeat_timeout,
      instanceId: lc.id || defaultId,
      instanceHost: lc.address || boundAddress(cfg) || interfaceAddress(lc.interface_names, lc.enable_inet6),
      instancePort: lc.port,
      zone: lc.availability_zone,
      tokensFilePath: lc.tokens_file_path,
      unregisterOnShutdown: lc.unregister_on_shutdown,
      observePeriodMs: lc.observe_period,
      minReadyDurationMs: lc.min_ready_duration,
      finalSleepMs: lc.final_sleep,
      readinessCheckRingHealth: lc.readiness_check_ring_health,
      zoneAwarenessEnabled: lc.ring.zone_awareness_enabled ? true : undefined,
      excludedZones: lc.ring.excluded_zones
        .split(',')
        .map((z) => z.trim())
        .filter((z) => z !== ''),
      autoForgetUnhealthyAfterMs: AUTO_FORGET_PERIODS * lc.ring.heartbeat_timeout,
    };
  }
  const section = kind === 'compactor' ? cfg.compactor : kind === 'metrics-generator' ? cfg.metrics_generator : cfg.distributor;
  const r = section.ring;
  const key = kind === 'compactor' ? cfg.compactor.override_ring_key : kind === 'metrics-generator' ? cfg.metrics_generator.override_ring_key : 'distributor';
  return {
    ...common,
    kind,
    store: r.kvstore.store,
    key: r.kvstore.prefix + key,
    replicationFactor: 1,
    numTokens: kind === 'compactor' ? 512 : kind === 'metrics-generator' ? 256 : 1,
    heartbeatPeriodMs: r.heartbeat_period,
    heartbeatTimeoutMs: r.heartbeat_timeout,
    instanceId: r.instance_id || defaultId,
    instanceHost: r.instance_addr || boundAddress(cfg) || interfaceAddress(r.instance_interface_names, false),
    instancePort: r.instance_port,
    zone: r.instance_availability_zone,
    zoneAwarenessEnabled: undefined,
    autoForgetUnhealthyAfterMs: AUTO_FORGET_PERIODS * r.heartbeat_timeout,
    ...(kind === 'compactor'
      ? {
          waitStabilityMinMs: cfg.compactor.ring.wait_stability_min_duration,
          waitStabilityMaxMs: cfg.compactor.ring.wait_stability_max_duration,
          waitActiveInstanceTimeoutMs: cfg.compactor.ring.wait_active_instance_timeout,
        }
      : {}),
  };
}

/** MemberlistKV options from the `memberlist` section. */
export function memberlistKVOptions(
  ml: StaveConfig['memberlist'],
  deps: { logger?: Logger; registry?: Registry; discovery?: Partial<DiscoveryOptions>; nodeName?: string } = {},
): MemberlistKVOptions {
  let nodeName = deps.nodeName ?? (ml.node_name || os.hostname());
  // Tempo's default: a fresh name per start, so a restarted process is a new member rather than one that
  // must first refute its own death (memberlist.randomize_node_name).
  if (ml.randomize_node_name) nodeName = `${nodeName}-${Math.random().toString(16).slice(2, 10)}`;
  return {
    nodeName,
    bindAddr: ml.bind_addr[0] || '0.0.0.0',
    bindPort: ml.bind_port,
    ...(ml.advertise_addr ? { advertiseAddr: ml.advertise_addr, advertisePort: ml.advertise_port } : {}),
    clusterLabel: ml.cluster_label,
    clusterLabelVerificationDisabled: ml.cluster_label_verification_disabled,
    gossipIntervalMs: ml.gossip_interval,
    gossipNodes: ml.gossip_nodes,
    gossipToDeadNodesTimeMs: ml.gossip_to_dead_nodes_time,
    deadNodeReclaimTimeMs: ml.dead_node_reclaim_time,
    pushPullIntervalMs: ml.pull_push_interval,
    retransmitFactor: ml.retransmit_factor,
    streamTimeoutMs: ml.stream_timeout,
    dialTimeoutMs: ml.packet_dial_timeout,
    compressStreams: ml.compression_enabled,
    joinMembers: ml.join_members,
    minJoinBackoffMs: ml.min_join_backoff,
    maxJoinBackoffMs: ml.max_join_backoff,
    maxJoinRetries: ml.max_join_retries,
    abortIfJoinFails: ml.abort_if_cluster_join_fails,
    rejoinIntervalMs: ml.rejoin_interval,
    leftIngestersTimeoutMs: ml.left_ingesters_timeout,
    leaveTimeoutMs: ml.leave_timeout,
    ...(deps.discovery ? { discovery: deps.discovery } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.registry ? { registry: deps.registry } : {}),
  };
}

/** The object store's options: `storage.trace`, whose keys (Tempo's) the backend options keep. */
export function objectStoreOptions(cfg: StaveConfig): TraceStorageConfig {
  return cfg.storage.trace;
}

/** Block writing options (`storage.trace.block`) for everything that writes blocks. */
export function blockWriteOptions(cfg: StaveConfig): { bloomFalsePositive: number; bloomShardSizeBytes: number; rowGroupSizeBytes: number } {
  const b = cfg.storage.trace.block;
  return { bloomFalsePositive: b.bloom_filter_false_positive, bloomShardSizeBytes: b.bloom_filter_shard_size_bytes, rowGroupSizeBytes: b.row_group_size_bytes };
}

/** The compactor's settings: `compactor.compaction.*` and the tenant-index builders of `storage.trace`. */
export function compactorConfig(cfg: StaveConfig): CompactorConfig {
  const cc = cfg.compactor.compaction;
  return {
    blockRetentionMs: cc.block_retention,
    compactedBlockRetentionMs: cc.compacted_block_retention,
    compactionWindowMs: cc.compaction_window,
    compactionCycleMs: cc.compaction_cycle,
    maxCompactionObjects: cc.max_compaction_objects,
    maxBlockBytes: cc.max_block_bytes,
    maxTimePerTenantMs: cc.max_time_per_tenant,
    retentionConcurrency: cc.retention_concurrency,
    tenantIndexBuilders: cfg.storage.trace.blocklist_poll_tenant_index_builders,
  };
}

/** metrics_generator.* as the generator takes it. */
export function generatorConfig(cfg: StaveConfig): GeneratorConfig {
  const g = cfg.metrics_generator;
  const sg = g.processor.service_graphs;
  const sm = g.processor.span_metrics;
  return {
    spanMetrics: {
      histogramBuckets: sm.histogram_buckets,
      intrinsicDimensions: { ...sm.intrinsic_dimensions },
      dimensions: sm.dimensions,
      spanMultiplierKey: sm.span_multiplier_key,
    },
    serviceGraphs: {
      waitMs: sg.wait,
      maxItems: sg.max_items,
      histogramBuckets: sg.histogram_buckets,
      dimensions: sg.dimensions,
      enableClientServerPrefix: sg.enable_client_server_prefix,
      enableMessagingSystemLatencyHistogram: sg.enable_messaging_system_latency_histogram,
      enableVirtualNodeLabel: sg.enable_virtual_node_label,
      peerAttributes: sg.peer_attributes,
      spanMultiplierKey: sg.span_multiplier_key,
    },
    registry: {
      collectionIntervalMs: g.registry.collection_interval,
      staleDurationMs: g.registry.stale_duration,
      externalLabels: { ...g.registry.external_labels },
      maxLabelNameLength: g.registry.max_label_name_length,
      maxLabelValueLength: g.registry.max_label_value_length,
    },
    ingestionSlackMs: g.metrics_ingestion_time_range_slack,
  };
}

/** A tenant's metrics_generator overrides, read from the (reloaded) overrides at each use. */
export function generatorOverrides(overrides: Overrides): (tenant: string) => TenantOverrides {
  return (tenant) => {
    const m = overrides.forTenant(tenant).metrics_generator;
    return {
      get processors() {
        return m.processors;
      },
      get maxActiveSeries() {
        return m.max_active_series;
      },
      get collectionIntervalMs() {
        return m.collection_interval;
      },
      get disableCollection() {
        return m.disable_collection;
      },
    };
  };
}
