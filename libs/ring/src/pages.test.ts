import { RingDesc, ringDescCodec } from './desc';
import { InMemoryKV } from './kv';
import { Ring } from './kv-ring';
import { MemberlistKV } from './memberlist-kv';
import type { PageRequest, StatusPage } from '@stave/core';
import { goTime, memberlistPage, ringPage } from './pages';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 600);

/** A GET (JSON when `json`) or a POST of form fields. */
function request(over: Partial<PageRequest> & { json?: boolean } = {}): PageRequest {
  const { json, ...rest } = over;
  return { method: 'GET', accept: json ? 'application/json' : 'text/html', query: new URLSearchParams(), form: new URLSearchParams(), ...rest };
}

describe('status pages', () => {
  let ring: Ring;
  let ml: MemberlistKV;
  let ringPg: StatusPage;
  let mlPg: StatusPage;

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
    ringPg = ringPage(ring, { title: 'Ingester ring', now: () => NOW });
    mlPg = memberlistPage(ml);
  });
  afterAll(async () => {
    await ring.stop();
    await ml.stop();
  });

  test("ring JSON has Tempo's shape; a stale heartbeat shows UNHEALTHY; LEFT tombstones are not listed", async () => {
    const res = await ringPg(request({ json: true }));
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({
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
    const res = await ringPg(request());
    expect(res.contentType).toMatch(/text\/html/);
    const html = res.body;
    expect(html).toContain('<h1>Ingester ring</h1>');
    expect(html).not.toContain('ingester-<b>');
    expect(html).toContain('ingester-&#60;b&#62;');
    expect(html.match(/name="forget"/g)).toHaveLength(1);
    expect(html).toContain('value="ingester-&#60;b&#62;"');
  });

  test('forget: healthy refused, unknown 404, unhealthy removed with a redirect back', async () => {
    const post = (id: string) => ringPg(request({ method: 'POST', form: new URLSearchParams({ forget: id }) }));
    const healthy = await post('ingester-a');
    expect(healthy.status).toBe(400);
    expect(healthy.body).toMatch(/instance "ingester-a" is healthy/);
    expect((await post('nobody')).status).toBe(404);
    const forgot = await post('ingester-<b>');
    expect(forgot.status).toBe(302);
    expect(forgot.location).toBe('#');
    const after = JSON.parse((await ringPg(request({ json: true }))).body) as { shards: Array<{ id: string }> };
    expect(after.shards.map((s) => s.id)).toEqual(['ingester-a']);
    expect(ring.desc().get('ingester-<b>')!.state).toBe('LEFT');
  });

  test('memberlist page lists members and KV keys (JSON and HTML)', async () => {
    const json = JSON.parse((await mlPg(request({ json: true }))).body) as {
      node: { name: string; address: string };
      members: Array<{ name: string; state: string; address: string }>;
      keys: Array<{ key: string; codec: string; version: number }>;
    };
    expect(json.node).toEqual({ name: 'node-1', address: ml.memberlist.localAddress() });
    expect(json.members).toEqual([expect.objectContaining({ name: 'node-1', state: 'alive', address: ml.memberlist.localAddress() })]);
    expect(json.keys).toEqual([expect.objectContaining({ key: 'collectors/compactor', codec: 'ringDesc', version: 1 })]);
    const html = (await mlPg(request())).body;
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
