import { RingDesc, ringDescCodec } from './desc';
import { InMemoryKV } from './kv';
import type { InstanceDesc } from './ring';

const inst = (id: string, timestamp: number): InstanceDesc => ({ id, addr: 'h:1', zone: '', state: 'ACTIVE', tokens: [1], timestamp, registeredTimestamp: 0 });

describe('InMemoryKV', () => {
  test('CAS calls for one key run one at a time, each seeing the previous result', async () => {
    const kv = new InMemoryKV().client(ringDescCodec);
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kv.cas('k', async (d) => {
          seen.push(d?.size ?? 0);
          await new Promise((r) => setTimeout(r, 1));
          return (d ?? RingDesc.empty).withInstance(inst(`i${i}`, 1));
        }),
      ),
    );
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await kv.get('k'))!.size).toBe(20);
  });

  test('a throwing CAS rejects to its caller and does not block the next one', async () => {
    const kv = new InMemoryKV().client(ringDescCodec);
    await expect(kv.cas('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await kv.cas('k', () => RingDesc.empty.withInstance(inst('a', 1)));
    expect((await kv.get('k'))!.size).toBe(1);
  });

  test('watchers hear every change (not no-op CASes) until they unsubscribe', async () => {
    const kv = new InMemoryKV().client(ringDescCodec);
    const heard: number[] = [];
    const unwatch = kv.watchKey('k', (d) => heard.push(d!.get('a')!.timestamp));
    await kv.cas('k', () => RingDesc.empty.withInstance(inst('a', 1)));
    await kv.cas('k', (d) => d); // nothing changes
    await kv.cas('k', () => undefined); // left alone
    await kv.cas('k', (d) => d!.withInstance(inst('a', 2)));
    unwatch();
    await kv.cas('k', (d) => d!.withInstance(inst('a', 3)));
    expect(heard).toEqual([1, 2]);
  });

  test('tombstones expire after the timeout, on the periodic sweep', async () => {
    let now = 1000;
    const store = new InMemoryKV({ now: () => now, tombstoneTimeoutMs: 500 });
    const kv = store.client(ringDescCodec);
    await kv.cas('k', () => RingDesc.empty.withInstance(inst('a', 1)).withInstance(inst('b', 1)));
    await kv.cas('k', (d) => d!.withoutInstance('a', now));
    expect((await kv.get('k'))!.get('a')!.state).toBe('LEFT');
    now += 501;
    store.state.sweepTombstones();
    expect([...(await kv.get('k'))!.instances.keys()]).toEqual(['b']);
  });

  test('list and delete', async () => {
    const kv = new InMemoryKV().client(ringDescCodec);
    await kv.cas('collectors/ring', () => RingDesc.empty.withInstance(inst('a', 1)));
    await kv.cas('collectors/compactor', () => RingDesc.empty.withInstance(inst('a', 1)));
    expect(await kv.list('collectors/')).toEqual(['collectors/compactor', 'collectors/ring']);
    await kv.delete('collectors/ring');
    expect(await kv.get('collectors/ring')).toBeUndefined();
  });
});
