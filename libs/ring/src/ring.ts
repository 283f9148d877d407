// The token ring's read side: which instances own a key. Each instance holds tokens on a 32-bit circle;
// a key's replication set is the first `replicationFactor` distinct healthy instances met walking
// clockwise from the key's token. Writes need a quorum: at most `maxErrors` of the set may fail.
// StaticRing below is a fixed, locally set ring; `Ring` (kv-ring.ts) serves the same interface from a
// ring descriptor kept in a KV store (in-memory, or gossiped by memberlist): see docs/ring.md.

export type InstanceState = 'PENDING' | 'JOINING' | 'ACTIVE' | 'LEAVING' | 'LEFT';

export interface InstanceDesc {
  readonly id: string;
  readonly addr: string;
  readonly zone: string;
  readonly state: InstanceState;
  readonly tokens: readonly number[];
  /** Last heartbeat, ms since the epoch. */
  readonly timestamp: number;
  readonly registeredTimestamp: number;
}

export interface ReplicationSet {
  readonly instances: readonly InstanceDesc[];
  /** How many of `instances` may fail with the operation still succeeding. */
  readonly maxErrors: number;
}

/**
 * What a replication set is for. `write` (the default) wants ACTIVE instances and, with extend_writes,
 * walks past unhealthy/non-ACTIVE ones; `read` also accepts LEAVING instances (they still hold data) and
 * walks past the rest, so a read reaches where a write extended to.
 */
export type RingOperation = 'write' | 'read';

export interface ReadRing {
  readonly replicationFactor: number;
  /** The replication set for a key's token. Throws Unavailable-worthy errors when too few are healthy. */
  get(token: number, op?: RingOperation): ReplicationSet;
  /** Every healthy instance (reads that must ask all, e.g. search). */
  getAll(): ReplicationSet;
}

export class RingUnavailableError extends Error {
  constructor(
    readonly required: number,
    readonly healthy: number,
    /** What the ring holds, for the message ("ingesters", "metrics-generators"). */
    what = 'ingesters',
  ) {
    super(`too few healthy ${what}: ${required} replicas required, ${healthy} healthy`);
    this.name = 'RingUnavailableError';
  }
}

/**
 * FNV-1a (32-bit) over the tenant then the trace ID. The token decides which ingesters own a trace, so
 * every distributor and querier must compute it the same way: do not change.
 */
export function tokenFor(tenant: string, traceID: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i++) {
    // Tenant IDs are validated to printable ASCII, so one byte per char.
    h ^= tenant.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193);
  }
  for (let i = 0; i < traceID.length; i++) {
    h ^= traceID[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Quorum for a replication factor: a majority. */
export function writeQuorum(rf: number): number {
  return Math.floor(rf / 2) + 1;
}

export interface StaticRingOptions {
  replicationFactor: number;
  heartbeatTimeoutMs: number;
  now?: () => number;
}

/** A ring over a fixed, locally known set of instances (the single binary's in-process ring). */
export class StaticRing implements ReadRing {
  private sorted: Array<{ token: number; instance: InstanceDesc }> = [];
  private instances: InstanceDesc[] = [];

  constructor(private readonly opts: StaticRingOptions) {}

  get replicationFactor(): number {
    return this.opts.replicationFactor;
  }

  set(instances: InstanceDesc[]): void {
    this.instances = instances;
    this.sorted = instances.flatMap((instance) => instance.tokens.map((token) => ({ token, instance }))).sort((a, b) => a.token - b.token);
  }

  private healthy(i: InstanceDesc): boolean {
    const now = (this.opts.now ?? Date.now)();
    return i.state === 'ACTIVE' && now - i.timestamp <= this.opts.heartbeatTimeoutMs;
  }

  get(token: number): ReplicationSet {
    const rf = Math.min(this.opts.replicationFactor, this.instances.length);
    const picked: InstanceDesc[] = [];
    const seen = new Set<string>();
    if (this.sorted.length > 0) {
      let lo = 0;
      let hi = this.sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.sorted[mid]!.token < token) lo = mid + 1;
        else hi = mid;
      }
      for (let n = 0; n < this.sorted.length && picked.length < rf; n++) {
        const { instance } = this.sorted[(lo + n) % this.sorted.length]!;
        if (seen.has(instance.id)) continue;
        seen.add(instance.id);
        picked.push(instance);
      }
    }
    const healthy = picked.filter((i) => this.healthy(i));
    const quorum = writeQuorum(this.opts.replicationFactor);
    if (healthy.length < quorum) throw new RingUnavailableError(quorum, healthy.length);
    return { instances: healthy, maxErrors: healthy.length - quorum };
  }

  getAll(): ReplicationSet {
    const healthy = this.instances.filter((i) => this.healthy(i));
    return { instances: healthy, maxErrors: Math.max(0, this.instances.length - healthy.length) };
  }
}

/** `n` random distinct tokens. */
export function randomTokens(n: number, taken: ReadonlySet<number> = new Set()): number[] {
  const out = new Set<number>();
  while (out.size < n) {
    const t = (Math.random() * 0x1_0000_0000) >>> 0;
    if (!taken.has(t)) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}
