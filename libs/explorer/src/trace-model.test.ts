import { formatDuration, parseTrace, visibleRows, type TraceJson } from './trace-model';

const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const T0 = 1_700_000_000_000_000_000n;

function span(id: string, parent: string, startMs: number, durMs: number, extra: Record<string, unknown> = {}) {
  return {
    traceId: b64('0af7651916cd43dd8448eb211c80319c'),
    spanId: b64(id),
    ...(parent ? { parentSpanId: b64(parent) } : {}),
    name: `op-${id.slice(-1)}`,
    startTimeUnixNano: String(T0 + BigInt(startMs * 1e6)),
    endTimeUnixNano: String(T0 + BigInt((startMs + durMs) * 1e6)),
    ...extra,
  };
}

function doc(spans: unknown[]): TraceJson {
  return {
    trace: { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] }, scopeSpans: [{ spans }] }] },
  } as TraceJson;
}

describe('parseTrace', () => {
  it('builds the tree, depths and offsets; siblings by start time', () => {
    const t = parseTrace(
      doc([
        span('0000000000000003', '0000000000000001', 50, 10),
        span('0000000000000001', '', 0, 100, { status: { code: 'STATUS_CODE_ERROR', message: 'boom' }, kind: 'SPAN_KIND_SERVER' }),
        span('0000000000000002', '0000000000000001', 5, 20, { attributes: [{ key: 'n', value: { intValue: '7' } }] }),
        span('0000000000000004', '0000000000000002', 6, 2),
      ]),
    );
    expect(t.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(t.durationNs).toBe(100e6);
    expect(visibleRows(t, new Set()).map((s) => [s.id.slice(-1), s.depth, s.startNs])).toEqual([
      ['1', 0, 0],
      ['2', 1, 5e6],
      ['4', 2, 6e6],
      ['3', 1, 50e6],
    ]);
    const root = t.roots[0]!;
    expect(root).toMatchObject({ error: true, statusMessage: 'boom', kind: 'server', service: 'shop' });
    expect(t.spans.find((s) => s.id.endsWith('2'))!.attributes).toEqual([{ key: 'n', value: '7' }]);
    expect(visibleRows(t, new Set(['0000000000000002'])).map((s) => s.id.slice(-1))).toEqual(['1', '2', '3']);
  });

  it('shows orphans and spans in a parent cycle as roots, each once', () => {
    const t = parseTrace(
      doc([
        span('0000000000000001', '00000000000000ff', 0, 10),
        span('0000000000000002', '0000000000000003', 1, 1),
        span('0000000000000003', '0000000000000002', 2, 1),
      ]),
    );
    const rows = visibleRows(t, new Set());
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((s) => s.id)).size).toBe(3);
    expect(t.roots.map((s) => s.id.slice(-1))).toEqual(['1', '2']);
  });

  it('reads v1 bodies too', () => {
    const v2 = doc([span('0000000000000001', '', 0, 1)]);
    expect(parseTrace({ batches: v2.trace!.resourceSpans }).spans).toHaveLength(1);
  });
});

describe('formatDuration', () => {
  it.each([
    [800, '800 ns'],
    [45_600, '45.6 µs'],
    [120e6, '120 ms'],
    [1.25e9, '1.25 s'],
    [125e9, '2 m 5 s'],
  ])('%d ns is %s', (ns, text) => expect(formatDuration(ns)).toBe(text));
});
