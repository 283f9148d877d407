import { create } from '@bufbuild/protobuf';
import { JobResultSchema, QueryMode, TraceByIDResponseSchema, TraceSchema, type FrontendMessage } from '@stave/proto';
import { Code, HttpServer, nopLogger } from '@stave/server';
import { blockRanges, queryTenants, QueryFrontend, type FrontendOptions } from './frontend';
import { RequestQueue } from './queue';

describe('blockRanges', () => {
  it('covers the whole block ID space in contiguous, ordered ranges', () => {
    const hex = (u: string) => BigInt('0x' + u.replace(/-/g, ''));
    for (const n of [1, 2, 7, 49]) {
      const r = blockRanges(n);
      expect(r).toHaveLength(n);
      expect(hex(r[0]![0])).toBe(0n);
      expect(hex(r[n - 1]![1])).toBe(2n ** 128n - 1n);
      for (let i = 1; i < n; i++) expect(hex(r[i]![0])).toBe(hex(r[i - 1]![1]) + 1n);
      for (const [lo, hi] of r) {
        expect(lo).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(hex(hi)).toBeGreaterThan(hex(lo));
      }
    }
  });
});

describe('QueryFrontend on the request queue', () => {
  const id = new Uint8Array(16).fill(7);
  const answer = (jobId: string, name?: string) =>
    create(JobResultSchema, {
      jobId,
      outcome: {
        case: 'traceById',
        value: create(TraceByIDResponseSchema, {
          trace: name ? create(TraceSchema, { resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: new Uint8Array(8).fill(1), name }] }] }] }) : undefined,
        }),
      },
    });
  const frontend = (queue: RequestQueue, o: Partial<FrontendOptions> = {}) =>
    new QueryFrontend({
      http: new HttpServer({ name: 'http', address: '127.0.0.1', port: 0, logger: nopLogger }),
      apiPrefix: '',
      multitenancy: false,
      multiTenantQueries: false,
      queue,
      queryShards: 2,
      timeoutMs: 5000,
      hedgeAtMs: 0,
      hedgeUpTo: 1,
      ...o,
    });

  it('shards a lookup into one ingester job and query_shards - 1 block jobs, and combines the parts without duplicate spans', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const sent: FrontendMessage[] = [];
    const w = queue.connect('q', 10, (jobs) => sent.push(...jobs));
    const f = frontend(queue, { queryShards: 4 });
    const p = f.findTraceByID(['t'], id, 0n, 0n);
    expect(sent.map((m) => (m.job.case === 'traceById' ? m.job.value.queryMode : undefined))).toEqual([
      QueryMode.INGESTERS,
      QueryMode.BLOCKS,
      QueryMode.BLOCKS,
      QueryMode.BLOCKS,
    ]);
    // The same span from the ingesters and from a block is returned once.
    for (const m of sent) w.complete(answer(m.jobId, 'op'));
    const trace = await p;
    expect(trace?.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))).toHaveLength(1);
  });

  it('hedges a job not answered within hedge_requests_at onto another querier, and the first answer wins', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const toSlow: FrontendMessage[] = [];
    // Two slots, both taken by the lookup's two jobs: the copies go to a querier with room.
    queue.connect('slow', 2, (jobs) => toSlow.push(...jobs));
    const f = frontend(queue, { hedgeAtMs: 30, hedgeUpTo: 2 });
    const p = f.findTraceByID(['t'], id, 0n, 0n);
    expect(toSlow).toHaveLength(2);
    // The slow querier never answers; a second querier connects and gets the hedged copies.
    const toFast: FrontendMessage[] = [];
    const fast = queue.connect('fast', 10, (jobs) => {
      toFast.push(...jobs);
      for (const m of jobs) queueMicrotask(() => fast.complete(answer(m.jobId, 'hedged')));
    });
    const trace = await p;
    expect(toFast).toHaveLength(2);
    expect(trace?.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name).toBe('hedged');
  });

  it('answers 503 naming the cause when no querier is connected before the deadline, and leaves nothing queued', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const f = frontend(queue, { timeoutMs: 50 });
    await expect(f.findTraceByID(['t'], id, 0n, 0n)).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: expect.stringContaining('no querier connected'),
    });
    expect(queue.length()).toBe(0);
    queue.connect('q', 1, () => undefined);
    await expect(f.findTraceByID(['t'], id, 0n, 0n)).rejects.toMatchObject({ code: Code.DeadlineExceeded });
  });

  describe('with the object store down (block jobs fail reading the backend)', () => {
    const failed = (jobId: string, httpStatus: number, message: string) =>
      create(JobResultSchema, { jobId, outcome: { case: 'error', value: { httpStatus, message } } });
    /** A querier that answers the ingester job with `ingesterSpan` (none: not found) and fails every block job. */
    const run = (blockStatus: number, ingesterSpan?: string) => {
      const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
      const w = queue.connect('q', 10, (jobs) => {
        for (const m of jobs) {
          const blocks = m.job.case === 'traceById' && m.job.value.queryMode === QueryMode.BLOCKS;
          queueMicrotask(() =>
            w.complete(blocks ? failed(m.jobId, blockStatus, 's3: GET single-tenant/b1/bloom-0 failed: connect ECONNREFUSED') : answer(m.jobId, ingesterSpan)),
          );
        }
      });
      return frontend(queue, { queryShards: 3 });
    };

    it('answers what the ingesters hold, marked partial with the reason', async () => {
      const r = await run(503, 'recent').lookup(['t'], id, 0n, 0n);
      expect(r.trace?.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name).toBe('recent');
      expect(r.partial).toMatch(/^2 of 2 block jobs failed, the answer may lack spans stored in the backend: s3: GET .*ECONNREFUSED/);
    });

    it('answers the backend error, not "not found", when the ingesters hold nothing', async () => {
      await expect(run(503).lookup(['t'], id, 0n, 0n)).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining('ECONNREFUSED') });
    });

    it('keeps overload an error (429), not a partial answer', async () => {
      await expect(run(429, 'recent').lookup(['t'], id, 0n, 0n)).rejects.toMatchObject({ code: Code.ResourceExhausted });
    });

    it('serves the partial answer over HTTP: 200, stave-partial header, v2 status PARTIAL with the message', async () => {
      const f = run(503, 'recent');
      const http = (f as unknown as { opts: FrontendOptions }).opts.http;
      await http.start();
      try {
        const base = `http://127.0.0.1:${http.address().port}`;
        const v1 = await fetch(`${base}/api/traces/${Buffer.from(id).toString('hex')}`);
        expect(v1.status).toBe(200);
        expect(v1.headers.get('stave-partial')).toMatch(/block jobs failed/);
        const v2 = await fetch(`${base}/api/v2/traces/${Buffer.from(id).toString('hex')}`);
        expect(v2.status).toBe(200);
        const body = (await v2.json()) as { status?: string; message?: string };
        expect(body.status).toBe('PARTIAL');
        expect(body.message).toMatch(/block jobs failed/);
      } finally {
        await http.stop();
      }
    });
  });
});

describe('queryTenants', () => {
  it.each([
    ['single tenant when multitenancy is off', undefined, false, true, ['single-tenant']],
    ['the org ID', 'a', true, true, ['a']],
    ['every tenant of a|b|a once', 'a|b|a', true, true, ['a', 'b']],
  ] as const)('%s', (_name, org, mt, multi, want) => {
    expect(queryTenants(org, mt, multi)).toEqual(want);
  });
  it('rejects a|b when multi-tenant queries are off', () => {
    expect(() => queryTenants('a|b', true, false)).toThrow(/unsupported characters/);
  });
});
