// The S3 backend against s3rver (a child process on a free loopback port): the shared conformance suite
// path-style, then what is S3's own: virtual-host addressing, the bucket prefix, and retries across an
// outage of the store.

import { lookup as dnsLookup } from 'node:dns';
import { Code, codeOf, defaultConfig } from '@stave/server';
import { createObjectStore, type ManagedObjectStore, type TraceStorageConfig } from '@stave/backend';
import { describeObjectStoreConformance } from '@stave/backend/testing';
import { startS3rver, S3RVER_KEY, type EmulatorProcess } from '../support/emulators';
import { poll } from '../support/poll';

const BUCKET = 'stave-traces';
let s3: EmulatorProcess & { endpoint: string };
const stores: ManagedObjectStore[] = [];
let run = 0;

beforeAll(async () => {
  s3 = await startS3rver([BUCKET]);
}, 60_000);

afterAll(async () => {
  for (const s of stores) await s.close();
  await s3?.stop();
});

function config(s3cfg: Partial<TraceStorageConfig['s3']> = {}, rest: Partial<TraceStorageConfig> = {}): TraceStorageConfig {
  const d = defaultConfig().storage.trace;
  return {
    ...d,
    backend: 's3',
    request_timeout: 20_000,
    backoff: { min_period: 20, max_period: 200, max_retries: 3 },
    ...rest,
    s3: {
      ...d.s3,
      bucket: BUCKET,
      endpoint: s3.endpoint,
      access_key: S3RVER_KEY,
      secret_key: S3RVER_KEY,
      forcepathstyle: true,
      prefix: `run-${run++}`,
      ...s3cfg,
    },
  };
}

/** Each store gets its own metrics registry (`store.metrics`), so counts are per test. */
function store(cfg: TraceStorageConfig, deps: Parameters<typeof createObjectStore>[1] = {}): ManagedObjectStore {
  const s = createObjectStore(cfg, deps);
  stores.push(s);
  return s;
}

describeObjectStoreConformance('s3 (s3rver, path-style)', { create: async () => store(config()) });

describe('s3 specifics', () => {
  it('addresses the bucket as a virtual host when bucket_lookup_type is 1', async () => {
    const asked: string[] = [];
    // `<bucket>.s3.localhost` has no DNS here: resolve names under .localhost to loopback, and record them.
    const lookup = ((host: string, opts: unknown, cb: (...a: unknown[]) => void) => {
      asked.push(host);
      if (!host.endsWith('.localhost')) return dnsLookup(host, opts as never, cb as never);
      if ((opts as { all?: boolean }).all) return cb(null, [{ address: '127.0.0.1', family: 4 }]);
      return cb(null, '127.0.0.1', 4);
    }) as never;
    const s = store(config({ endpoint: `http://s3.localhost:${s3.port}`, forcepathstyle: false, bucket_lookup_type: 1 }), { lookup });
    await s.write('vhost/a', Buffer.from('virtual'));
    expect(Buffer.from(await s.read('vhost/a')).toString()).toBe('virtual');
    expect((await s.list('vhost/')).objects).toEqual(['vhost/a']);
    expect(asked).toContain(`${BUCKET}.s3.localhost`);
  });

  it('keeps every key under the configured prefix, and hands keys back without it', async () => {
    const a = store(config({ prefix: '/tenant-data/a/' }));
    const b = store(config({ prefix: 'tenant-data/b' }));
    const root = store(config({ prefix: '' }));
    await a.write('t/1/meta.json', Buffer.from('a'));
    await b.write('t/1/meta.json', Buffer.from('b'));
    expect(Buffer.from(await a.read('t/1/meta.json')).toString()).toBe('a');
    expect(await a.list('', { delimiter: '/' })).toEqual({ objects: [], prefixes: ['t/'] });
    expect((await root.list('tenant-data/')).objects).toEqual(['tenant-data/a/t/1/meta.json', 'tenant-data/b/t/1/meta.json']);
  });

  it('reports a missing bucket as FailedPrecondition, not as a missing object', async () => {
    const s = store(config({ bucket: 'no-such-bucket' }));
    expect(codeOf(await s.read('x').catch((e: unknown) => e))).toBe(Code.FailedPrecondition);
  });

  it('retries with backoff through an outage and completes once the store is back', async () => {
    const s = store(config({}, { backoff: { min_period: 50, max_period: 400, max_retries: 100 } }));
    await s.write('outage/before', Buffer.from('x'));
    await s3.kill();
    try {
      const pending = s.write('outage/during', Buffer.from('written during an outage'));
      await poll('write retries while s3rver is down', async () => (await s.metrics.value('stave_backend_retries_total', { operation: 'write' })) >= 2);
      await s3.start();
      await pending;
    } finally {
      if (!s3.running) await s3.start();
    }
    expect(Buffer.from(await s.read('outage/during')).toString()).toBe('written during an outage');
    expect(await s.metrics.value('tempodb_backend_request_duration_seconds_count', { operation: 'write', status_code: '503' })).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('gives up after max_retries with Unavailable, naming the attempts', async () => {
    const s = store(config({}, { backoff: { min_period: 10, max_period: 20, max_retries: 2 } }));
    await s3.kill();
    try {
      const err = await s.read('x').catch((e: unknown) => e as Error);
      expect(codeOf(err)).toBe(Code.Unavailable);
      expect((err as Error).message).toMatch(/gave up after 3 attempts/);
    } finally {
      await s3.start();
    }
  }, 30_000);
});
