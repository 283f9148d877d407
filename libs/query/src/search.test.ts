import { create } from '@bufbuild/protobuf';
import { parseMeta } from '@stave/block';
import {
  JobResultSchema,
  QueryMode,
  SearchResponseSchema,
  SearchTagsResponseSchema,
  type FrontendMessage,
  type SearchRequest,
  type SearchResponse,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import { compileQuery } from '@stave/traceql';
import { RequestQueue, type WorkerConnection } from './queue';
import { settle, testBlockMeta, testBlockName } from './testing/block-meta';
import { SearchFrontend, searchResponseJson, tagsResponseJson, tempoTraceIDString } from './search-frontend';
import { SearchMerger, TagsMerger } from './search-merge';
import { parseLogfmt, parseSearchParams, tagsToTraceQL, type SearchLimits } from './search-params';

const tid = (n: number) => new Uint8Array(16).fill(0).map((_, i) => (i === 15 ? n : 0));
const sid = (n: number) => new Uint8Array(8).fill(n);

/** One job's answer: traces as [id, start (ns), span IDs matched, matched count, by() attribute]. */
function answer(traces: Array<[number, bigint, number[], number?, string?]>): SearchResponse {
  return create(SearchResponseSchema, {
    traces: traces.map(([id, start, spans, matched, by]) => ({
      traceId: tid(id),
      rootServiceName: 'svc',
      rootTraceName: 'root',
      startTimeUnixNano: start,
      durationNanos: 5_000_000n,
      spanSets: [
        {
          matched: matched ?? spans.length,
          spans: spans.map((s) => ({ spanId: sid(s), startTimeUnixNano: start, durationNanos: 1n })),
          attributes: by ? [{ key: 'by', value: { value: { case: 'stringValue' as const, value: by } } }] : [],
        },
      ],
    })),
    metrics: { inspectedTraces: traces.length, inspectedBytes: 10n },
  });
}

describe('SearchMerger', () => {
  it('makes one result of a trace found by several jobs, newest first, and sums metrics', () => {
    const m = new SearchMerger(3);
    m.add(
      answer([
        [1, 100n, [1]],
        [2, 300n, [1]],
      ]),
    );
    m.add(
      answer([
        [3, 200n, [1]],
        [1, 100n, [2]],
      ]),
    );
    const r = m.result(0);
    expect(r.traces.map((t) => t.traceId[15])).toEqual([2, 3, 1]);
    const one = r.traces[2]!;
    expect(one.spanSets).toHaveLength(1);
    // Disjoint spans: different parts of the trace, their counts add up.
    expect(one.spanSets[0]!.matched).toBe(2);
    expect(one.spanSets[0]!.spans.map((s) => s.spanId[0])).toEqual([1, 2]);
    expect(r.metrics?.inspectedTraces).toBe(4);
    expect(r.metrics?.inspectedBytes).toBe(20n);
    expect(m.completedJobs).toBe(2);
  });

  it('does not count the same spans twice when two jobs saw the same data', () => {
    const m = new SearchMerger(3);
    m.add(answer([[1, 100n, [1, 2], 5]]));
    m.add(answer([[1, 100n, [1, 2], 5]]));
    const ss = m.result(0).traces[0]!.spanSets[0]!;
    expect(ss.matched).toBe(5);
    expect(ss.spans).toHaveLength(2);
  });

  it('keeps by() groups apart, caps spans at spss, and cuts the answer at limit', () => {
    const m = new SearchMerger(2);
    m.add(answer([[1, 100n, [1, 2], 2, 'a']]));
    m.add(answer([[1, 100n, [3, 4], 2, 'a']]));
    m.add(answer([[1, 100n, [5], 1, 'b']]));
    const t = m.result(0).traces[0]!;
    expect(t.spanSets.map((s) => [s.matched, s.spans.length])).toEqual([
      [4, 2],
      [1, 1],
    ]);
    m.add(
      answer([
        [2, 50n, [1]],
        [3, 500n, [1]],
      ]),
    );
    expect(m.result(2).traces.map((x) => x.traceId[15])).toEqual([3, 1]);
  });
});

describe('search parameters', () => {
  const limits: SearchLimits = { defaultLimit: 20, maxLimit: 100, maxDurationMs: 3_600_000, maxSpansPerSpanSet: 50 };
  const parse = (qs: string) => parseSearchParams(new URL(`http://x/api/search?${qs}`), limits);
  const fails = (qs: string) => {
    try {
      parse(qs);
    } catch (err) {
      const e = ConnectError.from(err);
      expect(e.code).toBe(Code.InvalidArgument);
      return e.rawMessage;
    }
    throw new Error(`${qs} was accepted`);
  };

  it('defaults limit and spss, and reads the rest', () => {
    expect(parse('')).toEqual({ query: '{}', limit: 20, spss: 3, start: 0, end: 0, minDurationMs: 0, maxDurationMs: 0 });
    expect(parse('q={ .a = 1 }&limit=7&spss=5&start=10&end=20&minDuration=1.5s&maxDuration=1m')).toEqual({
      query: '{ .a = 1 }',
      limit: 7,
      spss: 5,
      start: 10,
      end: 20,
      minDurationMs: 1500,
      maxDurationMs: 60_000,
    });
  });

  it.each([
    ['q={}&tags=a%3Db', "invalid request: can't specify tags and q in the same query"],
    ['start=20&end=10', 'http parameter start must be before end. received start=20 end=10'],
    ['start=10', 'http parameter start must be before end. received start=10 end=0'],
    ['limit=0', 'invalid limit: must be a positive number'],
    ['limit=-3', 'invalid limit: must be a positive number'],
    ['limit=101', 'limit 101 exceeds max limit 100'],
    ['spss=-1', 'invalid spss: must be a non-negative number'],
    ['spss=51', 'spans per span set exceeds 50. received 51'],
    ['end=abc', 'invalid end: strconv.ParseInt: parsing "abc": invalid syntax'],
    ['minDuration=5x', 'invalid minDuration: time: invalid duration "5x"'],
    ['minDuration=2s&maxDuration=1s', 'invalid maxDuration: must be greater than minDuration'],
    ['start=1&end=7201', 'range specified by start and end exceeds 1h0m0s. received start=1 end=7201'],
    ['tags=a%3D1 a%3D2', 'invalid tags: tag a has been set twice'],
  ])('%s → 400 %s', (qs, message) => {
    expect(fails(qs)).toBe(message);
  });

  it('reads logfmt tags, quoted values included', () => {
    expect([...parseLogfmt('service.name=cart  http.url="/a b\\"c" flag')]).toEqual([
      ['service.name', 'cart'],
      ['http.url', '/a b"c'],
      ['flag', ''],
    ]);
  });

  it('turns tags into TraceQL that compiles', () => {
    const q = tagsToTraceQL(parseLogfmt('service.name=cart name="GET /x" status.code=error http.status_code=500 region=eu-1 root.name=r'));
    expect(q).toBe(
      '{ resource.service.name =~ ".*cart.*" } && { name =~ ".*GET /x.*" } && { status = error } && { span.http.status_code = 500 } && { .region = "eu-1" } && { rootName =~ ".*r.*" }',
    );
    expect(() => compileQuery(q)).not.toThrow();
    expect(tagsToTraceQL(new Map())).toBe('{}');
  });
});

describe('search answer JSON', () => {
  it('prints trace IDs as Tempo does (hex, leading zeros trimmed) and 64-bit numbers as strings', () => {
    expect(tempoTraceIDString(tid(0xab))).toBe('ab');
    const body = JSON.parse(searchResponseJson(answer([[1, 100n, [9]]]), { total: 3, completed: 2 })) as Record<string, unknown>;
    expect(body).toEqual({
      traces: [
        {
          traceID: '1',
          rootServiceName: 'svc',
          rootTraceName: 'root',
          startTimeUnixNano: '100',
          durationMs: 5,
          spanSet: { spans: [{ spanID: '0909090909090909', startTimeUnixNano: '100', durationNanos: '1' }], matched: 1 },
          spanSets: [{ spans: [{ spanID: '0909090909090909', startTimeUnixNano: '100', durationNanos: '1' }], matched: 1 }],
        },
      ],
      metrics: { inspectedTraces: 1, inspectedBytes: '10', inspectedBlocks: 0, totalBlocks: 0, completedJobs: 2, totalJobs: 3, totalBlockBytes: '0' },
    });
  });
});

describe('SearchFrontend on the request queue', () => {
  const params = { query: '{}', spss: 3, start: 0, end: 0, minDurationMs: 0, maxDurationMs: 0 };
  const blocks = [
    testBlockMeta('b1', { end: '2026-01-01T01:00:00Z', size: 200, rowGroups: 2 }),
    testBlockMeta('b2', { end: '2026-01-01T02:00:00Z', size: 300, rowGroups: 3 }),
  ];
  const opts = {
    defaultLimit: 20,
    maxLimit: 0,
    maxDurationMs: 0,
    maxSpansPerSpanSet: 0,
    timeoutMs: 5000,
    blocks: (tenant: string) => (tenant === 't' ? blocks : []),
    // One row group per job.
    sharding: { targetBytesPerJob: 100 },
  };
  const jobsOf = (sent: FrontendMessage[]) =>
    sent.map((m) => {
      const r = m.job.value as SearchRequest;
      return r.queryMode === QueryMode.INGESTERS ? 'ingesters' : `${testBlockName(parseMeta(r.blockMeta).blockID)}:${r.startRowGroup}+${r.rowGroups}`;
    });
  const reply = (w: WorkerConnection, m: FrontendMessage, res: SearchResponse) =>
    w.complete(create(JobResultSchema, { jobId: m.jobId, outcome: { case: 'search', value: res } }));

  it('sends the ingester job, then one job per row group of each block, newest block first', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const sent: FrontendMessage[] = [];
    const w = queue.connect('q', 100, (jobs) => sent.push(...jobs));
    const f = new SearchFrontend(queue, opts);
    const p = f.search(['t'], { ...params, limit: 10 });
    expect(jobsOf(sent)).toEqual(['ingesters', 'b2:0+1', 'b2:1+1', 'b2:2+1', 'b1:0+1', 'b1:1+1']);
    sent.forEach((m, i) => reply(w, m, answer([[i + 1, BigInt(i), [1]]])));
    const r = await p;
    expect(r.response.traces.map((t) => t.traceId[15])).toEqual([6, 5, 4, 3, 2, 1]);
    expect([r.totalJobs, r.completedJobs, r.totalBlocks]).toEqual([6, 6, 2]);
    // Two blocks inspected (b2 in three jobs), of 500 bytes in the window.
    expect(r.response.metrics?.inspectedBlocks).toBe(2);
    expect(r.response.metrics?.totalBlockBytes).toBe(500n);
  });

  it('keeps at most concurrent_jobs jobs in flight', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const sent: FrontendMessage[] = [];
    const w = queue.connect('q', 100, (jobs) => sent.push(...jobs));
    const f = new SearchFrontend(queue, { ...opts, concurrentJobs: 2 });
    const p = f.search(['t'], { ...params, limit: 10 });
    expect(sent).toHaveLength(2);
    reply(w, sent[0]!, answer([]));
    await settle('the next job', () => sent.length === 3);
    for (let i = 1; i < 6; i++) {
      reply(w, sent[i]!, answer([]));
      if (i < 5) await settle('the next job', () => sent.length === Math.min(6, i + 3));
    }
    const r = await p;
    expect([r.totalJobs, r.completedJobs]).toEqual([6, 6]);
  });

  it('stops once limit traces are found: sends no more jobs and withdraws those queued', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const sent: FrontendMessage[] = [];
    // One slot: the other jobs wait in the queue.
    const w = queue.connect('q', 1, (jobs) => sent.push(...jobs));
    const f = new SearchFrontend(queue, { ...opts, concurrentJobs: 3 });
    const p = f.search(['t'], { ...params, limit: 2 });
    expect(sent).toHaveLength(1);
    expect(queue.length('t')).toBe(2);
    reply(
      w,
      sent[0]!,
      answer([
        [1, 1n, [1]],
        [2, 2n, [1]],
      ]),
    );
    const r = await p;
    expect(r.response.traces).toHaveLength(2);
    expect(queue.length('t')).toBe(0);
    // The slot the answer freed may have taken the next queued job before the answer was merged (it is
    // withdrawn then); the jobs beyond concurrent_jobs were never sent.
    expect(sent.length).toBeLessThanOrEqual(2);
    expect([r.totalJobs, r.completedJobs]).toEqual([6, 1]);
  });

  it('fails the search with the first job error', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const sent: FrontendMessage[] = [];
    const w = queue.connect('q', 10, (jobs) => sent.push(...jobs));
    const f = new SearchFrontend(queue, opts);
    const p = f.search(['t'], { ...params, limit: 2 });
    w.complete(create(JobResultSchema, { jobId: sent[0]!.jobId, outcome: { case: 'error', value: { httpStatus: 503, message: '2 of 3 ingesters failed' } } }));
    await expect(p).rejects.toMatchObject({ code: Code.Unavailable });
  });

  it("refuses query_backend_after beyond query_ingesters_until, in Tempo's words", () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    expect(() => new SearchFrontend(queue, { ...opts, sharding: { queryBackendAfterMs: 3_600_000, queryIngestersUntilMs: 60_000 } })).toThrow(
      'query backend after should be less than or equal to query ingester until',
    );
  });
});

describe('TagsMerger and the tag answers', () => {
  const tags = (scopes: Array<[string, string[]]>, values: Array<[string, string]> = []) =>
    create(SearchTagsResponseSchema, { scopes: scopes.map(([name, t]) => ({ name, tags: t })), values: values.map(([type, value]) => ({ type, value })) });

  it('unions names per scope and typed values, sorted', () => {
    const m = new TagsMerger();
    m.add(
      tags(
        [
          ['span', ['b', 'a']],
          ['intrinsic', ['name']],
        ],
        [
          ['string', 'y'],
          ['int', '2'],
        ],
      ),
    );
    m.add(
      tags(
        [
          ['span', ['c', 'a']],
          ['resource', ['service.name']],
        ],
        [
          ['string', 'x'],
          ['string', 'y'],
        ],
      ),
    );
    const r = m.result();
    expect(r.scopes.map((s) => [s.name, s.tags])).toEqual([
      ['span', ['a', 'b', 'c']],
      ['intrinsic', ['name']],
      ['resource', ['service.name']],
    ]);
    expect(r.values.map((v) => [v.type, v.value])).toEqual([
      ['int', '2'],
      ['string', 'x'],
      ['string', 'y'],
    ]);
    const jobs = { total: 2, completed: 2 };
    expect(JSON.parse(tagsResponseJson(r, jobs, 'names', 1)).tagNames).toEqual(['a', 'b', 'c', 'service.name']);
    expect(JSON.parse(tagsResponseJson(r, jobs, 'names', 2)).scopes[0]).toEqual({ name: 'span', tags: ['a', 'b', 'c'] });
    expect(JSON.parse(tagsResponseJson(r, jobs, 'values', 1)).tagValues).toEqual(['x', 'y']);
    expect(JSON.parse(tagsResponseJson(r, jobs, 'values', 2)).tagValues[0]).toEqual({ type: 'int', value: '2' });
  });
});
