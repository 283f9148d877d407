import { HttpServer, nopLogger } from '@stave/server';
import { RingDesc, ringDescCodec } from './desc';
import { InMemoryKV } from './kv';
import { Ring } from './kv-ring';
import { MemberlistKV } from './memberlist-kv';
import { goTime, memberlistPageHandler, ringPageHandler } from './pages';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 600);

describe('status pages on a real HTTP server', () => {
  let server: HttpServer;
  let ring: Ring;
  let ml: MemberlistKV;
  let base: string;

  beforeAll(async () => {
    const kv = new InMemoryKV({ now: () => NOW }).client(ringDescCodec);
    await kv.cas('collectors/ring', () =>
      RingDesc.empty
        .withInstance({
          id: 'ingester-a',
          addr: '10.0.0.1:9095',
          zone: 'z1',
          state: 'ACTIVE',
          tokens: [3, 1, 2],
          timestamp: NOW - 1000,
          registeredTimestamp: NOW - 60_000,
        })
        .withInstance({ id: 'ingester-<b>', addr: '10.0.0.2:9095', zone: '', state: 'ACTIVE', tokens: [9], timestamp: NOW - 61_000, registeredTimestamp: 0 })
        .withInstance({ id: 'gone', addr: '10.0.0.3:9095', zone: '', state: 'LEFT', tokens: [], timestamp: NOW, registeredTimestamp: 0 }),
    );
    ring = new Ring({ kv, key: 'collectors/ring', name: 'ingester', replicationFactor: 1, heartbeatTimeoutMs: 60_000, now: () => NOW });
    await ring.start();
    ml = new MemberlistKV({ nodeName: 'node-1', bindAddr: '127.0.0.1', bindPort: 0 });
    await ml.start();
    await ml
      .client(ringDescCodec)
      .cas('collectors/compactor', () =>
        RingDesc.empty.withInstance({ id: 'c', addr: 'x:1', zone: '', state: 'ACTIVE', tokens: [1], timestamp: NOW, registeredTimestamp: NOW }),
      );
    server = new HttpServer({ name: 'http', address: '127.0.0.1', port: 0, logger: nopLogger });
    server.router.handle(['GET', 'POST'], '/ingester/ring', ringPageHandler(ring, { title: 'Ingester ring', now: () => NOW }));
    server.router.handle('GET', '/memberlist', memberlistPageHandler(ml));
    await server.start();
    base = `http://127.0.0.1:${server.address().port}`;
  });
  afterAll(async () => {
    await server.stop();
    await ring.stop();
    await ml.stop();
  });

  test("ring JSON has Tempo's shape; a stale heartbeat shows UNHEALTHY; LEFT tombstones are not listed", async () => {
    const res = await fetch(`${base}/ingester/ring`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      shards: [
        {
          id: 'ingester-<b>',
          state: 'UNHEALTHY',
          address: '10.0.0.2:9095',
          timestamp: goTime(NOW - 61_000),
          registered_timestamp: '0001-01-01T00:00:00Z',
          zone: '',
          tokens: [9],
        },
        {
          id: 'ingester-a',
          state: 'ACTIVE',
          address: '10.0.0.1:9095',
          timestamp: '2025-01-02T03:04:04.6Z',
          registered_timestamp: '2025-01-02T03:03:05.6Z',
          zone: 'z1',
          tokens: [1, 2, 3],
        },
      ],
      now: '2025-01-02T03:04:05.6Z',
    });
  });

  test('ring HTML escapes what came from the network and offers Forget only for unhealthy instances', async () => {
    const res = await fetch(`${base}/ingester/ring`);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<h1>Ingester ring</h1>');
    expect(html).not.toContain('ingester-<b>');
    expect(html).toContain('ingester-&#60;b&#62;');
    expect(html.match(/name="forget"/g)).toHaveLength(1);
    expect(html).toContain('value="ingester-&#60;b&#62;"');
  });

  test('forget: healthy refused, unknown 404, unhealthy removed with a redirect back', async () => {
    const post = (id: string) => fetch(`${base}/ingester/ring`, { method: 'POST', body: new URLSearchParams({ forget: id }), redirect: 'manual' });
    const healthy = await post('ingester-a');
    expect(healthy.status).toBe(400);
    expect(await healthy.text()).toMatch(/instance "ingester-a" is healthy/);
    expect((await post('nobody')).status).toBe(404);
    const forgot = await post('ingester-<b>');
    expect(forgot.status).toBe(302);
    expect(forgot.headers.get('location')).toBe('#');
    const after = (await (await fetch(`${base}/ingester/ring`, { headers: { accept: 'application/json' } })).json()) as { shards: Array<{ id: string }> };
    expect(after.shards.map((s) => s.id)).toEqual(['ingester-a']);
    expect(ring.desc().get('ingester-<b>')!.state).toBe('LEFT');
  });

  test('memberlist page lists members and KV keys (JSON and HTML)', async () => {
    const json = (await (await fetch(`${base}/memberlist`, { headers: { accept: 'application/json' } })).json()) as {
      node: { name: string; address: string };
      members: Array<{ name: string; state: string; address: string }>;
      keys: Array<{ key: string; codec: string; version: number }>;
    };
    expect(json.node).toEqual({ name: 'node-1', address: ml.memberlist.localAddress() });
    expect(json.members).toEqual([expect.objectContaining({ name: 'node-1', state: 'alive', address: ml.memberlist.localAddress() })]);
    expect(json.keys).toEqual([expect.objectContaining({ key: 'collectors/compactor', codec: 'ringDesc', version: 1 })]);
    const html = await (await fetch(`${base}/memberlist`)).text();
    expect(html).toContain('<h2>Members</h2>');
    expect(html).toContain('collectors/compactor');
  });
});

describe('metrics', () => {
  test('memberlist and ring metrics register on the given registry', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const ml = new MemberlistKV({ nodeName: 'm', bindAddr: '127.0.0.1', bindPort: 0, registry });
    await ml.start();
    const kv = ml.client(ringDescCodec);
    await kv.cas('collectors/ring', () =>
      RingDesc.empty.withInstance({ id: 'a', addr: 'x:1', zone: '', state: 'ACTIVE', tokens: [1], timestamp: Date.now(), registeredTimestamp: 0 }),
    );
    const ring = new Ring({ kv, key: 'collectors/ring', name: 'ingester', replicationFactor: 1, heartbeatTimeoutMs: 60_000, registry });
    await ring.start();
    const text = await registry.metrics();
    expect(text).toContain('memberlist_client_cluster_members_count 1');
    expect(text).toContain('memberlist_client_kv_store_count 1');
    expect(text).toContain('stave_memberlist_dropped_messages_total{reason="malformed"} 0');
    expect(text).toContain('tempo_ring_members{name="ingester",state="ACTIVE"} 1');
    expect(text).toContain('tempo_ring_members{name="ingester",state="UNHEALTHY"} 0');
    await ring.stop();
    await ml.stop();
  });
});
