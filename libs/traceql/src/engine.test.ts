import { compileQuery, indexTraces } from '@stave/traceql';
import { CONFORMANCE_CASES, expectedTraceIds, generateDataset } from '@stave/traceql/testing';

const dataset = generateDataset();
const traces = indexTraces(dataset.batches);

describe('TraceQL conformance: engine over in-memory traces equals the brute-force reference', () => {
  test('the dataset has what the cases need', () => {
    expect(CONFORMANCE_CASES.length).toBeGreaterThanOrEqual(80);
    expect(traces).toHaveLength(dataset.traces.length);
    const spans = dataset.traces.reduce((n, t) => n + t.spans.length, 0);
    expect(traces.reduce((n, t) => n + t.spans.length, 0)).toBe(spans);
  });

  test.each(CONFORMANCE_CASES.map((c) => [c.query, c] as const))('%s', (_q, c) => {
    const expected = expectedTraceIds(c, dataset.traces);
    if (c.trivial === 'none') expect(expected).toHaveLength(0);
    else if (c.trivial === 'all') expect(expected).toHaveLength(dataset.traces.length);
    else {
      // a case that selects nothing or everything proves little: the dataset must split it
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(dataset.traces.length);
    }
    const got = compileQuery(c.query)
      .search(traces)
      .map((r) => r.traceId);
    expect(got.sort()).toEqual([...expected].sort());
  });
});

describe.each([7, 4242])('the same table over another generated dataset (seed %i)', (seed) => {
  const other = generateDataset({ seed, traces: 80 });
  const indexed = indexTraces(other.batches);
  test('every case agrees with the reference', () => {
    const disagreements: string[] = [];
    for (const c of CONFORMANCE_CASES) {
      const expected = expectedTraceIds(c, other.traces).sort();
      const got = compileQuery(c.query)
        .search(indexed)
        .map((r) => r.traceId)
        .sort();
      if (JSON.stringify(got) !== JSON.stringify(expected)) disagreements.push(`${c.query}: engine ${got.length} traces, reference ${expected.length}`);
    }
    expect(disagreements).toEqual([]);
  });
});
