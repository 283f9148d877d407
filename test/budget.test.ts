// The ingester's byte budgets end to end (issue 11, libs/ingester/src/budget.ts): bin/stave with a small
// ingester.max_wal_backlog_bytes answers pushes past it with 503 (the ingester is full) or 429 (the tenant
// holds more than its share), naming the budget, before anything is acknowledged; pushes are taken again
// once block building has drained the backlog (by itself, or after /flush); and every acknowledged span
// reads back exactly, none lost and none twice.

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, TraceSchema } from '@stave/proto';
import { configYaml, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { poll } from './support/poll';
import { metricSum } from './support/stave-http';
import { startStave, type StaveProcess } from './support/stave-process';

/** Small enough that a few dozen requests fill it. */
const BACKLOG_BYTES = 200_000;
const SPANS_PER_REQUEST = 10;
/** Requests any one fill may take before the test gives up (the budget is reached after ~20). */
const MAX_REQUESTS = 200;

const CONFIG = configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION, [
  'ingester:',
  // Head blocks are cut by the budgets only (or /flush), not by time or size.
  '  max_block_duration: 1h',
  '  max_live_traces_bytes: 0',
  `  max_wal_backlog_bytes: ${BACKLOG_BYTES}`,
]);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** One request of one trace (trace number `n`) with SPANS_PER_REQUEST spans of ~1 KB each. */
function request(n: number): { body: Uint8Array; traceId: string; spanIds: string[] } {
  const traceId = new Uint8Array(16);
  new DataView(traceId.buffer).setUint32(12, n);
  traceId[0] = 0xbd;
  const spans = Array.from({ length: SPANS_PER_REQUEST }, (_, i) => {
    const spanId = new Uint8Array(8);
    new DataView(spanId.buffer).setUint32(0, n);
    spanId[7] = i + 1;
    return {
      traceId,
      spanId,
      name: `op-${i}`,
      startTimeUnixNano: 1_700_000_000_000_000_000n,
      endTimeUnixNano: 1_700_000_000_500_000_000n,
      attributes: [{ key: 'pad', value: { value: { case: 'stringValue' as const, value: 'x'.repeat(1000) } } }],
    };
  });
  const body = toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        { resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'budget' } } }] }, scopeSpans: [{ spans }] },
      ],
    }),
  );
  return { body, traceId: hex(traceId), spanIds: spans.map((s) => hex(s.spanId)) };
}

describe('ingester byte budgets', () => {
  let p: StaveProcess;
  let port: number;
  /** Acknowledged span IDs by tenant and trace. */
  const acked = new Map<string, Map<string, string[]>>();
  let next = 0;

  beforeAll(async () => {
    p = startStave({ configYaml: CONFIG });
    await p.ready();
    port = await p.receiverPort(/otlp.*http/);
  });
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  async function push(tenant: string, r: ReturnType<typeof request>): Promise<Response> {
    const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': tenant },
      body: r.body,
    });
    if (res.status === 200) {
      let traces = acked.get(tenant);
      if (!traces) acked.set(tenant, (traces = new Map()));
      traces.set(r.traceId, r.spanIds);
    }
    return res;
  }

  /** Pushes new traces for `tenant` until one is refused; returns the refused request and its answer. */
  async function fillUntilRefused(tenant: string): Promise<{ r: ReturnType<typeof request>; res: Response; ok: number }> {
    for (let ok = 0; ok < MAX_REQUESTS; ok++) {
      const r = request(next++);
      const res = await push(tenant, r);
      if (res.status !== 200) return { r, res, ok };
    }
    throw new Error(`${MAX_REQUESTS} pushes of ~10 KB all taken with max_wal_backlog_bytes ${BACKLOG_BYTES}`);
  }

  test('one tenant over the backlog gets 503 naming the budget, and is taken again once block building drains it', async () => {
    const { r, res, ok } = await fillUntilRefused('solo');
    expect(ok).toBeGreaterThan(5);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const text = await res.text();
    expect(text).toContain('INGESTER_FULL');
    expect(text).toContain(`ingester.max_wal_backlog_bytes is ${BACKLOG_BYTES}`);
    // No /flush: the refusal cut the head block, and block building drains the backlog by itself.
    await poll('the refused push is taken on retry', async () => (await push('solo', r)).status === 200, { timeoutMs: 60_000, intervalMs: 200 });
  });

  test('a tenant over its share gets 429 while a quiet tenant is not refused for it; after /flush both push again', async () => {
    const quiet = request(next++);
    expect((await push('quiet', quiet)).status).toBe(200);
    const { r, res } = await fillUntilRefused('noisy');
    expect(res.status).toBe(429);
    const text = await res.text();
    expect(text).toContain('TENANT_BACKLOG_EXCEEDED');
    expect(text).toContain('tenant noisy');
    expect(text).toContain(`ingester.max_wal_backlog_bytes (${BACKLOG_BYTES}`);
    // The quiet tenant, within its share, is never told it is over it: taken, or 503 while the backlog is full.
    const meanwhile = await push('quiet', request(next++));
    expect([200, 503]).toContain(meanwhile.status);
    if (meanwhile.status === 503) expect(await meanwhile.text()).toContain('INGESTER_FULL');
    const flush = await fetch(await p.url('/flush'), { method: 'POST' });
    expect(flush.status).toBe(204);
    expect((await push('noisy', r)).status).toBe(200);
    expect((await push('quiet', request(next++))).status).toBe(200);
  });

  test('refusals are counted, and every acknowledged span reads back exactly', async () => {
    const metrics = await p.url('/metrics');
    expect(await metricSum(metrics, 'tempo_discarded_spans_total', 'reason="ingester_full"', 'tenant="solo"')).toBeGreaterThanOrEqual(SPANS_PER_REQUEST);
    expect(await metricSum(metrics, 'tempo_discarded_spans_total', 'reason="tenant_backlog_exceeded"', 'tenant="noisy"')).toBeGreaterThanOrEqual(
      SPANS_PER_REQUEST,
    );
    expect(await metricSum(metrics, 'stave_ingester_refused_pushes_total')).toBeGreaterThanOrEqual(2);
    let traces = 0;
    for (const [tenant, byTrace] of acked) {
      for (const [traceId, spanIds] of byTrace) {
        const res = await fetch(await p.url(`/api/traces/${traceId}`), { headers: { accept: 'application/protobuf', 'x-scope-orgid': tenant } });
        expect(res.status).toBe(200);
        const t = fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
        const got = t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => hex(s.spanId))));
        expect({ tenant, traceId, spans: got.sort() }).toEqual({ tenant, traceId, spans: [...spanIds].sort() });
        traces++;
      }
    }
    expect(traces).toBeGreaterThan(20);
  });
});
