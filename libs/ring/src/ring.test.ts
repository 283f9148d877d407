import { randomTokens, RingUnavailableError, StaticRing, tokenFor, writeQuorum, type InstanceDesc } from './ring';

const now = 1_000_000;
function inst(id: string, tokens: number[], state: InstanceDesc['state'] = 'ACTIVE', age = 0): InstanceDesc {
  return { id, addr: `${id}:9095`, zone: '', state, tokens, timestamp: now - age, registeredTimestamp: 0 };
}

describe('StaticRing', () => {
  it('picks the next RF distinct instances clockwise from the token', () => {
    const ring = new StaticRing({ replicationFactor: 2, heartbeatTimeoutMs: 60_000, now: () => now });
    ring.set([inst('a', [100, 400]), inst('b', [200]), inst('c', [300])]);
    expect(ring.get(150).instances.map((i) => i.id)).toEqual(['b', 'c']);
    expect(ring.get(350).instances.map((i) => i.id)).toEqual(['a', 'b']);
    expect(ring.get(401).instances.map((i) => i.id)).toEqual(['a', 'b']); // wraps around
    expect(ring.get(150).maxErrors).toBe(0);
  });

  it('allows RF - quorum failures, and refuses when fewer than a quorum are healthy', () => {
    const ring = new StaticRing({ replicationFactor: 3, heartbeatTimeoutMs: 1000, now: () => now });
    ring.set([inst('a', [1]), inst('b', [2]), inst('c', [3])]);
    expect(ring.get(0).maxErrors).toBe(1);
    ring.set([inst('a', [1]), inst('b', [2], 'ACTIVE', 5000), inst('c', [3])]);
    expect(ring.get(0)).toMatchObject({ maxErrors: 0 });
    expect(ring.get(0).instances.map((i) => i.id)).toEqual(['a', 'c']);
    ring.set([inst('a', [1]), inst('b', [2], 'LEAVING'), inst('c', [3], 'ACTIVE', 5000)]);
    expect(() => ring.get(0)).toThrow(RingUnavailableError);
    expect(() => ring.get(0)).toThrow('too few healthy ingesters: 2 replicas required, 1 healthy');
  });

  it('is unavailable when empty', () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 1000 });
    expect(() => ring.get(5)).toThrow(RingUnavailableError);
  });
});

describe('tokens', () => {
  it('tokenFor is FNV-1a over tenant then trace ID (persisted in routing: must not change)', () => {
    expect(tokenFor('', new Uint8Array())).toBe(0x811c9dc5);
    expect(tokenFor('a', new Uint8Array())).toBe(0xe40c292c);
    expect(tokenFor('single-tenant', new Uint8Array(16).fill(1))).toBe(tokenFor('single-tenant', new Uint8Array(16).fill(1)));
    expect(tokenFor('t1', new Uint8Array(16).fill(1))).not.toBe(tokenFor('t2', new Uint8Array(16).fill(1)));
  });

  it('writeQuorum is a majority', () => {
    expect([1, 2, 3, 4, 5].map(writeQuorum)).toEqual([1, 2, 2, 3, 3]);
  });

  it('randomTokens are distinct, sorted and avoid taken ones', () => {
    const taken = new Set(randomTokens(500));
    const t = randomTokens(128, taken);
    expect(new Set(t).size).toBe(128);
    expect([...t].sort((a, b) => a - b)).toEqual(t);
    expect(t.some((x) => taken.has(x))).toBe(false);
  });
});
