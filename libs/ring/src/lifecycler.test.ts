import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@stave/core';
import { RingDesc, ringDescCodec } from './desc';
import { InMemoryKV, type KVClient } from './kv';
import { Lifecycler, type LifecyclerOptions } from './lifecycler';
import type { InstanceDesc, InstanceState } from './ring';

const KEY = 'collectors/ring';

class Clock {
  constructor(public t = 1_700_000_000_000) {}
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

describe('Lifecycler', () => {
  let dir: string;
  let clock: Clock;
  let kv: KVClient<RingDesc>;
  const running: Lifecycler[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stave-lifecycler-'));
    clock = new Clock();
    kv = new InMemoryKV({ now: clock.now }).client(ringDescCodec);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((l) => l.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  function lifecycler(over: Partial<LifecyclerOptions> = {}): Lifecycler {
    const l = new Lifecycler({
      kv,
      key: KEY,
      ringName: 'ingester',
      instanceId: 'ingester-0',
      instanceAddr: '127.0.0.1:9095',
      zone: 'z1',
      numTokens: 128,
      // Long: heartbeats in these tests are called explicitly, with the injected clock.
      heartbeatPeriodMs: 3_600_000,
      heartbeatTimeoutMs: 60_000,
      now: clock.now,
      ...over,
    });
    running.push(l);
    return l;
  }

  const entry = async (id = 'ingester-0') => (await kv.get(KEY))?.get(id);

  test('joins ACTIVE with num_tokens distinct sorted tokens and is ready once its entry is seen', async () => {
    const l = lifecycler();
    expect(l.isReady()).toBe(false);
    await l.start();
    const e = (await entry())!;
    expect(e).toMatchObject({ state: 'ACTIVE', addr: '127.0.0.1:9095', zone: 'z1', timestamp: clock.t, registeredTimestamp: clock.t });
    expect(e.tokens).toHaveLength(128);
    expect(new Set(e.tokens).size).toBe(128);
    expect([...e.tokens]).toEqual([...e.tokens].sort((a, b) => a - b));
    expect(l.notReadyReason()).toBeUndefined();
  });

  test('heartbeats advance the timestamp and keep the registration time', async () => {
    const l = lifecycler();
    await l.start();
    const registered = clock.t;
    clock.advance(5000);
    await l.heartbeat();
    expect(await entry()).toMatchObject({ timestamp: registered + 5000, registeredTimestamp: registered });
  });

  test('heartbeats on the timer', async () => {
    const l = lifecycler({ heartbeatPeriodMs: 20, now: Date.now });
    await l.start();
    const first = (await entry())!.timestamp;
    const deadline = Date.now() + 5000;
    while ((await entry())!.timestamp === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await entry())!.timestamp).toBeGreaterThan(first);
  });

  test('tokens are persisted and reused on restart (restart in place, same directory)', async () => {
    const file = path.join(dir, 'sub', 'tokens.json');
    const first = lifecycler({ tokensFilePath: file });
    await first.start();
    const tokens = [...first.tokens()];
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ tokens });
    await first.stop();
    expect((await entry())!.state).toBe('LEFT');

    clock.advance(60_000);
    const second = lifecycler({ tokensFilePath: file });
    await second.start();
    expect(second.tokens()).toEqual(tokens);
    expect(await entry()).toMatchObject({ state: 'ACTIVE', tokens });
  });

  test('without a tokens file, a restart reuses the tokens the ring still has for its ID', async () => {
    const first = lifecycler({ unregisterOnShutdown: false });
    await first.start();
    const tokens = [...first.tokens()];
    await first.stop();
    expect((await entry())!.state).toBe('LEAVING');
    const second = lifecycler();
    await second.start();
    expect(second.tokens()).toEqual(tokens);
  });

  test('a corrupt tokens file is logged and replaced, not fatal', async () => {
    const file = path.join(dir, 'tokens.json');
    await writeFile(file, '{"tokens": [1, 2, "x"');
    const lines: string[] = [];
    const l = lifecycler({ tokensFilePath: file, numTokens: 4, logger: new Logger('warn', 'json', {}, { write: (s) => lines.push(s) }) });
    await l.start();
    expect(l.tokens()).toHaveLength(4);
    expect(lines.join('')).toMatch(/tokens file unreadable; generating new tokens/);
    expect(JSON.parse(await readFile(file, 'utf8')).tokens).toEqual([...l.tokens()]);
  });

  test('shutdown: LEAVING, then beforeUnregister, then a LEFT tombstone', async () => {
    const states: Array<InstanceState | undefined> = [];
    kv.watchKey(KEY, (d) => states.push(d?.get('ingester-0')?.state));
    let stateDuringFlush: InstanceState | undefined;
    const l = lifecycler({ beforeUnregister: async () => void (stateDuringFlush = (await entry())!.state) });
    await l.start();
    await l.stop();
    await l.stop(); // twice is fine
    expect(stateDuringFlush).toBe('LEAVING');
    expect(states).toEqual(['ACTIVE', 'LEAVING', 'LEFT']);
    expect((await entry())!.tokens).toEqual([]);
    expect(l.isReady()).toBe(false);
  });

  test('shutdown: heartbeats go on, LEAVING, while beforeUnregister runs', async () => {
    let flushed!: () => void;
    const flushing = new Promise<void>((r) => (flushed = r));
    const l = lifecycler({ heartbeatPeriodMs: 10, beforeUnregister: () => flushing });
    await l.start();
    const stopped = l.stop();
    await waitUntil(async () => (await entry())?.state === 'LEAVING');
    const before = (await entry())!.timestamp;
    clock.advance(1000);
    await waitUntil(async () => (await entry())!.timestamp > before);
    expect((await entry())!.state).toBe('LEAVING');
    flushed();
    await stopped;
    expect((await entry())!.state).toBe('LEFT');
  });

  test('observe_period: JOINING first, ACTIVE after', async () => {
    const states: Array<InstanceState | undefined> = [];
    kv.watchKey(KEY, (d) => states.push(d?.get('ingester-0')?.state));
    const l = lifecycler({ observePeriodMs: 30, numTokens: 8 });
    await l.start();
    expect(states[0]).toBe('JOINING');
    expect(states[states.length - 1]).toBe('ACTIVE');
  });

  test('tokens lost to an earlier-registered instance are replaced on the next heartbeat', async () => {
    const same: (n: number) => number[] = (n) => Array.from({ length: n }, (_, i) => (i + 1) * 1000);
    let calls = 0;
    const generator = (n: number, taken: ReadonlySet<number>) => {
      calls++;
      if (calls <= 2) return same(n); // both join with identical tokens
      const out: number[] = [];
      for (let t = 5; out.length < n; t += 7) if (!taken.has(t)) out.push(t);
      return out;
    };
    const a = lifecycler({ instanceId: 'a', numTokens: 4, tokenGenerator: generator });
    await a.start();
    clock.advance(1);
    const b = lifecycler({ instanceId: 'b', numTokens: 4, tokenGenerator: generator });
    await b.start();
    expect(b.tokens()).toEqual(a.tokens());
    await b.heartbeat();
    await a.heartbeat();
    const d = (await kv.get(KEY))!;
    expect(d.get('a')!.tokens).toEqual(same(4));
    expect(d.get('b')!.tokens).toHaveLength(4);
    expect(d.get('b')!.tokens.filter((t) => d.get('a')!.tokens.includes(t))).toEqual([]);
  });

  test('auto-forget removes instances whose heartbeat is older than the timeout, only them', async () => {
    await kv.cas(KEY, () =>
      RingDesc.empty
        .withInstance({ id: 'dead', addr: 'x:1', zone: '', state: 'ACTIVE', tokens: [1], timestamp: clock.t - 121_000, registeredTimestamp: 0 })
        .withInstance({ id: 'slow', addr: 'y:1', zone: '', state: 'ACTIVE', tokens: [2], timestamp: clock.t - 119_000, registeredTimestamp: 0 }),
    );
    const l = lifecycler({ autoForgetUnhealthyAfterMs: 120_000, numTokens: 2 });
    await l.start();
    await l.heartbeat();
    const d = (await kv.get(KEY))!;
    expect(d.get('dead')!.state).toBe('LEFT');
    expect(d.get('slow')!.state).toBe('ACTIVE');
  });

  test('auto-forget: after a pause of its own, an instance forgets nobody until it has a fresh view', async () => {
    const other = (timestamp: number): InstanceDesc => ({
      id: 'other',
      addr: 'x:1',
      zone: '',
      state: 'ACTIVE',
      tokens: [1],
      timestamp,
      registeredTimestamp: 0,
    });
    await kv.cas(KEY, () => RingDesc.empty.withInstance(other(clock.t)));
    const l = lifecycler({ autoForgetUnhealthyAfterMs: 6_000, heartbeatTimeoutMs: 3_000, heartbeatPeriodMs: 500, numTokens: 2 });
    await l.start();
    await l.heartbeat();
    // Stopped for 10 s: on waking, `other`'s last heartbeat looks 10 s old, but only because ours is too.
    clock.advance(10_000);
    await l.heartbeat();
    expect((await kv.get(KEY))!.get('other')!.state).toBe('ACTIVE');
    // Heartbeating steadily again for a heartbeat timeout: an instance still silent then is forgotten.
    for (let i = 0; i < 5; i++) {
      clock.advance(500);
      await l.heartbeat();
      expect((await kv.get(KEY))!.get('other')!.state).toBe('ACTIVE');
    }
    clock.advance(500);
    await l.heartbeat();
    expect((await kv.get(KEY))!.get('other')!.state).toBe('LEFT');
  });

  test('readiness: ring health and min_ready_duration', async () => {
    await kv.cas(KEY, () =>
      RingDesc.empty.withInstance({ id: 'other', addr: 'x:1', zone: '', state: 'ACTIVE', tokens: [1], timestamp: clock.t - 61_000, registeredTimestamp: 0 }),
    );
    const l = lifecycler({ readinessCheckRingHealth: true, minReadyDurationMs: 15_000, numTokens: 2 });
    await l.start();
    expect(l.notReadyReason()).toMatch(/instance other in the ring last heartbeat 61s ago/);
    await kv.cas(KEY, (d) => d!.withInstance({ ...d!.get('other')!, timestamp: clock.t }));
    expect(l.notReadyReason()).toMatch(/min_ready_duration/);
    clock.advance(15_000);
    await kv.cas(KEY, (d) => d!.withInstance({ ...d!.get('other')!, timestamp: clock.t }));
    expect(l.isReady()).toBe(true);
    // Readiness latches, as dskit's: another instance leaving or going silent does not take this one out.
    await kv.cas(KEY, (d) => d!.withInstance({ ...d!.get('other')!, state: 'LEAVING' }));
    clock.advance(120_000);
    expect(l.isReady()).toBe(true);
    // Its own state still counts.
    await l.changeState('LEAVING');
    expect(l.notReadyReason()).toMatch(/is LEAVING, not ACTIVE/);
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 5));
  }
}
