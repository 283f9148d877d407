// The gossiped KV store (kvstore.store: memberlist), one per process, shared by every ring in it (as in
// dskit): a Service that binds the gossip ports and joins the cluster in `starting`, and on `stopping`
// hands its latest state to a few members over TCP, leaves, and closes.
//
// Values travel as (key, codec ID, encoded value). A local CAS gossips only the change it made; a change
// received by gossip is merged and, if it changed anything here, gossiped on (epidemic spread); full states
// from push/pull are merged without re-gossiping. Anything that fails to decode is dropped and counted.

import { Counter, Gauge, type Registry } from 'prom-client';
import { BasicService, nopLogger, type Logger } from '@stave/core';
import { ringDescCodec } from './desc';
import { resolveJoinMembers, type DiscoveryOptions } from './discovery';
import { KVState, kvClientFor, type Codec, type KVClient, type KVEntrySummary, type KVStore } from './kv';
import { DROP_REASONS, Memberlist, type DropReason, type MemberInfo, type MemberlistOptions } from './memberlist';
import { Reader, WireError, Writer } from './wire';

export interface MemberlistKVOptions extends Omit<MemberlistOptions, 'delegate' | 'onDrop' | 'logger' | 'now'> {
  /** memberlist.join_members (see discovery.ts for the forms). */
  joinMembers?: readonly string[];
  /** How join members are resolved (DNS resolver, Kubernetes API); defaultPort defaults to bindPort or 7946. */
  discovery?: Partial<DiscoveryOptions>;
  minJoinBackoffMs?: number;
  maxJoinBackoffMs?: number;
  maxJoinRetries?: number;
  /** Fail `starting` when no member could be joined (memberlist.abort_if_cluster_join_fails). */
  abortIfJoinFails?: boolean;
  /** Re-resolve and re-join every this often; 0 never (memberlist.rejoin_interval). */
  rejoinIntervalMs?: number;
  /** LEFT tombstones are dropped this long after they were written (memberlist.left_ingesters_timeout). */
  leftIngestersTimeoutMs?: number;
  /** Bound on handing over state and leaving at shutdown (memberlist.leave_timeout). */
  leaveTimeoutMs?: number;
  /** Codecs of the values this store may carry; the ring descriptor codec is always included. */
  codecs?: ReadonlyArray<Codec<any>>;
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

const KEY_BYTES = 1024;
const MAX_ENTRIES = 10_000;
/** Local changes kept for the leave (one per key and instance set: a process writes a handful). */
const LAST_LOCAL_MAX = 64;

export class MemberlistKV extends BasicService implements KVStore {
  readonly memberlist: Memberlist;
  private readonly store: KVState;
  private readonly codecs = new Map<string, Codec<any>>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly background = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private joinedOnce = false;
  private started = false;
  private killed = false;
  /**
   * The latest local change per broadcast key (what this process itself wrote, e.g. its ring entry),
   * sent straight to every member as it leaves. Bounded: the oldest goes first past LAST_LOCAL_MAX.
   */
  private readonly lastLocal = new Map<string, Uint8Array>();
  private readonly dropped: Counter<'reason'> | undefined;
  private readonly received: Counter<string> | undefined;

  constructor(private readonly opts: MemberlistKVOptions) {
    super('memberlist-kv');
    this.log = (opts.logger ?? nopLogger).child({ component: 'memberlist-kv' });
    this.now = opts.now ?? Date.now;
    for (const c of [ringDescCodec as Codec<any>, ...(opts.codecs ?? [])]) this.codecs.set(c.id, c);
    this.store = new KVState({
      now: this.now,
      tombstoneTimeoutMs: opts.leftIngestersTimeoutMs ?? 5 * 60_000,
      onLocalChange: (key, codec, change) => this.broadcastChange(key, codec, change, true),
      onError: (msg, err) => this.log.warn(msg, { err }),
    });
    if (opts.registry) {
      this.dropped = new Counter({
        name: 'stave_memberlist_dropped_messages_total',
        help: 'Gossip packets and streams dropped, by reason.',
        labelNames: ['reason'] as const,
        registers: [opts.registry],
      });
      for (const r of DROP_REASONS) this.dropped.inc({ reason: r }, 0);
      this.received = new Counter({ name: 'memberlist_received_broadcasts_total', help: 'KV updates received by gossip.', registers: [opts.registry] });
      const members = () => (this.started ? this.memberlist.numMembers() : 0);
      const queued = () => this.memberlist.broadcastQueueLength();
      const keys = () => this.store.keys().length;
      new Gauge({
        name: 'memberlist_client_cluster_members_count',
        help: 'Number of members in the memberlist cluster (alive or suspect).',
        registers: [opts.registry],
        collect() {
          this.set(members());
        },
      });
      new Gauge({
        name: 'memberlist_client_messages_in_broadcast_queue',
        help: 'Gossip broadcasts waiting to be sent.',
        registers: [opts.registry],
        collect() {
          this.set(queued());
        },
      });
      new Gauge({
        name: 'memberlist_client_kv_store_count',
        help: 'Keys in the memberlist KV store.',
        registers: [opts.registry],
        collect() {
          this.set(keys());
        },
      });
    }
    this.memberlist = new Memberlist({
      ...opts,
      logger: opts.logger,
      now: this.now,
      onDrop: (reason: DropReason) => this.dropped?.inc({ reason }),
      delegate: {
        localState: () => this.encodeFullState(),
        mergeRemoteState: (buf) => this.mergeFullState(buf),
        notifyMsg: (payload) => this.onUpdate(payload),
      },
    });
  }

  client<T>(codec: Codec<T>): KVClient<T> {
    if (!this.codecs.has(codec.id)) this.codecs.set(codec.id, codec);
    return kvClientFor(this.store, codec);
  }

  /** True once a join succeeded, or when there is nothing to join. */
  joined(): boolean {
    return this.joinedOnce || (this.opts.joinMembers ?? []).length === 0;
  }

  members(): MemberInfo[] {
    return this.started ? this.memberlist.members() : [];
  }

  kvSummaries(): KVEntrySummary[] {
    return this.store.summaries();
  }

  /** The value stored under `key`, whatever its codec (status page). */
  rawValue(key: string): { codec: string; value: unknown } | undefined {
    const e = this.store.entry(key);
    return e ? { codec: e.codec.id, value: e.value } : undefined;
  }

  /**
   * Stops at once without leaving or handing over state: what kill -9 looks like to the other members
   * (chaos tests). The service then stops as usual.
   */
  async kill(): Promise<void> {
    this.killed = true;
    this.background.abort();
    await this.memberlist.shutdown();
    await this.stop();
  }

  protected override async starting(): Promise<void> {
    await this.memberlist.start();
    this.started = true;
    const left = this.opts.leftIngestersTimeoutMs ?? 5 * 60_000;
    if (left > 0) this.every(Math.max(1000, Math.min(left / 10, 60_000)), () => this.store.sweepTombstones());
    const members = this.opts.joinMembers ?? [];
    if (members.length > 0) {
      if (this.opts.abortIfJoinFails) {
        if (!(await this.joinWithRetries()))
          throw new Error(`could not join any of memberlist.join_members [${members.join(', ')}] after ${1 + (this.opts.maxJoinRetries ?? 10)} attempts`);
      } else if (!(await this.joinOnce())) {
        void this.joinWithRetries(1);
      }
    }
    const rejoin = this.opts.rejoinIntervalMs ?? 0;
    if (rejoin > 0 && members.length > 0) this.every(rejoin, () => void this.joinOnce().catch((err: unknown) => this.log.warn('rejoin failed', { err })));
  }

  protected override async stopping(): Promise<void> {
    this.background.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!this.started) return;
    if (!this.killed) {
      const timeout = this.opts.leaveTimeoutMs ?? 20_000;
      const deadline = this.now() + timeout;
      // Our last changes (typically our ring entry going LEFT) over TCP to every member, and the whole
      // state to a few: queued broadcasts may not have gone out yet, and they would die with us.
      const handOver = Promise.all([this.memberlist.sendUserToAll([...this.lastLocal.values()]), this.memberlist.pushPullMembers(this.opts.gossipNodes ?? 3)]);
      await raceTimeout(handOver, timeout);
      await this.memberlist.leave(Math.max(0, deadline - this.now()));
    }
    await this.memberlist.shutdown();
  }

  private every(ms: number, f: () => void): void {
    const t = setInterval(f, ms);
    t.unref();
    this.timers.add(t);
  }

  private async joinOnce(): Promise<boolean> {
    const members = this.opts.joinMembers ?? [];
    const resolved = await resolveJoinMembers(members, {
      defaultPort: this.opts.bindPort || 7946,
      ...this.opts.discovery,
    });
    for (const e of resolved.errors) this.log.warn('join member did not resolve', { err: e });
    if (resolved.addresses.length === 0) return false;
    const { joined, errors } = await this.memberlist.join(resolved.addresses);
    if (joined > 0) {
      if (!this.joinedOnce) this.log.info('joined memberlist cluster', { contacted: joined, members: this.memberlist.numMembers() });
      this.joinedOnce = true;
      return true;
    }
    this.log.warn('joining memberlist cluster failed', { errors: errors.slice(0, 5) });
    return false;
  }

  /** Joins with jittered exponential backoff; `done` attempts were already made. */
  private async joinWithRetries(done = 0): Promise<boolean> {
    const attempts = 1 + (this.opts.maxJoinRetries ?? 10);
    let backoff = this.opts.minJoinBackoffMs ?? 1000;
    const max = this.opts.maxJoinBackoffMs ?? 60_000;
    for (let i = done; i < attempts; i++) {
      if (i > 0) {
        if (!(await sleep(backoff * (0.5 + Math.random() / 2), this.background.signal))) return false;
        backoff = Math.min(max, backoff * 2);
      }
      if (this.background.signal.aborted) return false;
      try {
        if (await this.joinOnce()) return true;
      } catch (err) {
        this.log.warn('joining memberlist cluster failed', { err });
      }
    }
    return false;
  }

  // ---- wire format of KV values ----

  private encodeUpdate(key: string, codec: Codec<unknown>, value: unknown): Uint8Array {
    return new Writer(64).str(key).str(codec.id).bytes(codec.encode(value)).finish();
  }

  private broadcastChange(key: string, codec: Codec<unknown>, change: unknown, local = false): void {
    if (!this.started) return;
    const content = `${key}\u0001${codec.mergeContent(change).join('\u0000')}`;
    const payload = this.encodeUpdate(key, codec, change);
    if (local) {
      this.lastLocal.delete(content);
      this.lastLocal.set(content, payload);
      if (this.lastLocal.size > LAST_LOCAL_MAX) this.lastLocal.delete(this.lastLocal.keys().next().value!);
    }
    this.memberlist.broadcastUser(content, payload);
  }

  private decodeValue(r: Reader): { key: string; codec: Codec<unknown>; value: unknown } | undefined {
    const key = r.str(KEY_BYTES, 'key');
    const codecId = r.str(255, 'codec id');
    const bytes = r.bytes(Number.MAX_SAFE_INTEGER, 'value');
    const codec = this.codecs.get(codecId) as Codec<unknown> | undefined;
    if (!codec) {
      this.log.debug('value with an unknown codec dropped', { key, codec: codecId });
      return undefined;
    }
    return { key, codec, value: codec.decode(bytes) };
  }

  private onUpdate(payload: Uint8Array): void {
    let u;
    try {
      const r = new Reader(payload);
      u = this.decodeValue(r);
      r.expectEnd('kv update');
    } catch (err) {
      this.dropped?.inc({ reason: 'malformed' });
      this.log.debug('malformed kv update dropped', { err: err instanceof WireError ? err.message : String(err) });
      return;
    }
    if (!u) return;
    this.received?.inc();
    const change = this.store.mergeRemote(u.key, u.codec, u.value);
    if (change !== undefined) this.broadcastChange(u.key, u.codec, change);
  }

  private encodeFullState(): Uint8Array {
    const keys = this.store.keys();
    const w = new Writer(1024).u32(keys.length);
    for (const key of keys) {
      const e = this.store.entry(key)!;
      w.str(key).str(e.codec.id).bytes(e.codec.encode(e.value));
    }
    return w.finish();
  }

  private mergeFullState(buf: Uint8Array): void {
    let decoded: Array<{ key: string; codec: Codec<unknown>; value: unknown }>;
    try {
      const r = new Reader(buf);
      const n = r.count(MAX_ENTRIES, 'kv entry count');
      decoded = [];
      for (let i = 0; i < n; i++) {
        const u = this.decodeValue(r);
        if (u) decoded.push(u);
      }
      r.expectEnd('kv state');
    } catch (err) {
      // All or nothing: a state that does not decode to the end is not merged at all.
      this.dropped?.inc({ reason: 'malformed' });
      this.log.debug('malformed kv state dropped', { err: err instanceof Error ? err.message : String(err) });
      return;
    }
    // What the full state taught us is gossiped on, as a broadcast update is: otherwise a change that
    // reached only the few members a node pushed its state to (a leaver's tombstone, handed over as it
    // stops) would reach the rest only at their next push/pull, tens of seconds later.
    for (const u of decoded) {
      const change = this.store.mergeRemote(u.key, u.codec, u.value);
      if (change !== undefined) this.broadcastChange(u.key, u.codec, change);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    t.unref();
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(t);
  }
}
