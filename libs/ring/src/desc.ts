// The ring descriptor: every instance of one ring (ingesters, compactors, ...) with its state, tokens and
// last heartbeat. It is a CRDT so that members can change it concurrently and gossip it in any order:
//
// - Merge keeps, per instance ID, the greater of the two entries in one total order: heartbeat timestamp,
//   then state (PENDING < JOINING < ACTIVE < LEAVING < LEFT, so a deletion wins a tie), then the rest of
//   the entry compared field by field. The maximum under a total order is commutative, associative and
//   idempotent (desc.test.ts proves it with fast-check), so every member that has seen the same updates
//   holds the same descriptor, whatever order they came in.
// - Deletion is a tombstone: the entry becomes LEFT with no tokens and a newer timestamp, so an older copy
//   arriving later cannot resurrect it. Tombstones are dropped after memberlist.left_ingesters_timeout.
// - Token conflicts (two instances claiming one token) are never "fixed" inside the merge — that would
//   break the lattice. The descriptor keeps what each instance claims, and ownership is a pure function of
//   it (`tokenOwners`): the instance registered first (then the smaller ID) owns a contested token. So every
//   member with the same descriptor agrees on one owner per token, and the loser's lifecycler replaces the
//   token with a fresh one on its next heartbeat.

import type { Codec, MergeOptions, MergeResult } from './kv';
import type { InstanceDesc, InstanceState } from './ring';
import { Reader, WireError, Writer } from './wire';

export const INSTANCE_STATES: readonly InstanceState[] = ['PENDING', 'JOINING', 'ACTIVE', 'LEAVING', 'LEFT'];
const STATE_RANK: Record<InstanceState, number> = { PENDING: 0, JOINING: 1, ACTIVE: 2, LEAVING: 3, LEFT: 4 };

/** Bounds for decoding a descriptor from the network. */
export const RING_DESC_LIMITS = {
  instances: 100_000,
  tokensPerInstance: 65_536,
  idBytes: 253,
  addrBytes: 512,
  zoneBytes: 253,
} as const;

/** An immutable ring descriptor: instance ID → entry. A Map, not an object: IDs come from the network. */
export class RingDesc {
  static readonly empty = new RingDesc(new Map());

  constructor(readonly instances: ReadonlyMap<string, InstanceDesc>) {}

  get size(): number {
    return this.instances.size;
  }

  get(id: string): InstanceDesc | undefined {
    return this.instances.get(id);
  }

  /** Entries sorted by ID. */
  list(): InstanceDesc[] {
    return [...this.instances.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  withInstance(inst: InstanceDesc): RingDesc {
    const m = new Map(this.instances);
    m.set(inst.id, normalizeInstance(inst));
    return new RingDesc(m);
  }

  /** The descriptor with `id` replaced by a LEFT tombstone newer than its current entry. */
  withoutInstance(id: string, now: number): RingDesc {
    const cur = this.instances.get(id);
    if (!cur || cur.state === 'LEFT') return this;
    return this.withInstance(tombstone(cur, now));
  }

  equals(other: RingDesc): boolean {
    if (this.size !== other.size) return false;
    for (const [id, a] of this.instances) {
      const b = other.instances.get(id);
      if (!b || compareInstances(a, b) !== 0) return false;
    }
    return true;
  }
}

export function tombstone(inst: InstanceDesc, now: number): InstanceDesc {
  return { ...inst, state: 'LEFT', tokens: [], timestamp: Math.max(now, inst.timestamp + 1) };
}

/** Tokens sorted and deduplicated (the canonical form every stored entry has). */
export function normalizeInstance(inst: InstanceDesc): InstanceDesc {
  const t = inst.tokens;
  let sorted = true;
  for (let i = 1; i < t.length; i++) {
    if (t[i]! <= t[i - 1]!) {
      sorted = false;
      break;
    }
  }
  if (sorted) return inst;
  return { ...inst, tokens: [...new Set(t)].sort((a, b) => a - b) };
}

function cmp<T extends string | number>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The total order merge uses: which of two entries for one instance is newer. 0 only for identical entries. */
export function compareInstances(a: InstanceDesc, b: InstanceDesc): number {
  return (
    cmp(a.timestamp, b.timestamp) ||
    cmp(STATE_RANK[a.state], STATE_RANK[b.state]) ||
    cmp(a.registeredTimestamp, b.registeredTimestamp) ||
    cmp(a.addr, b.addr) ||
    cmp(a.zone, b.zone) ||
    cmp(a.id, b.id) ||
    compareTokens(a.tokens, b.tokens)
  );
}

function compareTokens(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/**
 * Merges `incoming` into `current`. Commutative, associative and idempotent on `value`; `change` holds the
 * entries of `incoming` that won. With `localCAS`, entries of `current` missing from `incoming` become
 * tombstones (the caller deleted them).
 */
export function mergeRingDescs(current: RingDesc | undefined, incoming: RingDesc, opts: MergeOptions = {}): MergeResult<RingDesc> {
  const base = current ?? RingDesc.empty;
  const merged = new Map(base.instances);
  const changed = new Map<string, InstanceDesc>();
  for (const [id, inc] of incoming.instances) {
    const cur = merged.get(id);
    if (cur === undefined || compareInstances(inc, cur) > 0) {
      merged.set(id, inc);
      changed.set(id, inc);
    }
  }
  if (opts.localCAS) {
    const now = opts.now ?? Date.now();
    for (const [id, cur] of base.instances) {
      if (incoming.instances.has(id) || cur.state === 'LEFT') continue;
      const t = tombstone(cur, now);
      merged.set(id, t);
      changed.set(id, t);
    }
  }
  if (changed.size === 0) return { value: base, change: undefined };
  return { value: new RingDesc(merged), change: new RingDesc(changed) };
}

/** Drops LEFT entries whose timestamp is before `limit`. Returns the same object when nothing expired. */
export function removeExpiredTombstones(desc: RingDesc, limit: number): RingDesc {
  let m: Map<string, InstanceDesc> | undefined;
  for (const [id, inst] of desc.instances) {
    if (inst.state === 'LEFT' && inst.timestamp < limit) {
      m ??= new Map(desc.instances);
      m.delete(id);
    }
  }
  return m ? new RingDesc(m) : desc;
}

/** A token and the one instance that owns it. */
export interface TokenTable {
  /** Sorted ascending, each token once. */
  readonly tokens: Uint32Array;
  /** owners[i] owns tokens[i]. */
  readonly owners: readonly InstanceDesc[];
}

/**
 * Which instance owns each token. Instances in LEFT hold no tokens. A token claimed by several instances
 * goes to the one registered first, then the smaller ID: the same answer on every member with the same
 * descriptor, and an established instance never loses a token to a newcomer.
 */
export function tokenOwners(desc: RingDesc): TokenTable {
  const pairs: Array<{ token: number; inst: InstanceDesc }> = [];
  for (const inst of desc.instances.values()) {
    if (inst.state === 'LEFT') continue;
    for (const token of inst.tokens) pairs.push({ token, inst });
  }
  pairs.sort((a, b) => a.token - b.token || a.inst.registeredTimestamp - b.inst.registeredTimestamp || cmp(a.inst.id, b.inst.id));
  const tokens: number[] = [];
  const owners: InstanceDesc[] = [];
  for (const p of pairs) {
    if (tokens.length > 0 && tokens[tokens.length - 1] === p.token) continue;
    tokens.push(p.token);
    owners.push(p.inst);
  }
  return { tokens: Uint32Array.from(tokens), owners };
}

/** The tokens `id` claims but does not own (another instance won them). */
export function lostTokens(desc: RingDesc, id: string): number[] {
  const inst = desc.get(id);
  if (!inst || inst.tokens.length === 0) return [];
  const table = tokenOwners(desc);
  const lost: number[] = [];
  for (const t of inst.tokens) {
    const i = lowerBound(table.tokens, t);
    if (i < table.tokens.length && table.tokens[i] === t && table.owners[i]!.id !== id) lost.push(t);
  }
  return lost;
}

/** The first index whose token is >= `token` (tokens.length when none). */
export function lowerBound(tokens: Uint32Array, token: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tokens[mid]! < token) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const CODEC_VERSION = 1;

export function encodeRingDesc(desc: RingDesc): Uint8Array {
  const w = new Writer(64 + desc.size * 600);
  w.u8(CODEC_VERSION).u32(desc.size);
  for (const inst of desc.list()) {
    w.str(inst.id).str(inst.addr).str(inst.zone).u8(STATE_RANK[inst.state]).f64(inst.timestamp).f64(inst.registeredTimestamp);
    w.u32(inst.tokens.length);
    for (const t of inst.tokens) w.u32(t);
  }
  return w.finish();
}

/** Decodes and validates a descriptor; throws WireError on anything malformed. */
export function decodeRingDesc(bytes: Uint8Array): RingDesc {
  const r = new Reader(bytes);
  const version = r.u8('ring desc version');
  if (version !== CODEC_VERSION) throw new WireError(`ring desc: unknown version ${version}`);
  const n = r.count(RING_DESC_LIMITS.instances, 'ring desc instance count');
  const m = new Map<string, InstanceDesc>();
  for (let i = 0; i < n; i++) {
    const id = r.str(RING_DESC_LIMITS.idBytes, 'instance id');
    if (id === '') throw new WireError('ring desc: empty instance id');
    const addr = r.str(RING_DESC_LIMITS.addrBytes, 'instance addr');
    const zone = r.str(RING_DESC_LIMITS.zoneBytes, 'instance zone');
    const stateNum = r.u8('instance state');
    const state = INSTANCE_STATES[stateNum];
    if (state === undefined) throw new WireError(`ring desc: instance ${id}: unknown state ${stateNum}`);
    const timestamp = r.f64('instance timestamp');
    const registeredTimestamp = r.f64('instance registered timestamp');
    if (!validTime(timestamp) || !validTime(registeredTimestamp)) throw new WireError(`ring desc: instance ${id}: timestamp out of range`);
    const nt = r.count(RING_DESC_LIMITS.tokensPerInstance, 'instance token count');
    if (r.remaining < nt * 4) throw new WireError(`ring desc: instance ${id}: ${nt} tokens but ${r.remaining} bytes left`);
    const tokens = new Array<number>(nt);
    for (let k = 0; k < nt; k++) tokens[k] = r.u32();
    if (m.has(id)) throw new WireError(`ring desc: instance ${id} listed twice`);
    m.set(id, normalizeInstance({ id, addr, zone, state, tokens, timestamp, registeredTimestamp }));
  }
  r.expectEnd('ring desc');
  return new RingDesc(m);
}

/** Integral ms between the epoch and year ~2286: what a heartbeat can be. */
function validTime(t: number): boolean {
  return Number.isInteger(t) && t >= 0 && t < 1e13;
}

/** The ring descriptor's codec for the KV store (dskit's ring codec ID). */
export const ringDescCodec: Codec<RingDesc> = {
  id: 'ringDesc',
  encode: encodeRingDesc,
  decode: decodeRingDesc,
  merge: mergeRingDescs,
  removeTombstones: removeExpiredTombstones,
  mergeContent: (d) => [...d.instances.keys()].sort(),
};
