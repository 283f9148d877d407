// @stave/ring: rings of instances (who owns which key), the gossip that keeps them in agreement, and each
// instance's lifecycle in them. See docs/ring.md.
export {
  StaticRing,
  RingUnavailableError,
  randomTokens,
  tokenFor,
  writeQuorum,
  type InstanceDesc,
  type InstanceState,
  type ReadRing,
  type ReplicationSet,
  type RingOperation,
  type StaticRingOptions,
} from './ring';
export { interfaceAddress } from './interface-address';
export {
  RingDesc,
  INSTANCE_STATES,
  RING_DESC_LIMITS,
  compareInstances,
  decodeRingDesc,
  encodeRingDesc,
  lostTokens,
  mergeRingDescs,
  removeExpiredTombstones,
  ringDescCodec,
  tokenOwners,
  type TokenTable,
} from './desc';
export { InMemoryKV, type Codec, type InMemoryKVOptions, type KVClient, type KVEntrySummary, type KVStore, type MergeOptions, type MergeResult } from './kv';
export { Ring, waitInstanceState, waitRingStability, type HealthCheck, type RingOptions, type WaitStabilityOptions } from './kv-ring';
export { Lifecycler, type LifecyclerOptions, type TokenGenerator } from './lifecycler';
export { JobOwnership, type JobOwnershipOptions } from './ownership';
export {
  Memberlist,
  DROP_REASONS,
  hostPort,
  splitHostPort,
  type DropReason,
  type MemberInfo,
  type MemberlistOptions,
  type MemberlistStats,
  type PacketFilter,
} from './memberlist';
export { MemberlistKV, type MemberlistKVOptions } from './memberlist-kv';
export {
  parseJoinMember,
  resolveJoinMembers,
  type DiscoveryOptions,
  type DnsResolver,
  type JoinMember,
  type KubernetesClientModule,
  type KubernetesDiscoveryOptions,
  type ResolvedMembers,
  type SrvRecord,
} from './discovery';
export { ringPageHandler, memberlistPageHandler, goTime, type RingPageOptions } from './pages';
export {
  RING_PAGE_PATHS,
  RING_PAGE_TITLES,
  createLifecycler,
  createRing,
  memberlistKVOptions,
  ringConfig,
  ringKVClient,
  type RingConfig,
  type RingKind,
} from './config';
export { WireError } from './wire';
