import { IngesterClientPool, type IngesterClient } from './client';

const fake = (address: string): IngesterClient => ({ address }) as unknown as IngesterClient;

describe('IngesterClientPool', () => {
  it('reuses one client per address and forgets addresses that left the ring when a new one comes', () => {
    let ring = ['10.0.0.1:9095', '10.0.0.2:9095'];
    const made: string[] = [];
    const pool = new IngesterClientPool(
      () => ring,
      (a) => {
        made.push(a);
        return fake(a);
      },
    );
    const first = pool.get('10.0.0.1:9095');
    expect(pool.get('10.0.0.1:9095')).toBe(first);
    pool.get('10.0.0.2:9095');
    expect(made).toEqual(['10.0.0.1:9095', '10.0.0.2:9095']);

    // 10.0.0.1 is replaced by a pod on a new address: the pool drops it on the next new address.
    ring = ['10.0.0.2:9095', '10.0.0.3:9095'];
    pool.get('10.0.0.3:9095');
    expect(pool.size).toBe(2);
    // Asked again (it could be back), it is a new client.
    ring = ['10.0.0.1:9095', '10.0.0.2:9095', '10.0.0.3:9095'];
    expect(pool.get('10.0.0.1:9095')).not.toBe(first);
    expect(made).toEqual(['10.0.0.1:9095', '10.0.0.2:9095', '10.0.0.3:9095', '10.0.0.1:9095']);
  });

  it('stays the size of the ring over many replacements', () => {
    let ring: string[] = [];
    const pool = new IngesterClientPool(() => ring, fake);
    for (let i = 0; i < 1000; i++) {
      ring = [`10.0.${i}.1:9095`, `10.0.${i}.2:9095`, `10.0.${i}.3:9095`];
      for (const a of ring) pool.get(a);
    }
    expect(pool.size).toBe(3);
  });
});
