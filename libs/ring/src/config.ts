// A ring's options (RingConfig: which KV store and key, timeouts, token count, this instance's address) and
// the builders of its read side and its lifecycler from them. services/stave builds RingConfig from Tempo's
// config keys (its options.ts); this library never sees the config file.

import type { Logger } from '@stave/core';
import type { Registry } from 'prom-client';
import type { RingDesc } from './desc';
import { ringDescCodec } from './desc';
import { Ring } from './kv-ring';
import type { KVClient, KVStore } from './kv';
import { Lifecycler, type LifecyclerOptions } from './lifecycler';
import { firstPrivateAddress, hostPort } from './memberlist-addr';

export type RingKind = 'ingester' | 'metrics-generator' | 'compactor' | 'distributor';

/** Where Tempo serves each ring's status page. */
export const RING_PAGE_PATHS: Record<RingKind, string> = {
  ingester: '/ingester/ring',
  'metrics-generator': '/metrics-generator/ring',
  compactor: '/compactor/ring',
  distributor: '/distributor/ring',
};

export const RING_PAGE_TITLES: Record<RingKind, string> = {
  ingester: 'Ingester ring',
  'metrics-generator': 'Metrics-generator ring',
  compactor: 'Compactor ring',
  distributor: 'Distributor ring',
};

/** Everything about one ring, resolved from config (services/stave/src/options.ts). */
export interface RingConfig {
  kind: RingKind;
  /** kvstore.store */
  store: 'inmemory' | 'memberlist';
  /** The full KV key: kvstore.prefix + the ring key. */
  key: string;
  replicationFactor: number;
  numTokens: number;
  heartbeatPeriodMs: number;
  /** The ring's: an instance with an older heartbeat is UNHEALTHY. */
  heartbeatTimeoutMs: number;
  instanceId: string;
  /** Host the instance advertises ('' in config: the first non-internal IPv4 of the host). */
  instanceHost: string;
  /** Port the instance advertises; 0 in config: the caller's gRPC port. */
  instancePort: number;
  zone: string;
  tokensFilePath: string;
  unregisterOnShutdown: boolean;
  observePeriodMs: number;
  minReadyDurationMs: number;
  finalSleepMs: number;
  readinessCheckRingHealth: boolean;
  /** true: enforced; undefined: on when every instance has a zone (config false never turns it off: see kv-ring.ts). */
  zoneAwarenessEnabled: boolean | undefined;
  excludedZones: string[];
  extendWrites: boolean;
  autoForgetUnhealthyAfterMs: number;
  /** Compactor only (compactor.ring.wait_stability_{min,max}_duration, wait_active_instance_timeout); 0 elsewhere. */
  waitStabilityMinMs: number;
  waitStabilityMaxMs: number;
  waitActiveInstanceTimeoutMs: number;
}

/** The ring descriptor client of the store a ring config names. */
export function ringKVClient(stores: { inmemory: KVStore; memberlist?: KVStore }, rc: RingConfig): KVClient<RingDesc> {
  if (rc.store === 'memberlist') {
    if (!stores.memberlist) throw new Error(`${rc.kind} ring: kvstore.store is memberlist but no memberlist KV was created`);
    return stores.memberlist.client(ringDescCodec);
  }
  return stores.inmemory.client(ringDescCodec);
}

/** The read side of a ring (distributors, queriers, ring pages). */
export function createRing(rc: RingConfig, deps: { kv: KVClient<RingDesc>; registry?: Registry; now?: () => number }): Ring {
  return new Ring({
    kv: deps.kv,
    key: rc.key,
    name: rc.kind,
    replicationFactor: rc.replicationFactor,
    heartbeatTimeoutMs: rc.heartbeatTimeoutMs,
    ...(rc.zoneAwarenessEnabled !== undefined ? { zoneAwarenessEnabled: rc.zoneAwarenessEnabled } : {}),
    excludedZones: rc.excludedZones,
    extendWrites: rc.extendWrites,
    ...(deps.registry ? { registry: deps.registry } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
}

/** The instance's own lifecycle in a ring. `grpcPort` fills in a port left 0 in config. */
export function createLifecycler(
  rc: RingConfig,
  deps: { kv: KVClient<RingDesc>; grpcPort: number; logger?: Logger; beforeUnregister?: () => Promise<void> } & Partial<
    Pick<LifecyclerOptions, 'now' | 'tokenGenerator'>
  >,
): Lifecycler {
  const host = rc.instanceHost || firstPrivateAddress();
  const port = rc.instancePort || deps.grpcPort;
  return new Lifecycler({
    kv: deps.kv,
    key: rc.key,
    ringName: rc.kind,
    instanceId: rc.instanceId,
    instanceAddr: hostPort(host, port),
    zone: rc.zone,
    numTokens: rc.numTokens,
    heartbeatPeriodMs: rc.heartbeatPeriodMs,
    heartbeatTimeoutMs: rc.heartbeatTimeoutMs,
    tokensFilePath: rc.tokensFilePath,
    unregisterOnShutdown: rc.unregisterOnShutdown,
    autoForgetUnhealthyAfterMs: rc.autoForgetUnhealthyAfterMs,
    observePeriodMs: rc.observePeriodMs,
    readinessCheckRingHealth: rc.readinessCheckRingHealth,
    minReadyDurationMs: rc.minReadyDurationMs,
    finalSleepMs: rc.finalSleepMs,
    ...(deps.beforeUnregister ? { beforeUnregister: deps.beforeUnregister } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.tokenGenerator ? { tokenGenerator: deps.tokenGenerator } : {}),
  });
}
