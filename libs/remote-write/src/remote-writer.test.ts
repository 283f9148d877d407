import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { nopLogger } from '@stave/core';
import { encodeChunks } from './encode';
import { TenantQueue } from './queue';
import { endpointKey, RemoteWriter, type RemoteWriterOptions } from './remote-writer';
import { startTestReceiver, type TestReceiver } from './testing';
import type { Series } from './types';

const dirs: string[] = [];
const receivers: TestReceiver[] = [];
const writers: RemoteWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.stop()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'stave-remote-write-'));
  dirs.push(d);
  return d;
}

async function receiver(port = 0, ordering = false): Promise<TestReceiver> {
  const r = await startTestReceiver({ port, ordering });
  receivers.push(r);
  return r;
}

async function writer(opts: Partial<RemoteWriterOptions> & Pick<RemoteWriterOptions, 'path' | 'endpoints'>): Promise<{ w: RemoteWriter; registry: Registry }> {
  const registry = new Registry();
  const w = new RemoteWriter({ addOrgIdHeader: true, flushDeadlineMs: 2000, minBackoffMs: 5, maxBackoffMs: 50, registry, ...opts });
  writers.push(w);
  await w.start();
  return { w, registry };
}

async function poll<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((n, v) => n + v.value, 0);
}

/** Tenant t's queue under `dir`, as RemoteWriter opens it, driven by hand (to stop it where a crash would). */
function tenantQueue(dir: string, endpoint: string): Promise<TenantQueue> {
  return TenantQueue.open({
    dir: path.join(dir, 't', 'wal'),
    endpoints: [endpoint],
    segmentBytes: 1 << 20,
    maxBytes: 1 << 30,
    maxPendingBytes: 1 << 20,
    maxAgeMs: 4 * 3600_000,
    now: Date.now,
    logger: nopLogger,
    onDrop: () => undefined,
  });
}

/** Sample times are recent: the queue drops records older than max_wal_time (4h by default). */
const T0 = Date.now() - 60_000;

function counter(name: string, value: number, offsetMs: number, extra: Array<[string, string]> = []): Series {
  return { labels: [['__name__', name], ...extra], samples: [{ value, timestampMs: T0 + offsetMs }] };
}

describe('RemoteWriter', () => {
  it('sends appended series with the remote write 1.0 headers, configured headers and X-Scope-OrgID', async () => {
    const r = await receiver();
    const { w, registry } = await writer({ path: tmpDir(), endpoints: [{ url: r.url, headers: { Authorization: 'Bearer x' } }] });
    w.append('tenant-a', [counter('calls_total', 7, 1000)]);
    await poll('the request', () => r.requests.length === 1);
    const req = r.requests[0]!;
    expect(req.headers).toMatchObject({
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
      'x-scope-orgid': 'tenant-a',
      authorization: 'Bearer x',
    });
    expect(r.series.get('__name__="calls_total"')).toEqual([{ value: 7, timestampMs: T0 + 1000 }]);
    await poll('the ack', () => w.drained());
    expect(await metric(registry, 'prometheus_remote_storage_samples_total', { tenant: 'tenant-a' })).toBe(1);
    expect(await metric(registry, 'prometheus_remote_storage_samples_pending')).toBe(0);
  });

  it.each([
    ['the single tenant never gets X-Scope-OrgID', 'single-tenant', true, {}, undefined],
    ['remote_write_add_org_id_header false', 'tenant-a', false, {}, undefined],
    ['a configured X-Scope-OrgID (any case) is kept', 'tenant-a', true, { 'x-scope-orgid': 'fixed' }, 'fixed'],
  ])('%s', async (_name, tenant, addOrgIdHeader, headers, expected) => {
    const r = await receiver();
    const { w } = await writer({ path: tmpDir(), addOrgIdHeader, endpoints: [{ url: r.url, headers }] });
    w.append(tenant, [counter('m', 1, 1)]);
    await poll('the request', () => r.requests.length === 1);
    expect(r.requests[0]!.headers['x-scope-orgid']).toBe(expected);
  });

  it('sends exemplars only to endpoints with send_exemplars', async () => {
    const withEx = await receiver();
    const without = await receiver();
    const { w } = await writer({ path: tmpDir(), endpoints: [{ url: withEx.url, sendExemplars: true }, { url: without.url }] });
    w.append('t', [{ ...counter('m', 1, 10), exemplars: [{ labels: [['trace_id', 'abc']], value: 1, timestampMs: T0 + 10 }] }]);
    await poll('both requests', () => withEx.requests.length === 1 && without.requests.length === 1);
    expect(withEx.requests[0]!.body.timeseries[0]!.exemplars).toHaveLength(1);
    expect(without.requests[0]!.body.timeseries[0]!.exemplars).toHaveLength(0);
    expect(without.requests[0]!.body.timeseries[0]!.samples).toHaveLength(1);
  });

  it('retries 5xx and 429 (honouring Retry-After) with the same bytes until accepted', async () => {
    const r = await receiver();
    const answers = [{ status: 503 }, { status: 500 }, { status: 429, headers: { 'Retry-After': '0' } }];
    r.respond(({ index }) => answers[index]);
    const { w, registry } = await writer({ path: tmpDir(), endpoints: [{ url: r.url }] });
    w.append('t', [counter('m', 1, 1), counter('n', 2, 1)]);
    await poll('acceptance after 3 failures', () => r.requests.length === 4 && w.drained());
    expect(r.requests.map((q) => q.status)).toEqual([503, 500, 429, 204]);
    for (const q of r.requests) expect(q.body).toEqual(r.requests[0]!.body);
    expect(await metric(registry, 'prometheus_remote_storage_samples_retried_total')).toBe(6);
    expect(await metric(registry, 'prometheus_remote_storage_samples_total')).toBe(2);
    expect(await metric(registry, 'prometheus_remote_storage_samples_failed_total')).toBe(0);
  });

  it('drops and counts a request refused with 4xx, and goes on with the next', async () => {
    const r = await receiver();
    r.respond(({ body }) => (body.timeseries.some((ts) => ts.labels[0]!.value === 'bad') ? { status: 400, body: 'out of order sample' } : undefined));
    const { w, registry } = await writer({ path: tmpDir(), endpoints: [{ url: r.url }] });
    w.append('t', [counter('bad', 1, 1)]);
    await poll('the refusal', () => w.drained());
    w.append('t', [counter('good', 1, 2)]);
    await poll('the next request', () => r.series.has('__name__="good"') && w.drained());
    expect(await metric(registry, 'prometheus_remote_storage_samples_failed_total')).toBe(1);
    expect(await metric(registry, 'stave_remote_write_samples_dropped_total', { reason: 'rejected' })).toBe(1);
    expect(r.requests.map((q) => q.status)).toEqual([400, 204]);
  });

  it('keeps appending while the receiver is down and delivers everything, in order, when it is back', async () => {
    const first = await receiver();
    const url = first.url;
    const port = Number(new URL(url).port);
    await first.close();
    const { w, registry } = await writer({ path: tmpDir(), endpoints: [{ url }], maxSamplesPerSend: 5 });
    for (let i = 1; i <= 20; i++) w.append('t', [counter('c', i, i * 1000)]);
    await poll('retries against the closed port', async () => (await metric(registry, 'prometheus_remote_storage_samples_retried_total')) > 0 || undefined);
    const back = await receiver(port);
    await poll('all samples delivered', () => w.drained() && back.acceptedSamples() === 20);
    expect(back.series.get('__name__="c"')!.map((s) => s.value)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('after a stop with the receiver down, the next start sends what was queued on disk', async () => {
    const dir = tmpDir();
    const gone = await receiver();
    const port = Number(new URL(gone.url).port);
    await gone.close();
    const first = await writer({ path: dir, endpoints: [{ url: gone.url }], flushDeadlineMs: 50 });
    for (let i = 1; i <= 5; i++) first.w.append('t', [counter('c', i, i)]);
    await first.w.stop();
    expect(readdirSync(path.join(dir, 't', 'wal')).some((f) => f.endsWith('.seg'))).toBe(true);
    const back = await receiver(port);
    const second = await writer({ path: dir, endpoints: [{ url: gone.url }] });
    await poll('the queued samples', () => second.w.drained() && back.acceptedSamples() === 5);
    expect(back.series.get('__name__="c"')!.map((s) => s.value)).toEqual([1, 2, 3, 4, 5]);
  });

  it('after a crash between the receiver committing a request and the ack, resending it loses nothing newer', async () => {
    // The receiver refuses out-of-order samples and rolls back the whole request, as Prometheus does. Had
    // the three committed records been resent together with the new one, the new one would be lost.
    const dir = tmpDir();
    const r = await receiver(0, true);
    const q = await tenantQueue(dir, endpointKey({ url: r.url }));
    const chunks = [1, 2, 3].map((v) => encodeChunks([counter('c', v, v)], 100)[0]!);
    q.enqueue(chunks);
    await q.flush();
    const batch = await q.nextBatch(endpointKey({ url: r.url }), { maxSamples: 100, maxBytes: 1 << 20 });
    expect(batch!.records).toHaveLength(3);
    await q.beforeSend(endpointKey({ url: r.url }), batch!);
    for (const v of [1, 2, 3]) r.commit('__name__="c"', v, T0 + v); // the receiver took it; then the crash
    await q.close();

    const { w } = await writer({ path: dir, endpoints: [{ url: r.url }] });
    w.append('t', [counter('c', 4, 4)]);
    await poll('the new sample', () => r.series.get('__name__="c"')?.length === 4 && w.drained());
    expect(r.series.get('__name__="c"')!.map((s) => s.value)).toEqual([1, 2, 3, 4]);
    expect(r.requests.map((q) => q.status)).toEqual([400, 400, 204, 204]);
  });

  it('after a crash between acknowledged requests whose cursor was not written yet, resending them loses nothing newer', async () => {
    // Acknowledgements are written once the endpoint catches up: here two of three requests were
    // acknowledged and the third committed; the cursor file has only what was written with the lease
    // before the second request (the first acknowledged, all three possibly sent). Had the second and
    // third been resent in one request with the new record, the refusal would take the new one down.
    const dir = tmpDir();
    const r = await receiver(0, true);
    const key = endpointKey({ url: r.url });
    const q = await tenantQueue(dir, key);
    q.enqueue([1, 2, 3].map((v) => encodeChunks([counter('c', v, v)], 100)[0]!));
    await q.flush();
    for (const v of [1, 2, 3]) {
      const batch = await q.nextBatch(key, { maxSamples: 1, maxBytes: 1 << 20 });
      await q.beforeSend(key, batch!);
      r.commit('__name__="c"', v, T0 + v);
      if (v < 3) await q.ack(key, batch!); // the third: committed, then the crash
    }

    const { w } = await writer({ path: dir, endpoints: [{ url: r.url }] });
    w.append('t', [counter('c', 4, 4)]);
    await poll('the new sample', () => r.series.get('__name__="c"')?.length === 4 && w.drained());
    expect(r.series.get('__name__="c"')!.map((s) => s.value)).toEqual([1, 2, 3, 4]);
    expect(r.requests.map((q) => q.status)).toEqual([400, 204, 204]);
    await q.close();
  });

  it('stop waits up to the flush deadline for the queue to empty', async () => {
    const r = await receiver();
    let release!: () => void;
    const released = new Promise<void>((res) => (release = res));
    const { w } = await writer({ path: tmpDir(), endpoints: [{ url: r.url }], flushDeadlineMs: 5000 });
    r.respond(({ index }) => (index === 0 ? { status: 503 } : undefined));
    w.append('t', [counter('m', 1, 1)]);
    setTimeout(release, 100);
    await released;
    await w.stop();
    expect(r.acceptedSamples()).toBe(1);
  });

  it('append never throws, before start, after stop or on bad input', async () => {
    const w = new RemoteWriter({ path: tmpDir(), endpoints: [{ url: 'http://127.0.0.1:1/api/v1/write' }], addOrgIdHeader: false, flushDeadlineMs: 10 });
    expect(() => w.append('t', [counter('m', 1, 1)])).not.toThrow();
    expect(() => w.append('../etc', [counter('m', 1, 1)])).not.toThrow();
    expect(() => w.append('t', [{ labels: null as unknown as [], samples: [{ value: 1, timestampMs: 1 }] }])).not.toThrow();
    await w.stop();
    expect(() => w.append('t', [counter('m', 1, 1)])).not.toThrow();
  });

  it('drops and counts records older than max_wal_time instead of sending them', async () => {
    const dir = tmpDir();
    const gone = await receiver();
    const port = Number(new URL(gone.url).port);
    await gone.close();
    const first = await writer({ path: dir, endpoints: [{ url: gone.url }], flushDeadlineMs: 0 });
    first.w.append('t', [{ labels: [['__name__', 'old']], samples: [{ value: 1, timestampMs: Date.now() - 5 * 3600_000 }] }]);
    await first.w.stop();
    const back = await receiver(port);
    const second = await writer({ path: dir, endpoints: [{ url: gone.url }] });
    second.w.append('t', [counter('new', 1, 0)]);
    await poll('the new sample', () => back.series.has('__name__="new"') && second.w.drained());
    expect(back.series.has('__name__="old"')).toBe(false);
    expect(await metric(second.registry, 'stave_remote_write_samples_dropped_total', { reason: 'too_old' })).toBe(1);
    expect(await metric(second.registry, 'prometheus_remote_storage_samples_dropped_total')).toBe(1);
  });

  it('refuses a config with a URL that is not http(s), naming it', () => {
    expect(
      () => new RemoteWriter({ path: '/tmp/x', endpoints: [{ url: 'ftp://x' }, { url: 'not a url' }], addOrgIdHeader: false, flushDeadlineMs: 10 }),
    ).toThrow(/remote_write\[0\]\.url ftp:\/\/x: only http and https.*remote_write\[1\]\.url "not a url" is not a URL/);
  });
});
