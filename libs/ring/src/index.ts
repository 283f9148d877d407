// @stave/ring: rings of instances (who owns which key), the gossip that keeps them in agreement, and each
// instance's lifecycle in them. See docs/ring.md. Exports what other packages use.
export {
  StaticRing,
  RingUnavailableError,
  tokenFor,
  type InstanceDesc,
  type InstanceState,
  type ReadRing,
  type ReplicationSet,
  type RingOperation,
  type StaticRingOptions,
} from './ring';
export { interfaceAddress } from './interface-address';
export { InMemoryKV, type KVClient, type KVStore } from './kv';
export { Ring, waitInstanceState, waitRingStability } from './kv-ring';
export { JobOwnership } from './ownership';
export { Lifecycler } from './lifecycler';
export { MemberlistKV, type MemberlistKVOptions } from './memberlist-kv';
export { resolveJoinMembers, type DiscoveryOptions } from './discovery';
export { ringPage, memberlistPage, type RingPageOptions } from './pages';
export { RING_PAGE_PATHS, RING_PAGE_TITLES, createLifecycler, createRing, ringKVClient, type RingConfig, type RingKind } from './config';
