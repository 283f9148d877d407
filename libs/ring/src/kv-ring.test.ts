import { getEventListeners } from 'node:events';
import { RingDesc, ringDescCodec } from './desc';
import { InMemoryKV } from './kv';
import { Ring, waitInstanceState, waitRingStability, type RingOptions } from './kv-ring';
import { JobOwnership } from './ownership';
import { RingUnavailableError, type InstanceDesc, type InstanceState } from './ring';

const NOW = 1_700_000_000_000;
const TIMEOUT = 60_000;

function inst(id: string, tokens: number[], over: Partial<InstanceDesc> = {}): InstanceDesc {
  return { id, addr: `${id}:9095`, zone: '', state: 'ACTIVE', tokens, timestamp: NOW, registeredTimestamp: NOW - 1000, ...over };
}

async function ringOf(instances: InstanceDesc[], opts: Partial<RingOptions> = {}): Promise<Ring> {
  const kv = new InMemoryKV({ now: () => NOW }).client(ringDescCodec);
  await kv.cas('collectors/ring', () => instances.reduce((d, i) => d.withInstance(i), RingDesc.empty));
  const ring = new Ring({ kv, key: 'collectors/ring', name: 'ingester', replicationFactor: 3, heartbeatTimeoutMs: TIMEOUT, now: () => NOW, ...opts });
  await ring.start();
  return ring;
}

const ids = (r: { instances: readonly InstanceDesc[] }) => r.instances.map((i) => i.id);

describe('Ring.get: replication sets', () => {
  // Tokens: a owns 100, b 200, c 300, d 400, e 500 — a key at 150 walks b, c, d, e, a.
  const five = () => [inst('a', [100]), inst('b', [200]), inst('c', [300]), inst('d', [400]), inst('e', [500])];
  const stale = { timestamp: NOW - TIMEOUT - 1 };

  const cases: Array<{
    name: string;
    instances: InstanceDesc[];
    opts?: Partial<RingOptions>;
    op?: 'write' | 'read';
    token?: number;
    want: string[];
    maxErrors: number;
  }> = [
    { name: 'next RF distinct instances clockwise', instances: five(), want: ['b', 'c', 'd'], maxErrors: 1 },
    { name: 'wraps around the circle', instances: five(), token: 450, want: ['e', 'a', 'b'], maxErrors: 1 },
    {
      name: 'an instance with many tokens counts once',
      instances: [inst('a', [100]), inst('b', [200, 250, 260]), inst('c', [300]), inst('d', [400])],
      want: ['b', 'c', 'd'],
      maxErrors: 1,
    },
    {
      name: 'extend_writes walks past an instance whose heartbeat timed out',
      instances: five().map((i) => (i.id === 'c' ? { ...i, ...stale } : i)),
      want: ['b', 'd', 'e'],
      maxErrors: 1,
    },
    {
      name: 'extend_writes walks past a LEAVING instance',
      instances: five().map((i) => (i.id === 'b' ? { ...i, state: 'LEAVING' as InstanceState } : i)),
      want: ['c', 'd', 'e'],
      maxErrors: 1,
    },
    {
      name: 'without extend_writes the set shrinks and the quorum is what is left',
      instances: five().map((i) => (i.id === 'c' ? { ...i, ...stale } : i)),
      opts: { extendWrites: false },
      want: ['b', 'd'],
      maxErrors: 0,
    },
    {
      name: 'reads include LEAVING instances (they still hold data)',
      instances: five().map((i) => (i.id === 'b' ? { ...i, state: 'LEAVING' as InstanceState } : i)),
      op: 'read',
      want: ['b', 'c', 'd'],
      maxErrors: 1,
    },
    {
      name: 'zone-aware: one instance per zone',
      instances: [
        inst('a', [100], { zone: 'z1' }),
        inst('b', [200], { zone: 'z1' }),
        inst('c', [300], { zone: 'z2' }),
        inst('d', [400], { zone: 'z2' }),
        inst('e', [500], { zone: 'z3' }),
      ],
      want: ['b', 'c', 'e'],
      maxErrors: 1,
    },
    {
      name: 'zone-aware: an unhealthy instance leaves its zone to the next instance in it',
      instances: [
        inst('a', [100], { zone: 'z1' }),
        inst('b', [200], { zone: 'z1', ...stale }),
        inst('c', [300], { zone: 'z2' }),
        inst('d', [400], { zone: 'z3' }),
        inst('e', [500], { zone: 'z1' }),
      ],
      want: ['c', 'd', 'e'],
      maxErrors: 1,
    },
    {
      name: 'zones ignored when awareness is off',
      instances: [inst('a', [100], { zone: 'z1' }), inst('b', [200], { zone: 'z1' }), inst('c', [300], { zone: 'z1' }), inst('d', [400], { zone: 'z2' })],
      opts: { zoneAwarenessEnabled: false },
      want: ['b', 'c', 'd'],
      maxErrors: 1,
    },
    {
      name: 'excluded zones are skipped',
      instances: five().map((i) => ({ ...i, zone: i.id === 'c' ? 'bad' : 'ok' })),
      opts: { excludedZones: ['bad'], zoneAwarenessEnabled: false },
      want: ['b', 'd', 'e'],
      maxErrors: 1,
    },
    { name: 'RF 1', instances: five(), opts: { replicationFactor: 1 }, want: ['b'], maxErrors: 0 },
    {
      name: 'LEFT tombstones hold no tokens',
      instances: five().map((i) => (i.id === 'b' ? { ...i, state: 'LEFT' as InstanceState, tokens: [] } : i)),
      want: ['c', 'd', 'e'],
      maxErrors: 1,
    },
  ];
  test.each(cases)('$name', async ({ instances, opts, op, token, want, maxErrors }) => {
    const ring = await ringOf(instances, opts);
    const set = ring.get(token ?? 150, op);
    expect(ids(set)).toEqual(want);
    expect(set.maxErrors).toBe(maxErrors);
    await ring.stop();
  });

  test('too few healthy replicas is RingUnavailableError naming required vs healthy', async () => {
    const ring = await ringOf([inst('a', [100]), inst('b', [200], { timestamp: NOW - TIMEOUT - 1 }), inst('c', [300], { state: 'LEAVING' })]);
    expect(() => ring.get(150)).toThrow(new RingUnavailableError(2, 1, 'ingesters'));
    expect(() => ring.get(150)).toThrow('too few healthy ingesters: 2 replicas required, 1 healthy');
    await ring.stop();
  });

  test('an empty ring is unavailable', async () => {
    const ring = await ringOf([]);
    expect(() => ring.get(1)).toThrow(RingUnavailableError);
    await ring.stop();
  });

  test('heartbeat_timeout is inclusive: exactly the timeout old is still healthy', async () => {
    const ring = await ringOf([inst('a', [1], { timestamp: NOW - TIMEOUT }), inst('b', [2], { timestamp: NOW - TIMEOUT - 1 })], { replicationFactor: 1 });
    expect(ring.isHealthy(ring.desc().get('a')!)).toBe(true);
    expect(ring.isHealthy(ring.desc().get('b')!)).toBe(false);
    expect(ring.healthyInstancesCount()).toBe(1);
    await ring.stop();
  });

  test('a contested token goes to the earlier-registered instance on every ring', async () => {
    const ring = await ringOf([inst('late', [100], { registeredTimestamp: 5 }), inst('early', [100], { registeredTimestamp: 1 }), inst('z', [200])], {
      replicationFactor: 1,
    });
    expect(ids(ring.get(50))).toEqual(['early']);
    await ring.stop();
  });

  test('a set asked for again follows heartbeats ageing past the timeout and every descriptor change', async () => {
    let now = NOW;
    const kv = new InMemoryKV({ now: () => now }).client(ringDescCodec);
    await kv.cas('k', () => five().reduce((d, i) => d.withInstance(i), RingDesc.empty));
    const ring = new Ring({ kv, key: 'k', replicationFactor: 3, heartbeatTimeoutMs: TIMEOUT, now: () => now });
    await ring.start();
    expect(ids(ring.get(150))).toEqual(['b', 'c', 'd']);
    expect(ring.get(150)).toBe(ring.get(120)); // the same walk: one set
    now = NOW + TIMEOUT; // exactly the timeout old: still healthy
    expect(ids(ring.get(150))).toEqual(['b', 'c', 'd']);
    now = NOW + TIMEOUT + 1; // every heartbeat now too old: nothing can take a write
    expect(() => ring.get(150)).toThrow(RingUnavailableError);
    await kv.cas('k', (d) => ['a', 'b', 'd', 'e'].reduce((x, id) => x!.withInstance({ ...x!.get(id)!, timestamp: now }), d));
    expect(ids(ring.get(150))).toEqual(['b', 'd', 'e']); // c's heartbeat stayed old: walked past
    await kv.cas('k', (d) => d!.withInstance({ ...d!.get('d')!, state: 'LEAVING' }));
    expect(ids(ring.get(150))).toEqual(['b', 'e', 'a']);
    await ring.stop();
  });

  test('follows the KV store: a new instance is visible once written', async () => {
    const kv = new InMemoryKV({ now: () => NOW }).client(ringDescCodec);
    const ring = new Ring({ kv, key: 'k', replicationFactor: 1, heartbeatTimeoutMs: TIMEOUT, now: () => NOW });
    await ring.start();
    expect(() => ring.get(1)).toThrow(RingUnavailableError);
    await kv.cas('k', (d) => (d ?? RingDesc.empty).withInstance(inst('a', [10])));
    expect(ids(ring.get(1))).toEqual(['a']);
    await kv.cas('k', (d) => d!.withoutInstance('a', NOW));
    expect(ring.instances()).toEqual([]);
    await ring.stop();
  });
});

describe('Ring.getAll', () => {
  test('every healthy instance; at most RF/2 may be unhealthy', async () => {
    const ring = await ringOf([inst('a', [1]), inst('b', [2]), inst('c', [3], { timestamp: 0 })]);
    const all = ring.getAll();
    expect(ids(all)).toEqual(['a', 'b']);
    expect(all.maxErrors).toBe(0);
    ring.update(ring.desc().withInstance(inst('b', [2], { timestamp: 0 })));
    expect(() => ring.getAll()).toThrow('too few healthy ingesters: 2 replicas required, 1 healthy');
    await ring.stop();
  });
});

describe('Ring.ownership', () => {
  test('fractions of the token space add up to 1', async () => {
    const ring = await ringOf([inst('a', [0x40000000]), inst('b', [0x80000000, 0xc0000000])]);
    const o = ring.ownership();
    expect(o.get('a')).toBeCloseTo(0.5);
    expect(o.get('b')).toBeCloseTo(0.5);
    await ring.stop();
  });
});

describe('JobOwnership (hashring)', () => {
  const jobs = Array.from({ length: 2000 }, (_, i) => `tenant-${i % 7}/block-${i}`);

  test('every job has exactly one owner among the healthy ACTIVE members, spread roughly evenly', async () => {
    const ring = await ringOf([inst('c1', [1]), inst('c2', [2]), inst('c3', [3]), inst('c4', [4], { timestamp: 0 })], { replicationFactor: 1 });
    const members = ['c1', 'c2', 'c3', 'c4'].map((id) => ({ id, own: new JobOwnership({ ring, instanceId: id }) }));
    const counts = new Map<string, number>();
    for (const j of jobs) {
      const owning = members.filter((m) => m.own.owns(j));
      expect(owning).toHaveLength(1);
      counts.set(owning[0]!.id, (counts.get(owning[0]!.id) ?? 0) + 1);
    }
    expect(counts.get('c4')).toBeUndefined();
    for (const id of ['c1', 'c2', 'c3']) expect(counts.get(id)!).toBeGreaterThan(jobs.length / 3 / 2);
    await ring.stop();
  });

  test('a member leaving moves only its own jobs', async () => {
    const ring = await ringOf([inst('c1', [1]), inst('c2', [2]), inst('c3', [3])], { replicationFactor: 1 });
    const own = new JobOwnership({ ring, instanceId: 'c1' });
    const before = new Map(jobs.map((j) => [j, own.owner(j)]));
    ring.update(ring.desc().withoutInstance('c3', NOW));
    for (const j of jobs) if (before.get(j) !== 'c3') expect(own.owner(j)).toBe(before.get(j));
    expect(own.owner('x')).not.toBe('c3');
    await ring.stop();
  });

  test('no healthy member: nobody owns anything', async () => {
    const ring = await ringOf([inst('c1', [1], { state: 'LEAVING' })], { replicationFactor: 1 });
    expect(new JobOwnership({ ring, instanceId: 'c1' }).owns('job')).toBe(false);
    await ring.stop();
  });
});

describe('waiting for the ring', () => {
  test('stability: true once unchanged for the minimum; a change restarts the wait', async () => {
    const ring = await ringOf([inst('a', [1])], { replicationFactor: 1 });
    const started = Date.now();
    const changer = setTimeout(() => ring.update(ring.desc().withInstance(inst('b', [2]))), 60);
    expect(await waitRingStability(ring, { minMs: 150, maxMs: 5000, pollMs: 10 })).toBe(true);
    clearTimeout(changer);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    await ring.stop();
  });

  test('stability: false when the ring keeps changing past the maximum, or on abort', async () => {
    const ring = await ringOf([inst('a', [1])], { replicationFactor: 1 });
    let n = 0;
    const churn = setInterval(() => ring.update(ring.desc().withInstance(inst(`x${n++}`, [100 + n]))), 20);
    expect(await waitRingStability(ring, { minMs: 100, maxMs: 300, pollMs: 10 })).toBe(false);
    clearInterval(churn);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    expect(await waitRingStability(ring, { minMs: 10_000, maxMs: 60_000, signal: ac.signal })).toBe(false);
    await ring.stop();
  });

  test("stability: a long wait leaves no abort listener behind on the caller's signal", async () => {
    const ring = await ringOf([inst('a', [1])], { replicationFactor: 1 });
    const ac = new AbortController();
    expect(await waitRingStability(ring, { minMs: 100, maxMs: 5000, pollMs: 5, signal: ac.signal })).toBe(true);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    await ring.stop();
  });

  test('instance state: resolves when reached, rejects naming what it saw', async () => {
    const ring = await ringOf([inst('a', [1], { state: 'JOINING' })], { replicationFactor: 1 });
    setTimeout(() => ring.update(ring.desc().withInstance(inst('a', [1], { timestamp: NOW + 1 }))), 30);
    await waitInstanceState(ring, 'a', 'ACTIVE', 2000);
    await expect(waitInstanceState(ring, 'b', 'ACTIVE', 50)).rejects.toThrow('instance b is not in the ring, not ACTIVE, after 50 ms');
    await ring.stop();
  });
});
