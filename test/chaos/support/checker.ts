// The invariant checker. Reads every acknowledged trace of a ledger by ID through a query endpoint and
// sorts each answer into:
//   I1 lost       an acknowledged span is missing (404, or a 200 without it)
//   I2 duplicated a span ID appears twice in one answer
//   foreign       a span the generator never sent for this trace (another trace's or tenant's data)
//   I3 wrongEmpty a 404 for a trace with acknowledged spans (counted apart from 5xx, which is honest)
// 5xx and network errors are retried a bounded number of times (a source may still be coming back);
// 404s and short answers are not: a healthy fleet must not answer them for acknowledged data.

import { fromBinary } from '@bufbuild/protobuf';
import { httpRequest, keepAliveAgent, sample } from '@stave/bench';
import { TraceSchema } from '@stave/proto';
import type { SpanLedger, TraceRecord } from './load';

export interface CheckReport {
  traces: number;
  spans: number;
  exact: number;
  /** Traces with acknowledged spans missing, and how many spans in all. */
  lostTraces: string[];
  lostSpans: number;
  wrongEmpty: number;
  duplicateSpans: number;
  foreignSpans: number;
  /** Answers still failing after the retries, by kind. */
  errors: Record<string, number>;
  /** The first answer body of each error kind (what the fleet said). */
  messages: Record<string, string>;
}

export interface CheckOptions {
  port: number;
  host?: string;
  tenant?: string;
  concurrency?: number;
  /** Attempts per trace on 5xx / network errors. */
  attempts?: number;
  /** Only these traces (default: every acknowledged trace of the ledger). */
  only?: Array<[string, TraceRecord]>;
  /** Check a seeded sample of at most this many traces (the CI tier's budget); all when unset. */
  sample?: { max: number; seed: number };
}

export async function checkLedger(ledger: SpanLedger, opts: CheckOptions): Promise<CheckReport> {
  const all = opts.only ?? ledger.ackedTraces();
  const traces = opts.sample && all.length > opts.sample.max ? sample(all, opts.sample.max, opts.sample.seed) : all;
  const report: CheckReport = {
    traces: traces.length,
    spans: 0,
    exact: 0,
    lostTraces: [],
    lostSpans: 0,
    wrongEmpty: 0,
    duplicateSpans: 0,
    foreignSpans: 0,
    errors: {},
    messages: {},
  };
  const agent = keepAliveAgent(opts.concurrency ?? 4);
  const headers: Record<string, string> = { accept: 'application/protobuf' };
  if (opts.tenant) headers['x-scope-orgid'] = opts.tenant;
  let next = 0;
  const one = async ([id, rec]: [string, TraceRecord]): Promise<void> => {
    let res;
    // What must be there is what was acknowledged before the read was sent: load may still be running, and
    // a span acknowledged while the answer is on its way may or may not be in it.
    let acked: Set<string>;
    for (let attempt = 1; ; attempt++) {
      acked = new Set(rec.acked);
      res = await httpRequest(agent, { host: opts.host ?? '127.0.0.1', port: opts.port, method: 'GET', path: `/api/traces/${id}`, headers, timeoutMs: 15_000 });
      if (res.status === 200 || res.status === 404 || attempt >= (opts.attempts ?? 5)) break;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
    report.spans += acked.size;
    if (res.status === 404) {
      report.wrongEmpty++;
      report.lostTraces.push(id);
      report.lostSpans += acked.size;
      return;
    }
    if (res.status !== 200) {
      const kind = res.status === 0 ? (res.error ?? 'network error') : `HTTP ${res.status}`;
      report.errors[kind] = (report.errors[kind] ?? 0) + 1;
      report.messages[kind] ??= res.body.toString('utf8').slice(0, 300);
      return;
    }
    const got = new Map<string, number>();
    for (const rs of fromBinary(TraceSchema, res.body).resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          const k = Buffer.from(s.spanId).toString('hex');
          got.set(k, (got.get(k) ?? 0) + 1);
        }
      }
    }
    let missing = 0;
    for (const s of acked) if (!got.has(s)) missing++;
    let dup = 0;
    let foreign = 0;
    for (const [s, n] of got) {
      dup += n - 1;
      if (!rec.sent.has(s)) foreign++;
    }
    report.duplicateSpans += dup;
    report.foreignSpans += foreign;
    if (missing > 0) {
      report.lostTraces.push(id);
      report.lostSpans += missing;
    }
    if (missing === 0 && dup === 0 && foreign === 0) report.exact++;
  };
  try {
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 4 }, async () => {
        for (let i = next++; i < traces.length; i = next++) await one(traces[i]!);
      }),
    );
  } finally {
    agent.destroy();
  }
  return report;
}

/** The parts of a report that must be zero / empty: compare with `toEqual(CLEAN)`. */
export function verdict(r: CheckReport): {
  lostSpans: number;
  wrongEmpty: number;
  duplicateSpans: number;
  foreignSpans: number;
  errors: Record<string, number>;
} {
  return { lostSpans: r.lostSpans, wrongEmpty: r.wrongEmpty, duplicateSpans: r.duplicateSpans, foreignSpans: r.foreignSpans, errors: r.errors };
}

export const CLEAN = { lostSpans: 0, wrongEmpty: 0, duplicateSpans: 0, foreignSpans: 0, errors: {} };
