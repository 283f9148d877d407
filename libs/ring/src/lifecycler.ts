// An instance's own life in a ring (dskit's lifecycler, for any ring: ingesters, compactors, ...):
//
//   starting:  tokens from tokens_file_path (else the ones the ring still has for this ID, else random),
//              register JOINING → ACTIVE (after observe_period, fixing token conflicts first), persist
//              the tokens, start heartbeating.
//   running:   every heartbeat_period: write a fresh heartbeat; replace tokens another instance won (see
//              desc.ts: the earlier-registered instance keeps a contested token); forget instances whose
//              heartbeat is older than the auto-forget timeout (they crashed and will not come back to
//              say so).
//   stopping:  LEAVING; run `beforeUnregister` (e.g. the ingester's flush) still heartbeating; then, with
//              unregister_on_shutdown, a LEFT tombstone that removes the instance everywhere.
//
// Readiness (`isReady`) needs: Running, ACTIVE, our own ACTIVE entry seen in the KV store, every other
// instance healthy when readiness_check_ring_health is set, and min_ready_duration passed since then.
// Once all held, only our own state is checked again (readiness latches, as dskit's).

import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { BasicService, nopLogger, State, type Logger } from '@stave/core';
import { lostTokens, RingDesc } from './desc';
import type { KVClient } from './kv';
import { randomTokens, type InstanceDesc, type InstanceState } from './ring';

export type TokenGenerator = (n: number, taken: ReadonlySet<number>) => number[];

export interface LifecyclerOptions {
  kv: KVClient<RingDesc>;
  /** The full KV key of the ring. */
  key: string;
  /** For logs: "ingester", "compactor", ... */
  ringName?: string;
  instanceId: string;
  /** host:port other components reach this instance at (its gRPC address). */
  instanceAddr: string;
  zone?: string;
  numTokens: number;
  heartbeatPeriodMs: number;
  /** For readiness (readiness_check_ring_health); 0 disables heartbeat checks. */
  heartbeatTimeoutMs: number;
  /** Persist tokens here and reuse them on restart; empty: do not persist. */
  tokensFilePath?: string;
  /** Remove the instance from the ring on shutdown (default true); false leaves it LEAVING. */
  unregisterOnShutdown?: boolean;
  /** Forget other instances whose heartbeat is older than this; 0 never (the default). */
  autoForgetUnhealthyAfterMs?: number;
  /** Register JOINING and become ACTIVE only after watching the ring this long (ingester.lifecycler.observe_period). */
  observePeriodMs?: number;
  readinessCheckRingHealth?: boolean;
  minReadyDurationMs?: number;
  /** Wait this long after unregistering (ingester.lifecycler.final_sleep). */
  finalSleepMs?: number;
  /** Runs in stopping between LEAVING and unregistering (the ingester flushes here). */
  beforeUnregister?: () => Promise<void>;
  tokenGenerator?: TokenGenerator;
  now?: () => number;
  logger?: Logger;
}

export class Lifecycler extends BasicService {
  private tokensHeld: number[] = [];
  private stateHeld: InstanceState = 'PENDING';
  private registeredAt = 0;
  private seen: RingDesc | undefined;
  private readySince: number | undefined;
  /** Set once every check passed: ring health and min_ready_duration are not asked again (dskit latches). */
  private wasReady = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** When our last heartbeat ran, and since when they have run without a pause (see `heartbeat`). */
  private lastBeatAt: number | undefined;
  private steadySince = -Infinity;
  private heartbeatRunning: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly generate: TokenGenerator;

  constructor(private readonly opts: LifecyclerOptions) {
    super(`${opts.ringName ?? 'ring'}-lifecycler`);
    if (!opts.instanceId) throw new Error(`${this.name}: instance ID is empty`);
    if (opts.numTokens < 0) throw new Error(`${this.name}: num_tokens ${opts.numTokens} is negative`);
    if (opts.heartbeatPeriodMs <= 0) throw new Error(`${this.name}: heartbeat_period must be positive`);
    this.log = (opts.logger ?? nopLogger).child({ component: this.name, instance: opts.instanceId });
    this.now = opts.now ?? Date.now;
    this.generate = opts.tokenGenerator ?? randomTokens;
  }

  get instanceId(): string {
    return this.opts.instanceId;
  }

  /** Our tokens, sorted. */
  tokens(): readonly number[] {
    return this.tokensHeld;
  }

  instanceState(): InstanceState {
    return this.stateHeld;
  }

  /** The descriptor as last seen through the KV watch. */
  ringSeen(): RingDesc | undefined {
    return this.seen;
  }

  isReady(): boolean {
    return this.notReadyReason() === undefined;
  }

  /** Why the instance is not ready (the /ready body), or undefined when it is. */
  notReadyReason(): string | undefined {
    // As dskit's CheckReady, readiness latches: once ready, another instance joining, leaving or dying
    // does not take this one out of service. Our own state is always checked.
    if (this.wasReady) return this.ownFailure();
    const reason = this.readinessFailure();
    // As dskit: any failed check restarts the min_ready_duration wait.
    if (reason !== undefined) this.readySince = undefined;
    else this.readySince ??= this.now();
    if (reason !== undefined) return reason;
    const min = this.opts.minReadyDurationMs ?? 0;
    const waited = this.now() - this.readySince!;
    if (waited < min) return `waiting ${Math.ceil((min - waited) / 1000)}s more of min_ready_duration`;
    this.wasReady = true;
    return undefined;
  }

  private ownFailure(): string | undefined {
    if (this.state !== State.Running) return `${this.name} is ${this.state}`;
    if (this.stateHeld !== 'ACTIVE') return `instance ${this.opts.instanceId} is ${this.stateHeld}, not ACTIVE`;
    const self = this.seen?.get(this.opts.instanceId);
    if (!self || self.state !== 'ACTIVE') return `instance ${this.opts.instanceId} is not yet ACTIVE in the ring seen through the KV store`;
    return undefined;
  }

  private readinessFailure(): string | undefined {
    const own = this.ownFailure();
    if (own !== undefined) return own;
    const now = this.now();
    if (this.opts.readinessCheckRingHealth) {
      for (const i of this.seen!.list()) {
        if (i.state === 'LEFT' || i.id === this.opts.instanceId) continue;
        if (i.state !== 'ACTIVE') return `instance ${i.id} in the ring is ${i.state}`;
        if (this.opts.heartbeatTimeoutMs > 0 && now - i.timestamp > this.opts.heartbeatTimeoutMs) {
          return `instance ${i.id} in the ring last heartbeat ${Math.round((now - i.timestamp) / 1000)}s ago (timeout ${this.opts.heartbeatTimeoutMs / 1000}s)`;
        }
      }
    }
    return undefined;
  }

  protected override async starting(signal: AbortSignal): Promise<void> {
    this.unwatch = this.opts.kv.watchKey(this.opts.key, (v) => this.observe(v));
    this.observe(await this.opts.kv.get(this.opts.key));
    const fromFile = await this.loadTokens();
    const observe = (this.opts.observePeriodMs ?? 0) > 0;
    await this.opts.kv.cas(this.opts.key, (desc) => {
      const d = desc ?? RingDesc.empty;
      const existing = d.get(this.opts.instanceId);
      const alive = existing && existing.state !== 'LEFT';
      let tokens = fromFile ?? (alive ? [...existing.tokens] : []);
      if (tokens.length < this.opts.numTokens)
        tokens = [...tokens, ...this.generate(this.opts.numTokens - tokens.length, takenTokens(d, this.opts.instanceId, tokens))];
      this.tokensHeld = [...new Set(tokens)].sort((a, b) => a - b);
      this.registeredAt = alive ? existing.registeredTimestamp : this.now();
      this.stateHeld = observe ? 'JOINING' : 'ACTIVE';
      return d.withInstance(this.entry(existing));
    });
    this.log.info('registered in the ring', { state: this.stateHeld, tokens: this.tokensHeld.length, reused: fromFile ? 'tokens file' : 'no' });
    if (observe) {
      await sleep(this.opts.observePeriodMs!, signal);
      await this.heartbeat();
      await this.changeState('ACTIVE');
    }
    await this.saveTokens();
    this.heartbeatTimer = setInterval(() => {
      // One heartbeat at a time: a slow KV must not pile them up.
      if (this.heartbeatRunning) return;
      this.heartbeatRunning = this.heartbeat()
        .catch((err: unknown) => this.log.warn('heartbeat failed', { err }))
        .finally(() => (this.heartbeatRunning = undefined));
    }, this.opts.heartbeatPeriodMs);
    this.heartbeatTimer.unref();
  }

  protected override async stopping(): Promise<void> {
    if (this.registeredAt !== 0) {
      await this.heartbeatRunning;
      await this.changeState('LEAVING');
      // Heartbeats go on while `beforeUnregister` runs (as dskit's): a long flush must not show the
      // instance UNHEALTHY, as if it had crashed.
      if (this.opts.beforeUnregister) await this.opts.beforeUnregister();
    }
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.heartbeatRunning;
    if (this.registeredAt !== 0) {
      if (this.opts.unregisterOnShutdown ?? true) {
        await this.opts.kv.cas(this.opts.key, (desc) => desc?.withoutInstance(this.opts.instanceId, this.now()));
        this.stateHeld = 'LEFT';
        this.log.info('unregistered from the ring');
      }
      if (this.opts.finalSleepMs) await sleep(this.opts.finalSleepMs);
    }
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** Whether stopping removes the instance from the ring (`/shutdown` forces it, as Tempo's does). */
  setUnregisterOnShutdown(unregister: boolean): void {
    this.opts.unregisterOnShutdown = unregister;
  }

  /** Sets our state in the ring now (e.g. LEAVING as soon as SIGTERM arrives). */
  async changeState(state: InstanceState): Promise<void> {
    if (this.registeredAt === 0) throw new Error(`${this.name}: not registered yet`);
    this.stateHeld = state;
    await this.opts.kv.cas(this.opts.key, (desc) => (desc ?? RingDesc.empty).withInstance(this.entry(desc?.get(this.opts.instanceId))));
    this.log.info('ring state changed', { state });
  }

  /** A gap between our own heartbeats longer than this is a pause (see `heartbeat`). */
  private pauseMs(): number {
    return this.opts.heartbeatTimeoutMs > 0 ? this.opts.heartbeatTimeoutMs : (this.opts.autoForgetUnhealthyAfterMs ?? 0) / 2;
  }

  /** One heartbeat: fresh timestamp, token conflicts repaired, long-unhealthy instances forgotten. */
  async heartbeat(): Promise<void> {
    // After a pause of our own (SIGSTOP, a frozen VM, a long GC stall), our view of the ring is as old as
    // the pause: every other instance looks silent until the gossip that queued up meanwhile is merged.
    // Forgetting them then would write LEFT tombstones newer than their real heartbeats and take healthy
    // instances out of every ring. So after a gap longer than the heartbeat timeout, this instance forgets
    // nobody until it has itself heartbeat steadily for another heartbeat timeout: by then every live
    // instance's heartbeats (one per period) have reached it again. Shorter gaps (a busy event loop) leave
    // the view at most a timeout old, so only instances silent past the timeout, already unhealthy, can
    // look silent for the forget period.
    const beatAt = this.now();
    if (this.lastBeatAt !== undefined && beatAt - this.lastBeatAt > this.pauseMs()) {
      this.steadySince = beatAt;
      this.log.warn('heartbeat after a pause: auto-forget waits for a fresh view of the ring', { paused_ms: beatAt - this.lastBeatAt });
    }
    this.lastBeatAt = beatAt;
    let replaced = 0;
    const forgotten: string[] = [];
    await this.opts.kv.cas(this.opts.key, (desc) => {
      let d = desc ?? RingDesc.empty;
      const lost = new Set(lostTokens(d.withInstance(this.entry(d.get(this.opts.instanceId))), this.opts.instanceId));
      if (lost.size > 0) {
        const kept = this.tokensHeld.filter((t) => !lost.has(t));
        const fresh = this.generate(lost.size, takenTokens(d, this.opts.instanceId, this.tokensHeld));
        this.tokensHeld = [...new Set([...kept, ...fresh])].sort((a, b) => a - b);
        replaced = lost.size;
      }
      const forgetAfter = this.opts.autoForgetUnhealthyAfterMs ?? 0;
      if (forgetAfter > 0 && this.now() - this.steadySince >= this.pauseMs()) {
        const now = this.now();
        for (const i of d.list()) {
          if (i.id !== this.opts.instanceId && i.state !== 'LEFT' && now - i.timestamp > forgetAfter) {
            d = d.withoutInstance(i.id, now);
            forgotten.push(i.id);
          }
        }
      }
      return d.withInstance(this.entry(d.get(this.opts.instanceId)));
    });
    if (replaced > 0) {
      this.log.warn('tokens owned by another instance replaced', { replaced });
      await this.saveTokens();
    }
    for (const id of forgotten) this.log.warn('forgot an instance unhealthy for too long', { forgotten: id, after_ms: this.opts.autoForgetUnhealthyAfterMs });
  }

  private entry(existing: InstanceDesc | undefined): InstanceDesc {
    // Strictly newer than what the ring holds, even if our clock is behind the one that wrote it.
    const now = this.now();
    return {
      id: this.opts.instanceId,
      addr: this.opts.instanceAddr,
      zone: this.opts.zone ?? '',
      state: this.stateHeld,
      tokens: this.tokensHeld,
      timestamp: Math.max(now, (existing?.timestamp ?? 0) + 1),
      registeredTimestamp: this.registeredAt,
    };
  }

  private observe(desc: RingDesc | undefined): void {
    this.seen = desc;
  }

  private async loadTokens(): Promise<number[] | undefined> {
    const file = this.opts.tokensFilePath;
    if (!file) return undefined;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`reading tokens file ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const parsed = JSON.parse(text) as { tokens?: unknown };
      const t = parsed.tokens;
      if (!Array.isArray(t) || t.length === 0 || !t.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff))
        throw new Error('no "tokens" array of uint32');
      return t as number[];
    } catch (err) {
      // A torn or foreign file must not keep the instance out of the ring: start with fresh tokens.
      this.log.warn('tokens file unreadable; generating new tokens', { file, err: (err as Error).message });
      return undefined;
    }
  }

  private async saveTokens(): Promise<void> {
    const file = this.opts.tokensFilePath;
    if (!file) return;
    // Write, fsync, rename: a crash leaves the old file or the new one, never half of one.
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ tokens: this.tokensHeld }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  }
}

function takenTokens(desc: RingDesc, self: string, own: readonly number[]): Set<number> {
  const taken = new Set<number>(own);
  for (const i of desc.instances.values()) if (i.id !== self && i.state !== 'LEFT') for (const t of i.tokens) taken.add(t);
  return taken;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
