import fc from 'fast-check';
import { decodeRingDesc, encodeRingDesc, lostTokens, mergeRingDescs, removeExpiredTombstones, RingDesc, ringDescCodec, tokenOwners } from './desc';
import type { InstanceDesc } from './ring';
import { WireError } from './wire';

// Few IDs, small timestamps and a small token space: collisions, ties and conflicts are the common case.
const instanceArb = (id: string): fc.Arbitrary<InstanceDesc> =>
  fc.record({
    id: fc.constant(id),
    addr: fc.constantFrom('10.0.0.1:9095', '10.0.0.2:9095'),
    zone: fc.constantFrom('', 'zone-a', 'zone-b'),
    state: fc.constantFrom('PENDING', 'JOINING', 'ACTIVE', 'LEAVING', 'LEFT'),
    tokens: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 5 }).map((t) => t.sort((a, b) => a - b)),
    timestamp: fc.integer({ min: 0, max: 4 }),
    registeredTimestamp: fc.integer({ min: 0, max: 3 }),
  });

const descArb: fc.Arbitrary<RingDesc> = fc
  .subarray(['a', 'b', 'c', 'd'])
  .chain((ids) => fc.tuple(...ids.map((id) => instanceArb(id))))
  .map((insts) => new RingDesc(new Map(insts.map((i) => [i.id, i]))));

const merge = (a: RingDesc, b: RingDesc) => mergeRingDescs(a, b).value;
const same = (a: RingDesc, b: RingDesc) => a.equals(b);

describe('ring descriptor merge is a CRDT', () => {
  test('commutative', () => {
    fc.assert(
      fc.property(descArb, descArb, (a, b) => same(merge(a, b), merge(b, a))),
      { numRuns: 500 },
    );
  });

  test('associative', () => {
    fc.assert(
      fc.property(descArb, descArb, descArb, (a, b, c) => same(merge(merge(a, b), c), merge(a, merge(b, c)))),
      { numRuns: 500 },
    );
  });

  test('idempotent', () => {
    fc.assert(
      fc.property(descArb, descArb, (a, b) => same(merge(a, a), a) && same(merge(merge(a, b), b), merge(a, b))),
      { numRuns: 500 },
    );
  });

  test('the change alone is enough: merge(a, change) = merge(a, b), and no change means nothing changed', () => {
    fc.assert(
      fc.property(descArb, descArb, (a, b) => {
        const { value, change } = mergeRingDescs(a, b);
        if (change === undefined) return same(value, a);
        return same(merge(a, change), value);
      }),
      { numRuns: 500 },
    );
  });

  test('any delivery order of the same updates gives the same descriptor', () => {
    fc.assert(
      fc.property(fc.array(descArb, { minLength: 1, maxLength: 6 }), fc.func(fc.integer()), (updates, f) => {
        const inOrder = updates.reduce(merge, RingDesc.empty);
        const shuffled = [...updates].sort((x, y) => f(x) - f(y)).reduce(merge, RingDesc.empty);
        return same(inOrder, shuffled);
      }),
      { numRuns: 300 },
    );
  });
});

describe('token ownership', () => {
  test('every claimed token has exactly one owner, and it claims the token', () => {
    fc.assert(
      fc.property(descArb, (d) => {
        const t = tokenOwners(d);
        const claimed = new Set([...d.instances.values()].filter((i) => i.state !== 'LEFT').flatMap((i) => i.tokens));
        if (t.tokens.length !== claimed.size) return false;
        for (let i = 0; i < t.tokens.length; i++) {
          if (i > 0 && t.tokens[i]! <= t.tokens[i - 1]!) return false;
          if (!t.owners[i]!.tokens.includes(t.tokens[i]!)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  test('ownership is a function of the descriptor, whatever order it was built in', () => {
    fc.assert(
      fc.property(descArb, descArb, (a, b) => {
        const x = tokenOwners(merge(a, b));
        const y = tokenOwners(merge(b, a));
        return x.tokens.join() === y.tokens.join() && x.owners.map((o) => o.id).join() === y.owners.map((o) => o.id).join();
      }),
    );
  });

  test('the instance registered first keeps a contested token; the later one has lost it', () => {
    const d = RingDesc.empty
      .withInstance({ id: 'old', addr: 'a', zone: '', state: 'ACTIVE', tokens: [1, 2, 3], timestamp: 10, registeredTimestamp: 1 })
      .withInstance({ id: 'new', addr: 'b', zone: '', state: 'JOINING', tokens: [3, 4], timestamp: 10, registeredTimestamp: 5 });
    expect(lostTokens(d, 'new')).toEqual([3]);
    expect(lostTokens(d, 'old')).toEqual([]);
    const t = tokenOwners(d);
    expect([...t.tokens]).toEqual([1, 2, 3, 4]);
    expect(t.owners.map((o) => o.id)).toEqual(['old', 'old', 'old', 'new']);
  });
});

describe('tombstones', () => {
  const inst = (over: Partial<InstanceDesc>): InstanceDesc => ({
    id: 'x',
    addr: 'h:1',
    zone: '',
    state: 'ACTIVE',
    tokens: [5, 6],
    timestamp: 100,
    registeredTimestamp: 50,
    ...over,
  });

  test('a local CAS without an instance deletes it as a LEFT tombstone newer than the entry', () => {
    const cur = RingDesc.empty.withInstance(inst({})).withInstance(inst({ id: 'y' }));
    const { value, change } = mergeRingDescs(cur, RingDesc.empty.withInstance(inst({ id: 'y' })), { localCAS: true, now: 90 });
    expect(value.get('x')).toMatchObject({ state: 'LEFT', tokens: [], timestamp: 101 });
    expect([...change!.instances.keys()]).toEqual(['x']);
  });

  test('an older copy arriving later does not resurrect a tombstone', () => {
    const dead = RingDesc.empty.withoutInstance('x', 0).withInstance(inst({})).withoutInstance('x', 200);
    const { value, change } = mergeRingDescs(dead, RingDesc.empty.withInstance(inst({ timestamp: 150 })));
    expect(change).toBeUndefined();
    expect(value.get('x')!.state).toBe('LEFT');
  });

  test('a newer heartbeat (the instance came back) wins over the tombstone', () => {
    const dead = RingDesc.empty.withInstance(inst({})).withoutInstance('x', 200);
    expect(merge(dead, RingDesc.empty.withInstance(inst({ timestamp: 300 }))).get('x')!.state).toBe('ACTIVE');
  });

  test('expired tombstones are removed; live entries and fresh tombstones stay', () => {
    const d = RingDesc.empty
      .withInstance(inst({ id: 'old-left', state: 'LEFT', tokens: [], timestamp: 100 }))
      .withInstance(inst({ id: 'new-left', state: 'LEFT', tokens: [], timestamp: 500 }))
      .withInstance(inst({ id: 'stale-active', timestamp: 1 }));
    expect([...removeExpiredTombstones(d, 400).instances.keys()].sort()).toEqual(['new-left', 'stale-active']);
    expect(removeExpiredTombstones(d, 50)).toBe(d);
  });
});

describe('ring descriptor codec', () => {
  test('round-trips', () => {
    fc.assert(fc.property(descArb, (d) => same(decodeRingDesc(encodeRingDesc(d)), d)));
  });

  test('garbage throws WireError and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeRingDesc(bytes);
          return true; // a few random inputs are valid descriptors; that is fine
        } catch (err) {
          return err instanceof WireError;
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('every truncation and every single-byte corruption of a valid descriptor is rejected or decodes to a valid one', () => {
    const rejects = (b: Uint8Array) => {
      try {
        decodeRingDesc(b);
        return false;
      } catch (err) {
        return err instanceof WireError;
      }
    };
    fc.assert(
      fc.property(descArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (d, at, byte) => {
        const enc = Buffer.from(encodeRingDesc(d));
        for (let n = 0; n < enc.length; n++) if (!rejects(enc.subarray(0, n))) return false;
        const bad = Buffer.from(enc);
        bad[at % bad.length] = byte;
        try {
          const got = decodeRingDesc(bad);
          return [...got.instances.values()].every((i) => i.id !== '' && Number.isInteger(i.timestamp) && i.tokens.every((t) => t >= 0 && t <= 0xffffffff));
        } catch (err) {
          return err instanceof WireError;
        }
      }),
      { numRuns: 200 },
    );
  });

  test('a huge declared count is refused before anything is allocated', () => {
    const b = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => decodeRingDesc(b)).toThrow(/limit of 100000/);
  });

  test('instance IDs that look like object properties are plain keys', () => {
    const d = RingDesc.empty.withInstance({ id: '__proto__', addr: 'a', zone: '', state: 'ACTIVE', tokens: [1], timestamp: 1, registeredTimestamp: 1 });
    const back = decodeRingDesc(encodeRingDesc(d));
    expect(back.get('__proto__')!.tokens).toEqual([1]);
    expect(ringDescCodec.mergeContent(back)).toEqual(['__proto__']);
  });
});
