// The trace-by-ID timer: GETs /api/traces/<id> (Accept: application/protobuf) for random acknowledged
// traces, one at a time, and reports latency percentiles and exactness — did each answer hold exactly
// the acknowledged spans, no fewer (lost or not yet visible), no more (duplicates or unacknowledged).
// Latency covers the request until the last response byte; decoding happens after the clock stops.
//
//   node bench/dist/query.js --port 3200 --acks acks.txt [--queries 300 --seed 1]
// where acks.txt holds "<trace id hex> <span count>" lines (loadgen.js --acks-out writes it).

import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { TraceSchema } from '@stave/proto';
import { ArgError, intArg, parseArgs } from './args';
import { httpRequest, keepAliveAgent } from './http-client';
import { sample } from './loadgen';
import { fmtInt, fmtMs, summarize, type LatencySummary } from './stats';

export interface QueryOptions {
  host: string;
  port: number;
  traces: ReadonlyArray<{ id: string; spans: number }>;
  queries: number;
  seed: number;
  timeoutMs?: number;
  tenant?: string;
  label?: string;
  /** Queries in flight at once (default 1: sequential, for latency). */
  concurrency?: number;
}

export interface QueryResult {
  label: string;
  queries: number;
  latency: LatencySummary;
  /** Answers holding exactly the acknowledged span count, with no span ID twice. */
  exact: number;
  /** Traces answered 404 although acknowledged. */
  notFound: number;
  /** Traces answered with fewer / more spans than acknowledged. */
  short: number;
  long: number;
  missingSpans: number;
  extraSpans: number;
  /** Span IDs returned more than once within one trace. */
  duplicateSpans: number;
  /** Non-200/404 answers and network errors, by kind. */
  errors: Record<string, number>;
}

export function countSpans(body: Uint8Array): { spans: number; duplicates: number } {
  const trace = fromBinary(TraceSchema, body);
  const ids = new Set<string>();
  let spans = 0;
  for (const rs of trace.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        spans++;
        ids.add(Buffer.from(s.spanId).toString('hex'));
      }
    }
  }
  return { spans, duplicates: spans - ids.size };
}

export async function timeQueries(opts: QueryOptions): Promise<QueryResult> {
  const picks = sample(opts.traces, opts.queries, opts.seed);
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const agent = keepAliveAgent(concurrency);
  const headers: Record<string, string> = { accept: 'application/protobuf' };
  if (opts.tenant) headers['x-scope-orgid'] = opts.tenant;
  const latencies: number[] = [];
  const r: QueryResult = {
    label: opts.label ?? 'trace by ID',
    queries: picks.length,
    latency: summarize([]),
    exact: 0,
    notFound: 0,
    short: 0,
    long: 0,
    missingSpans: 0,
    extraSpans: 0,
    duplicateSpans: 0,
    errors: {},
  };
  const fail = (kind: string): void => void (r.errors[kind] = (r.errors[kind] ?? 0) + 1);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < picks.length) {
      const t = picks[next++]!;
      const t0 = performance.now();
      const res = await httpRequest(agent, {
        host: opts.host,
        port: opts.port,
        method: 'GET',
        path: `/api/traces/${t.id}`,
        headers,
        timeoutMs: opts.timeoutMs ?? 30_000,
      });
      latencies.push(performance.now() - t0);
      if (res.status === 404) {
        r.notFound++;
        r.missingSpans += t.spans;
        continue;
      }
      if (res.status !== 200) {
        fail(res.status === 0 ? (res.error ?? 'network error') : `HTTP ${res.status}`);
        continue;
      }
      let got: { spans: number; duplicates: number };
      try {
        got = countSpans(res.body);
      } catch {
        fail(`undecodable 200 body (${res.contentType || 'no content-type'})`);
        continue;
      }
      r.duplicateSpans += got.duplicates;
      if (got.spans === t.spans && got.duplicates === 0) r.exact++;
      if (got.spans < t.spans) {
        r.short++;
        r.missingSpans += t.spans - got.spans;
      } else if (got.spans > t.spans) {
        r.long++;
        r.extraSpans += got.spans - t.spans;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
  } finally {
    agent.destroy();
  }
  r.latency = summarize(latencies);
  return r;
}

/** Every acknowledged trace read back once (exactness first; 8 in flight, so latency is under load). */
export function readBackAll(port: number, traces: QueryOptions['traces'], seed: number, label: string, tenant?: string): Promise<QueryResult> {
  return timeQueries({ host: '127.0.0.1', port, traces, queries: traces.length, seed, tenant, label, concurrency: 8 });
}

export function describeQueries(r: QueryResult): string {
  const errs =
    Object.entries(r.errors)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  return [
    `${r.label}: ${r.queries} queries, p50 ${fmtMs(r.latency.p50)}, p90 ${fmtMs(r.latency.p90)}, p99 ${fmtMs(r.latency.p99)}, max ${fmtMs(r.latency.max)}`,
    `  exact ${r.exact}/${r.queries}; 404 ${r.notFound}; short ${r.short} (${fmtInt(r.missingSpans)} spans missing); long ${r.long} (${fmtInt(r.extraSpans)} extra); duplicate span IDs ${r.duplicateSpans}; errors: ${errs}`,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { known: ['host', 'port', 'acks', 'queries', 'seed', 'tenant', 'timeout-ms', 'help'], booleans: ['help'] });
  if (args.has('help') || !args.has('port') || !args.has('acks')) {
    process.stderr.write(
      'usage: node bench/dist/query.js --port <http-port> --acks <file of "<trace id> <spans>" lines> [--host 127.0.0.1] [--queries 300] [--seed 1] [--tenant <org id>]\n',
    );
    process.exitCode = args.has('help') ? 0 : 2;
    return;
  }
  const traces = readFileSync(args.get('acks')!, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [id, spans] = l.trim().split(/\s+/);
      return { id: id!, spans: Number(spans) };
    });
  const r = await timeQueries({
    host: args.get('host') ?? '127.0.0.1',
    port: intArg(args, 'port', 0, 1),
    traces,
    queries: intArg(args, 'queries', 300, 1),
    seed: intArg(args, 'seed', 1),
    timeoutMs: intArg(args, 'timeout-ms', 30_000, 1),
    tenant: args.get('tenant'),
  });
  process.stdout.write(describeQueries(r) + '\n');
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof ArgError ? 2 : 1;
  });
}
