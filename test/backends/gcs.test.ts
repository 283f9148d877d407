// The GCS backend, with the real @google-cloud/storage client, against the GCS JSON-API test double in
// test/support (in this process, content on disk): the shared conformance suite, then GCS's own:
// resumable uploads in chunks, the bucket prefix, and the request policy (retries only for retryable
// statuses, per-attempt deadlines, hedged reads), observed through the double's request counts.

import { Code, codeOf, defaultConfig } from '@stave/server';
import { createObjectStore, type ManagedObjectStore, type TraceStorageConfig } from '@stave/backend';
import { describeObjectStoreConformance } from '@stave/backend/testing';
import { GcsTestServer } from '../support/gcs-server';

const BUCKET = 'stave-traces';
let gcs: GcsTestServer;
const stores: ManagedObjectStore[] = [];
let run = 0;

beforeAll(async () => {
  gcs = await GcsTestServer.start({ buckets: [BUCKET] });
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await gcs?.stop();
});

function config(g: Partial<TraceStorageConfig['gcs']> = {}, rest: Partial<TraceStorageConfig> = {}): TraceStorageConfig {
  const d = defaultConfig().storage.trace;
  return {
    ...d,
    backend: 'gcs',
    request_timeout: 20_000,
    backoff: { min_period: 20, max_period: 200, max_retries: 3 },
    ...rest,
    // 2 MiB chunks keep the resumable path busy (every chunk is its own PUT) without slowing the suite.
    gcs: { ...d.gcs, bucket_name: BUCKET, endpoint: gcs.endpoint, prefix: `run-${run++}`, chunk_buffer_size: 2 * 1024 * 1024, ...g },
  };
}

/** Each store gets its own metrics registry (`store.metrics`), so counts are per test. */
function store(cfg: TraceStorageConfig): ManagedObjectStore {
  const s = createObjectStore(cfg);
  stores.push(s);
  return s;
}

describeObjectStoreConformance('gcs (JSON-API test double)', { create: async () => store(config()) });

describe('gcs specifics', () => {
  it('uploads a large stream as a resumable session of chunk_buffer_size chunks, a small one in one request', async () => {
    const s = store(config());
    const before = { upload: gcs.counts.upload, chunk: gcs.counts.chunk };
    const MiB = 1024 * 1024;
    await s.write(
      'resumable/big',
      (async function* () {
        for (let i = 0; i < 9; i++) yield Buffer.alloc(MiB, i);
      })(),
    );
    expect(gcs.counts.upload - before.upload).toBe(1); // the session
    expect(gcs.counts.chunk - before.chunk).toBe(5); // 2+2+2+2+1 MiB
    expect((await s.stat('resumable/big')).size).toBe(9 * MiB);
    expect(Buffer.from(await s.readRange('resumable/big', 8 * MiB, 4)).equals(Buffer.alloc(4, 8))).toBe(true);
    await s.write('resumable/small', Buffer.from('small'));
    expect(gcs.counts.upload - before.upload).toBe(2);
    expect(gcs.counts.chunk - before.chunk).toBe(5);
  });

  it('resends a failed resumable chunk and completes the upload', async () => {
    const s = store(config());
    gcs.fail('chunk', 1, 503);
    const MiB = 1024 * 1024;
    await s.write(
      'resumable/retried',
      (async function* () {
        for (let i = 0; i < 5; i++) yield Buffer.alloc(MiB, 7);
      })(),
    );
    expect((await s.stat('resumable/retried')).size).toBe(5 * MiB);
  });

  it('keeps every key under the configured prefix', async () => {
    const a = store(config({ prefix: 'deployments/a/' }));
    const root = store(config({ prefix: '' }));
    await a.write('t/1/meta.json', Buffer.from('a'));
    expect(await a.list('', { delimiter: '/' })).toEqual({ objects: [], prefixes: ['t/'] });
    expect((await root.list('deployments/')).objects).toEqual(['deployments/a/t/1/meta.json']);
  });

  it('reports a missing bucket as FailedPrecondition', async () => {
    const s = store(config({ bucket_name: 'no-such-bucket' }));
    expect(codeOf(await s.read('x').catch((e: unknown) => e))).toBe(Code.FailedPrecondition);
  });

  it('retries a 503 with backoff, and never retries a 403 or a 404', async () => {
    const s = store(config({}, { backoff: { min_period: 10, max_period: 50, max_retries: 3 } }));
    await s.write('policy/a', Buffer.from('a'));
    const media = gcs.counts.media;
    gcs.fail('media', 2, 503);
    expect(Buffer.from(await s.read('policy/a')).toString()).toBe('a');
    expect(gcs.counts.media - media).toBe(3);
    expect(await s.metrics.value('stave_backend_retries_total', { operation: 'read' })).toBe(2);

    gcs.fail('media', 1, 403);
    expect(codeOf(await s.read('policy/a').catch((e: unknown) => e))).toBe(Code.PermissionDenied);
    expect(gcs.counts.media - media).toBe(4);
    expect(codeOf(await s.read('policy/missing').catch((e: unknown) => e))).toBe(Code.NotFound);
    expect(gcs.counts.media - media).toBe(5);
    expect(await s.metrics.value('stave_backend_retries_total', { operation: 'read' })).toBe(2);
  });

  it('gives each attempt a deadline: a stalled request times out and the retry answers', async () => {
    const s = store(config({}, { request_timeout: 300, backoff: { min_period: 10, max_period: 50, max_retries: 2 } }));
    await s.write('policy/slow', Buffer.from('slow'));
    gcs.stall('metadata', 1);
    const t0 = Date.now();
    expect(await s.stat('policy/slow')).toEqual({ size: 4 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(await s.metrics.value('tempodb_backend_request_duration_seconds_count', { operation: 'stat', status_code: '504' })).toBe(1);
    expect(await s.metrics.value('stave_backend_retries_total', { operation: 'stat' })).toBe(1);
  });

  it('hedges a slow read: a second request answers while the first hangs', async () => {
    // A deadline far beyond the test: only the hedge can make this fast.
    const s = store(config({ hedge_requests_at: 50, hedge_requests_up_to: 2 }, { request_timeout: 60_000 }));
    await s.write('hedge/obj', Buffer.from('hedged'));
    gcs.stall('media', 1);
    const media = gcs.counts.media;
    const t0 = Date.now();
    expect(Buffer.from(await s.readRange('hedge/obj', 0, 6)).toString()).toBe('hedged');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(gcs.counts.media - media).toBe(2);
    expect(await s.metrics.value('tempodb_backend_hedged_roundtrips_total')).toBe(1);
    expect(await s.metrics.value('stave_backend_retries_total', { operation: 'read_range' })).toBe(0);
  });
});
