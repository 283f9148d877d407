// The workload is the benchmark's input: it must be reproducible from a seed, shaped as documented, and
// its between-round trace-ID rewrite must touch exactly the span trace IDs.

import { fromBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, type ExportTraceServiceRequest } from '@stave/proto';
import { planRounds } from './loadgen';
import { generateCollectorPool } from './collector-workload';
import { MAX_SPANS_PER_TRACE, MIN_SPANS_PER_TRACE, bodyCopyForRound, bodyForRound, generatePool, traceIdHex } from './workload';

const spansOf = (req: ExportTraceServiceRequest) => req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));

describe('workload', () => {
  const pool = generatePool({ seed: 7, traces: 150, batchSpans: 200, nowMs: 1_700_000_000_000 });

  it('is a pure function of seed and time', () => {
    const again = generatePool({ seed: 7, traces: 150, batchSpans: 200, nowMs: 1_700_000_000_000 });
    expect(again.bodies.map((b) => b.buf.toString('base64'))).toEqual(pool.bodies.map((b) => b.buf.toString('base64')));
    const other = generatePool({ seed: 8, traces: 150, batchSpans: 200, nowMs: 1_700_000_000_000 });
    expect(other.bodies[0]!.buf.equals(pool.bodies[0]!.buf)).toBe(false);
  });

  it('cuts whole traces of 5–30 spans with one root each into requests of at most batch-spans', () => {
    const byTrace = new Map<string, { spans: number; roots: number }>();
    for (const b of pool.bodies) {
      const spans = spansOf(fromBinary(ExportTraceServiceRequestSchema, b.buf));
      expect(spans.length).toBe(b.spans);
      expect(spans.length).toBeLessThanOrEqual(200);
      for (const s of spans) {
        const id = Buffer.from(s.traceId).toString('hex');
        const t = byTrace.get(id) ?? { spans: 0, roots: 0 };
        t.spans++;
        if (s.parentSpanId.length === 0) t.roots++;
        byTrace.set(id, t);
      }
    }
    expect(byTrace.size).toBe(150);
    for (let i = 0; i < 150; i++) {
      const t = byTrace.get(traceIdHex(pool, i, 0))!;
      expect(t.spans).toBe(pool.spansPerTrace[i]);
      expect(t.spans).toBeGreaterThanOrEqual(MIN_SPANS_PER_TRACE);
      expect(t.spans).toBeLessThanOrEqual(MAX_SPANS_PER_TRACE);
      expect(t.roots).toBe(1);
    }
    expect(pool.bodies.reduce((n, b) => n + b.spans, 0)).toBe(pool.spanCount);
  });

  it('rewrites span trace IDs per round, and only them', () => {
    const body = pool.bodies[1]!;
    const original = Buffer.from(body.buf);
    const r3 = fromBinary(ExportTraceServiceRequestSchema, Buffer.from(bodyForRound(body, 3)));
    const r0 = fromBinary(ExportTraceServiceRequestSchema, original);
    const want = new Set(Array.from(body.traces, (t) => traceIdHex(pool, t, 3)));
    const s3 = spansOf(r3);
    const s0 = spansOf(r0);
    s3.forEach((s, i) => {
      expect(want.has(Buffer.from(s.traceId).toString('hex'))).toBe(true);
      expect(s.spanId).toEqual(s0[i]!.spanId);
      expect(s.attributes).toEqual(s0[i]!.attributes);
    });
    // While a send is in flight the body is copied, not changed under the socket.
    body.inFlight = 1;
    const copy = bodyForRound(body, 0);
    expect(copy.equals(original)).toBe(true);
    expect(body.round).toBe(3);
    body.inFlight = 0;
    expect(bodyForRound(body, 0).equals(original)).toBe(true);
  });

  it.each([
    [20_000, 400_000, 1, 20_000],
    [100_000, 400_000, 5, 20_000],
    [10, 1, 10, 1],
  ])('plans %i traces with a %i-span pool as %i round(s) of %i traces', (traces, poolSpans, rounds, poolTraces) => {
    expect(planRounds(traces, poolSpans)).toEqual({ rounds, poolTraces });
  });
});

describe('collector-shaped workload', () => {
  const opts = { seed: 7, traces: 150, batchSpans: 200, nowMs: 1_700_000_000_000 };
  const pool = generateCollectorPool(opts);

  it('holds the same traces as the project workload, only cut differently', () => {
    const project = generatePool(opts);
    expect(pool.traceIds.equals(project.traceIds)).toBe(true);
    expect(pool.spanCount).toBe(project.spanCount);
    expect(Array.from(pool.spansPerTrace)).toEqual(Array.from(project.spansPerTrace));
  });

  it('spreads every trace over the run, one ResourceSpans per service instance per request', () => {
    const firstSeen = new Map<string, number>();
    const lastSeen = new Map<string, number>();
    const perTrace = new Map<string, number>();
    pool.bodies.forEach((b, i) => {
      const req = fromBinary(ExportTraceServiceRequestSchema, b.buf);
      const instances = req.resourceSpans.map((rs) => String(rs.resource?.attributes.find((a) => a.key === 'service.instance.id')?.value?.value.value));
      expect(new Set(instances).size).toBe(instances.length);
      const spans = spansOf(req);
      expect(spans.length).toBe(b.spans);
      expect(b.counts.reduce((n, c) => n + c, 0)).toBe(b.spans);
      for (const s of spans) {
        const id = Buffer.from(s.traceId).toString('hex');
        if (!firstSeen.has(id)) firstSeen.set(id, i);
        lastSeen.set(id, i);
        perTrace.set(id, (perTrace.get(id) ?? 0) + 1);
      }
    });
    expect(perTrace.size).toBe(150);
    for (let t = 0; t < 150; t++) expect(perTrace.get(traceIdHex(pool, t, 0))).toBe(pool.spansPerTrace[t]);
    // Shuffled over the whole run: most traces still receive spans in the last quarter of the requests.
    const late = [...lastSeen.values()].filter((i) => i >= (pool.bodies.length * 3) / 4).length;
    expect(late).toBeGreaterThan(100);
  });

  it('rewrites a copy for another round and leaves the pool untouched', () => {
    const body = pool.bodies[0]!;
    const before = Buffer.from(body.buf);
    const copy = bodyCopyForRound(body, 3);
    expect(body.buf.equals(before)).toBe(true);
    const ids = spansOf(fromBinary(ExportTraceServiceRequestSchema, copy)).map((s) => Buffer.from(s.traceId).toString('hex'));
    for (const id of ids) expect(ids.length > 0 && [...Array(150).keys()].some((t) => traceIdHex(pool, t, 3) === id)).toBe(true);
  });
});
