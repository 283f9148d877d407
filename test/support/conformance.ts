// The TraceQL conformance table run against a search endpoint: each query's trace-ID set compared with
// the brute-force reference's over the dataset that was pushed.

import { CONFORMANCE_CASES, expectedTraceIds, type FlatTrace } from '@stave/traceql/testing';

/** Every query whose answer (`ids`: the trace IDs, zero-padded to 32 hex digits) differs from the reference. */
export async function conformanceFailures(traces: readonly FlatTrace[], ids: (query: string) => Promise<string[]>): Promise<string[]> {
  const failures: string[] = [];
  for (const c of CONFORMANCE_CASES) {
    const want = expectedTraceIds(c, traces).sort();
    const got = (await ids(c.query)).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${c.query}: want ${want.length} traces, got ${got.length}`);
  }
  return failures;
}
