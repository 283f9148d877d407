import { validateStorageConfig } from '@stave/backend';
import { createLifecycler, createRing, InMemoryKV, ringKVClient } from '@stave/ring';
import { defaultConfig, parseConfig, staveConfigSchema } from '@stave/server';
import { memberlistKVOptions, objectStoreOptions, ringConfig } from './options';

const cfg = (raw: unknown) => parseConfig(staveConfigSchema, raw).config;

describe('ring config from Tempo keys', () => {
  test('ingester ring: lifecycler keys, override_ring_key under the kvstore prefix, 2 × heartbeat_timeout auto-forget', () => {
    const rc = ringConfig(
      cfg({
        ingester: {
          override_ring_key: 'ring',
          lifecycler: {
            id: 'ingester-7',
            address: '10.1.2.3',
            num_tokens: 64,
            tokens_file_path: '/var/tempo/tokens.json',
            availability_zone: 'zone-b',
            heartbeat_period: '2s',
            ring: {
              replication_factor: 3,
              heartbeat_timeout: '30s',
              zone_awareness_enabled: true,
              excluded_zones: 'zone-x, zone-y',
              kvstore: { store: 'memberlist', prefix: 'collectors/' },
            },
          },
        },
        distributor: { extend_writes: false },
      }),
      'ingester',
    );
    expect(rc).toMatchObject({
      key: 'collectors/ring',
      store: 'memberlist',
      instanceId: 'ingester-7',
      instanceHost: '10.1.2.3',
      numTokens: 64,
      tokensFilePath: '/var/tempo/tokens.json',
      zone: 'zone-b',
      heartbeatPeriodMs: 2000,
      heartbeatTimeoutMs: 30_000,
      replicationFactor: 3,
      zoneAwarenessEnabled: true,
      excludedZones: ['zone-x', 'zone-y'],
      extendWrites: false,
      autoForgetUnhealthyAfterMs: 60_000,
    });
  });

  test.each([
    ['compactor', 'collectors/compactor', 512],
    ['metrics-generator', 'collectors/metrics-generator', 256],
    ['distributor', 'collectors/distributor', 1],
  ] as const)('%s ring: key %s, %d tokens, RF 1', (kind, key, tokens) => {
    const rc = ringConfig(cfg({}), kind);
    expect(rc).toMatchObject({ key, numTokens: tokens, replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
  });

  test('with no address set, an instance advertises the first address of the listed interfaces', () => {
    // Every Linux host has a loopback interface named lo.
    expect(ringConfig(cfg({ ingester: { lifecycler: { interface_names: ['nosuch0', 'lo'] } } }), 'ingester').instanceHost).toBe('127.0.0.1');
    expect(ringConfig(cfg({ distributor: { ring: { instance_interface_names: ['lo'] } } }), 'distributor').instanceHost).toBe('127.0.0.1');
    expect(ringConfig(cfg({ compactor: { ring: { instance_interface_names: ['nosuch0'] } } }), 'compactor').instanceHost).toBe('');
  });

  test('with no address set and gRPC bound to one host, an instance advertises that host before any interface', () => {
    const bound = { server: { grpc_listen_address: '127.0.0.2' }, ingester: { lifecycler: { interface_names: ['lo'] } } };
    expect(ringConfig(cfg(bound), 'ingester').instanceHost).toBe('127.0.0.2');
    expect(ringConfig(cfg({ server: { grpc_listen_address: '127.0.0.2' } }), 'compactor').instanceHost).toBe('127.0.0.2');
    // A wildcard says nothing about reachability; an explicit address still wins.
    expect(
      ringConfig(cfg({ server: { grpc_listen_address: '0.0.0.0' }, ingester: { lifecycler: { interface_names: ['lo'] } } }), 'ingester').instanceHost,
    ).toBe('127.0.0.1');
    expect(ringConfig(cfg({ ...bound, ingester: { lifecycler: { address: '10.0.0.9' } } }), 'ingester').instanceHost).toBe('10.0.0.9');
  });

  test("compactor ring: Tempo's wait_stability and wait_active_instance_timeout keys", () => {
    expect(ringConfig(cfg({}), 'compactor')).toMatchObject({ waitStabilityMinMs: 60_000, waitStabilityMaxMs: 300_000, waitActiveInstanceTimeoutMs: 600_000 });
    const rc = ringConfig(
      cfg({ compactor: { ring: { wait_stability_min_duration: '0s', wait_stability_max_duration: '10s', wait_active_instance_timeout: '1m' } } }),
      'compactor',
    );
    expect(rc).toMatchObject({ waitStabilityMinMs: 0, waitStabilityMaxMs: 10_000, waitActiveInstanceTimeoutMs: 60_000 });
    expect(ringConfig(cfg({}), 'distributor').waitStabilityMinMs).toBe(0);
  });

  test('memberlist options: Tempo keys in ms, randomized node name, first bind address', () => {
    const o = memberlistKVOptions(
      cfg({
        memberlist: {
          node_name: 'ing',
          bind_addr: ['127.0.0.1'],
          bind_port: 0,
          join_members: ['dns+gossip-ring:7946'],
          gossip_interval: '100ms',
          cluster_label: 'tempo-prod',
          left_ingesters_timeout: '1m',
        },
      }).memberlist,
    );
    expect(o.nodeName).toMatch(/^ing-[0-9a-f]{1,8}$/);
    expect(o).toMatchObject({
      bindAddr: '127.0.0.1',
      bindPort: 0,
      joinMembers: ['dns+gossip-ring:7946'],
      gossipIntervalMs: 100,
      clusterLabel: 'tempo-prod',
      leftIngestersTimeoutMs: 60_000,
      pushPullIntervalMs: 30_000,
    });
    expect(o.advertiseAddr).toBeUndefined();
  });

  test('a ring wired from config registers and places keys (inmemory store)', async () => {
    const c = cfg({ ingester: { lifecycler: { id: 'solo', address: '127.0.0.1', ring: { kvstore: { store: 'inmemory' } } } } });
    const rc = ringConfig(c, 'ingester');
    const kv = ringKVClient({ inmemory: new InMemoryKV() }, rc);
    const ring = createRing(rc, { kv });
    const lc = createLifecycler(rc, { kv, grpcPort: 9095 });
    await ring.start();
    await lc.start();
    expect(ring.get(12345).instances.map((i) => [i.id, i.addr])).toEqual([['solo', '127.0.0.1:9095']]);
    expect(() => ringKVClient({ inmemory: new InMemoryKV() }, { ...rc, store: 'memberlist' })).toThrow(/no memberlist KV was created/);
    await lc.stop();
    await ring.stop();
  });
});

describe('object store options from Tempo keys', () => {
  test('the default storage.trace section is complete, valid backend options', () => {
    expect(validateStorageConfig(objectStoreOptions(defaultConfig()))).toEqual([]);
  });

  test('storage.trace keys reach the backend options as written', () => {
    const o = objectStoreOptions(cfg({ storage: { trace: { backend: 's3', request_timeout: '10s', s3: { bucket: 'traces', endpoint: 'minio:9000' } } } }));
    expect(o).toMatchObject({ backend: 's3', request_timeout: 10_000, s3: { bucket: 'traces', endpoint: 'minio:9000' } });
    expect(validateStorageConfig(o)).toEqual([]);
  });
});
