// The read side of a gossiped ring: a ReadRing over the ring descriptor stored under one KV key, kept
// current by watching that key. Placement is by tokens (see desc.ts for who owns a contested token):
//
//   get(token) walks clockwise from the first token >= the key's token and takes the next RF distinct
//   instances — one per zone when zone-aware. With extend_writes (on by default, as in Tempo) an instance
//   that cannot take the operation (not ACTIVE for writes, or heartbeat older than heartbeat_timeout) does
//   not count towards RF: the walk goes one instance further, so writes land on RF healthy instances while
//   one is down or leaving. The set returned holds only the healthy ones; the operation needs a quorum of
//   RF/2+1 of them (`maxErrors` is how many of those may fail), else RingUnavailableError (→ 503).
//
// Why tokens and not hashring for this ring: ingesters hold data, so placement must be identical on every
// distributor and querier, stable across restarts (tokens are persisted and gossiped with the instance),
// change minimally when one instance joins or leaves, and support RF walks, zone spreading and extending
// past a dead replica. hashring (ketama over member names) suits work that is cheap to move and needs no
// replicas — see ownership.ts, where compactors divide jobs with it.

import { Gauge, type Registry } from 'prom-client';
import { BasicService } from '@stave/core';
import { INSTANCE_STATES, lowerBound, RingDesc, tokenOwners } from './desc';
import type { KVClient } from './kv';
import { RingUnavailableError, writeQuorum, type InstanceDesc, type InstanceState, type ReadRing, type ReplicationSet, type RingOperation } from './ring';

export interface RingOptions {
  kv: KVClient<RingDesc>;
  /** The full KV key (kvstore.prefix + the ring's key, e.g. "collectors/ring"). */
  key: string;
  /** What the ring holds, for errors and the tempo_ring_members metric: "ingester", "compactor", ... */
  name?: string;
  replicationFactor: number;
  /** An instance whose last heartbeat is older than this is unhealthy; 0 disables the check. */
  heartbeatTimeoutMs: number;
  /** true: one replica per zone; false: ignore zones; unset: zone-aware when every instance has a zone. */
  zoneAwarenessEnabled?: boolean;
  excludedZones?: readonly string[];
  /** Walk past instances that cannot take a write (Tempo's distributor.extend_writes, default true). */
  extendWrites?: boolean;
  now?: () => number;
  registry?: Registry;
}

/** What a health check is for: `reporting` only looks at the heartbeat (ring pages, auto-forget). */
export type HealthCheck = RingOperation | 'reporting';

const HEALTHY_STATES: Record<HealthCheck, ReadonlySet<InstanceState>> = {
  write: new Set(['ACTIVE']),
  read: new Set(['ACTIVE', 'PENDING', 'LEAVING']),
  reporting: new Set(['PENDING', 'JOINING', 'ACTIVE', 'LEAVING']),
};

const membersGauges = new WeakMap<Registry, { gauge: Gauge<'name' | 'state'>; rings: Set<Ring> }>();

export class Ring extends BasicService implements ReadRing {
  private latest: RingDesc = RingDesc.empty;
  private tokens: Uint32Array = new Uint32Array(0);
  private ownerIds: string[] = [];
  /** Distinct owners in `ownerIds` (computed when the tokens change: `get` runs once per trace pushed). */
  private distinctOwners = 0;
  private zoneAwareOf: RingDesc | undefined;
  /** get()'s replication sets by start index and operation, for the descriptor `cachedOf`. */
  private cachedOf: RingDesc | undefined;
  private cached: Record<RingOperation, Array<{ set: ReplicationSet; from: number; until: number } | undefined>> = { write: [], read: [] };
  private zoneAwareCached = false;
  private unwatch: (() => void) | undefined;
  private readonly now: () => number;
  private readonly excluded: ReadonlySet<string>;
  private readonly what: string;

  constructor(private readonly opts: RingOptions) {
    super(`${opts.name ?? 'ring'}-ring`);
    if (opts.replicationFactor < 1) throw new Error(`${opts.name ?? 'ring'}: replication factor ${opts.replicationFactor} must be at least 1`);
    this.now = opts.now ?? Date.now;
    this.excluded = new Set((opts.excludedZones ?? []).filter((z) => z !== ''));
    this.what = `${opts.name ?? 'instance'}s`;
    if (opts.registry) this.registerMetric(opts.registry);
  }

  get replicationFactor(): number {
    return this.opts.replicationFactor;
  }

  protected override async starting(): Promise<void> {
    this.unwatch = this.opts.kv.watchKey(this.opts.key, (v) => this.update(v));
    this.update(await this.opts.kv.get(this.opts.key));
  }

  protected override async stopping(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.opts.registry) membersGauges.get(this.opts.registry)?.rings.delete(this);
  }

  /** The descriptor as last seen (tombstones included). */
  desc(): RingDesc {
    return this.latest;
  }

  /** Instances not LEFT, sorted by ID. */
  instances(): InstanceDesc[] {
    return this.latest.list().filter((i) => i.state !== 'LEFT');
  }

  isHealthy(inst: InstanceDesc, check: HealthCheck = 'write', now = this.now()): boolean {
    if (!HEALTHY_STATES[check].has(inst.state)) return false;
    return this.opts.heartbeatTimeoutMs <= 0 || now - inst.timestamp <= this.opts.heartbeatTimeoutMs;
  }

  healthyInstancesCount(): number {
    const now = this.now();
    return this.instances().filter((i) => this.isHealthy(i, 'write', now)).length;
  }

  /** Fraction of the token space (0..1) each instance owns. */
  ownership(): Map<string, number> {
    const out = new Map<string, number>();
    const n = this.tokens.length;
    for (let i = 0; i < n; i++) {
      // Token i owns the keys after the previous token up to itself; the first wraps around the circle.
      const prev = i === 0 ? this.tokens[n - 1]! - 0x1_0000_0000 : this.tokens[i - 1]!;
      const id = this.ownerIds[i]!;
      out.set(id, (out.get(id) ?? 0) + (this.tokens[i]! - prev) / 0x1_0000_0000);
    }
    return out;
  }

  /** Removes `id` from the ring (a LEFT tombstone): the ring page's "Forget" button. */
  async forget(id: string): Promise<void> {
    await this.opts.kv.cas(this.opts.key, (desc) => desc?.withoutInstance(id, this.now()));
  }

  /** Called with every new descriptor (the KV watch; tests may call it directly). */
  update(desc: RingDesc | undefined): void {
    const next = desc ?? RingDesc.empty;
    const prev = this.latest;
    this.latest = next;
    if (tokensChanged(prev, next) || this.ownerIds.length === 0) {
      const table = tokenOwners(next);
      this.tokens = table.tokens;
      this.ownerIds = table.owners.map((o) => o.id);
      this.distinctOwners = new Set(this.ownerIds).size;
    }
  }

  /** Zone awareness as of the latest descriptor (get() runs once per trace: computed once per update). */
  private zoneAware(): boolean {
    if (this.opts.zoneAwarenessEnabled !== undefined) return this.opts.zoneAwarenessEnabled;
    if (this.zoneAwareOf !== this.latest) {
      this.zoneAwareOf = this.latest;
      this.zoneAwareCached = this.computeZoneAware();
    }
    return this.zoneAwareCached;
  }

  private computeZoneAware(): boolean {
    const zones = new Set<string>();
    for (const i of this.latest.instances.values()) {
      if (i.state === 'LEFT') continue;
      if (i.zone === '') return false;
      zones.add(i.zone);
    }
    return zones.size > 1;
  }

  get(token: number, op: RingOperation = 'write'): ReplicationSet {
    const n = this.tokens.length;
    if (n === 0) throw new RingUnavailableError(writeQuorum(this.opts.replicationFactor), 0, this.what);
    // The walk depends only on where it starts, the descriptor and which instances are healthy: a set is
    // reused until the descriptor changes or one of its instances' heartbeats ages past the timeout (the
    // distributor asks once per trace of every push, with a few hundred start points in all).
    const now = this.now();
    if (this.cachedOf !== this.latest) {
      this.cachedOf = this.latest;
      this.cached = { write: [], read: [] };
    }
    const start = lowerBound(this.tokens, token >>> 0);
    const hit = this.cached[op][start];
    if (hit !== undefined && now >= hit.from && now <= hit.until) return hit.set;
    const set = this.walk(start, op, now);
    let until = Infinity;
    if (this.opts.heartbeatTimeoutMs > 0) for (const i of set.instances) until = Math.min(until, i.timestamp + this.opts.heartbeatTimeoutMs);
    this.cached[op][start] = { set, from: now, until };
    return set;
  }

  /**
   * The replication set of a walk from token index `start`. Instances found unhealthy stay so until the
   * descriptor changes (time only ages heartbeats), the healthy ones until their heartbeat's deadline.
   */
  private walk(start: number, op: RingOperation, now: number): ReplicationSet {
    const rf = this.opts.replicationFactor;
    const quorum = writeQuorum(rf);
    const n = this.tokens.length;
    const zoneAware = this.zoneAware();
    const extend = op === 'read' || (this.opts.extendWrites ?? true);
    const distinct = this.distinctOwners;
    let want = Math.min(rf, distinct);
    // A handful of replicas: arrays beat sets here, and this runs once per trace of every push.
    const picked: InstanceDesc[] = [];
    const zones: string[] = [];
    for (let k = 0; k < n && picked.length < want; k++) {
      const id = this.ownerIds[(start + k) % n]!;
      if (picked.some((p) => p.id === id)) continue;
      const inst = this.latest.get(id);
      if (!inst || inst.state === 'LEFT' || this.excluded.has(inst.zone)) continue;
      if (zoneAware && zones.includes(inst.zone)) continue;
      picked.push(inst);
      if (extend && !this.isHealthy(inst, op, now)) {
        // Does not count towards RF, and leaves its zone free for the replacement.
        want = Math.min(want + 1, distinct);
      } else if (zoneAware) {
        zones.push(inst.zone);
      }
    }
    const healthy = picked.filter((i) => this.isHealthy(i, op, now));
    if (healthy.length < quorum) throw new RingUnavailableError(quorum, healthy.length, this.what);
    return { instances: healthy, maxErrors: healthy.length - quorum };
  }

  /**
   * Every healthy instance (for reads that ask all). As in dskit, at most RF/2 instances of the ring may be
   * unhealthy, else RingUnavailableError; `maxErrors` is how many more of the returned ones may fail.
   */
  getAll(op: RingOperation = 'read'): ReplicationSet {
    const now = this.now();
    const all = this.instances().filter((i) => !this.excluded.has(i.zone));
    const healthy = all.filter((i) => this.isHealthy(i, op, now));
    const rf = this.opts.replicationFactor;
    const required = Math.max(all.length, rf) - Math.floor(rf / 2);
    if (healthy.length < required) throw new RingUnavailableError(required, healthy.length, this.what);
    return { instances: healthy, maxErrors: healthy.length - required };
  }

  private registerMetric(registry: Registry): void {
    let m = membersGauges.get(registry);
    if (!m) {
      const rings = new Set<Ring>();
      const gauge = new Gauge({
        name: 'tempo_ring_members',
        help: 'Number of members in the ring, by state (UNHEALTHY: heartbeat older than the timeout).',
        labelNames: ['name', 'state'] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const r of rings) {
            const counts = new Map<string, number>([...INSTANCE_STATES.filter((s) => s !== 'LEFT'), 'UNHEALTHY'].map((s) => [s, 0]));
            const now = r.now();
            for (const i of r.instances()) {
              const s = r.isHealthy(i, 'reporting', now) ? i.state : 'UNHEALTHY';
              counts.set(s, (counts.get(s) ?? 0) + 1);
            }
            for (const [state, v] of counts) this.set({ name: r.opts.name ?? 'ring', state }, v);
          }
        },
      });
      m = { gauge, rings };
      membersGauges.set(registry, m);
    }
    m.rings.add(this);
  }
}

function tokensChanged(a: RingDesc, b: RingDesc): boolean {
  const live = (d: RingDesc) => [...d.instances.values()].filter((i) => i.state !== 'LEFT' && i.tokens.length > 0);
  const la = live(a);
  const lb = live(b);
  if (la.length !== lb.length) return true;
  for (const x of lb) {
    const y = a.get(x.id);
    if (!y || y.state === 'LEFT' || y.registeredTimestamp !== x.registeredTimestamp || y.tokens.length !== x.tokens.length) return true;
    if (y.tokens === x.tokens) continue;
    for (let i = 0; i < x.tokens.length; i++) if (x.tokens[i] !== y.tokens[i]) return true;
  }
  return false;
}

export interface WaitStabilityOptions {
  /** The ring must keep the same members, states and tokens this long (wait_stability_min_duration). */
  minMs: number;
  /** Give up waiting after this long (wait_stability_max_duration). */
  maxMs: number;
  signal?: AbortSignal;
  /** How often to look (default: a tenth of minMs, between 10 ms and 1 s). */
  pollMs?: number;
}

/**
 * Resolves true once the ring has not changed (members, states, tokens) for `minMs`, or false when
 * `maxMs` passed first or `signal` aborted (dskit's WaitRingStability; the compactor waits before its first
 * cycle so that a fleet starting together does not compact the same blocks twice).
 */
export async function waitRingStability(ring: Pick<Ring, 'instances'>, o: WaitStabilityOptions): Promise<boolean> {
  if (o.minMs <= 0) return true;
  const poll = o.pollMs ?? Math.min(1000, Math.max(10, o.minMs / 10));
  const signature = () =>
    ring
      .instances()
      .map((i) => `${i.id}:${i.state}:${i.tokens.length}:${i.tokens[0] ?? ''}`)
      .join(',');
  const start = Date.now();
  let last = signature();
  let since = start;
  while (!o.signal?.aborted) {
    const now = Date.now();
    if (now - since >= o.minMs) return true;
    if (now - start >= o.maxMs) return false;
    await new Promise<void>((resolve) => {
      // The abort listener goes when the timer fires: one per poll would pile up on the signal.
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        o.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, poll);
      t.unref();
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const sig = signature();
    if (sig !== last) {
      last = sig;
      since = Date.now();
    }
  }
  return false;
}

/** Resolves once `id` is in `state` in the ring; rejects after `timeoutMs` naming what it saw (wait_active_instance_timeout). */
export async function waitInstanceState(ring: Pick<Ring, 'desc'>, id: string, state: InstanceState, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = ring.desc().get(id)?.state;
    if (seen === state) return;
    if (Date.now() >= deadline || signal?.aborted) throw new Error(`instance ${id} is ${seen ?? 'not in the ring'}, not ${state}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
  }
}
