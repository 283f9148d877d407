// @stave/ring: token ring reads (replication sets, quorum) and tokens.
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
  type StaticRingOptions,
} from './ring';
