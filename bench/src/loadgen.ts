// The load generator: POSTs pre-generated OTLP protobuf bodies to /v1/traces from `concurrency` workers
// on one keep-alive agent, and records exactly what was acknowledged (per trace), how long each push
// took, and every failure by status. Usable as a library (run.ts) and from the command line:
//
//   node bench/dist/loadgen.js --port 4318 [--traces 20000 --concurrency 8 --batch-spans 200 --seed 1]

import { writeFileSync } from 'node:fs';
import type http from 'node:http';
import { fromBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceResponseSchema } from '@stave/proto';
import { ArgError, intArg, parseArgs } from './args';
import { httpRequest, keepAliveAgent, type HttpResult } from './http-client';
import { Prng } from './prng';
import { fmtInt, fmtMs, sleep, summarize, type LatencySummary } from './stats';
import { MEAN_SPANS_PER_TRACE, bodyCopyForRound, bodyForRound, generatePool, traceIdHex, type Pool } from './workload';

export const DEFAULTS = { traces: 20_000, concurrency: 8, batchSpans: 200, seed: 1, poolSpans: 400_000, timeoutMs: 30_000 } as const;
/** Retries of one request answered 429/503, and the longest Retry-After honoured. */
export const OVERLOAD_RETRIES = 60;
export const MAX_RETRY_AFTER_MS = 5_000;

export interface Plan {
  /** Traces in the pre-generated pool (one round). */
  poolTraces: number;
  /** How many times the pool is sent, with fresh trace IDs each time. */
  rounds: number;
}

/** Splits `traces` into rounds of a pool that holds at most ~`poolSpans` spans. */
export function planRounds(traces: number, poolSpans: number): Plan {
  const maxPoolTraces = Math.max(1, Math.floor(poolSpans / MEAN_SPANS_PER_TRACE));
  const rounds = Math.max(1, Math.ceil(traces / maxPoolTraces));
  return { rounds, poolTraces: Math.ceil(traces / rounds) };
}

/** What the server acknowledged, per trace (round × pool trace). */
export class AckLedger {
  /** Spans acknowledged per trace. */
  readonly acked: Uint16Array;
  /** Traces with spans in a partially rejected request: we cannot know which of their spans were kept. */
  readonly uncertain: Uint8Array;

  constructor(
    readonly pool: Pool,
    readonly rounds: number,
  ) {
    this.acked = new Uint16Array(pool.traceCount * rounds);
    this.uncertain = new Uint8Array(pool.traceCount * rounds);
  }

  traceId(key: number): string {
    return traceIdHex(this.pool, key % this.pool.traceCount, Math.floor(key / this.pool.traceCount));
  }

  /** Traces with at least one acknowledged span and an exactly known count. */
  exactTraces(): Array<{ id: string; spans: number }> {
    const out: Array<{ id: string; spans: number }> = [];
    for (let k = 0; k < this.acked.length; k++) {
      if (this.acked[k]! > 0 && !this.uncertain[k]) out.push({ id: this.traceId(k), spans: this.acked[k]! });
    }
    return out;
  }

  uncertainCount(): number {
    let n = 0;
    for (const u of this.uncertain) n += u;
    return n;
  }
}

export interface LoadOptions {
  host: string;
  port: number;
  path?: string;
  concurrency: number;
  rounds: number;
  /** Send only the first `limit` requests (warm-up). */
  limit?: number;
  timeoutMs?: number;
  /** Sent as X-Scope-OrgID when set. */
  tenant?: string;
  label?: string;
  /** Progress on stderr: a bar when stderr is a TTY, else a line every few seconds. Default true. */
  progress?: boolean;
  /**
   * `rounds` (default): the pool is sent `rounds` times, one round after the other. `interleaved`: each
   * body is sent once per round before the next body, so every round's traces span the whole run (the
   * collector-shaped workload: no trace completes before the end).
   */
  order?: 'rounds' | 'interleaved';
}

export interface LoadResult {
  label: string;
  requests: number;
  okRequests: number;
  sentSpans: number;
  ackedSpans: number;
  /** Spans a 2xx response reported as rejected (OTLP partial success). */
  rejectedSpans: number;
  bytesSent: number;
  elapsedMs: number;
  spansPerSec: number;
  requestsPerSec: number;
  mbPerSec: number;
  latency: LatencySummary;
  /** Failures by kind: `HTTP 429`, `ECONNRESET`, `TIMEOUT`, `undecodable 2xx body`. */
  errors: Record<string, number>;
  /** Overload answers (`HTTP 429`, `HTTP 503`) retried after their Retry-After, as OTLP exporters do. */
  retried: Record<string, number>;
  /** Date.now() of the last acknowledgement (for "wait 1 s after the last ack"). */
  lastAckAt: number;
  ledger: AckLedger;
}

/** Rejected span count of a 2xx OTLP response (protobuf or JSON); throws when the body cannot be read. */
export function rejectedSpans(res: HttpResult): number {
  if (res.body.length === 0) return 0;
  if (res.contentType.includes('json')) {
    const j = JSON.parse(res.body.toString('utf8')) as { partialSuccess?: { rejectedSpans?: string | number } };
    return Number(j.partialSuccess?.rejectedSpans ?? 0);
  }
  const msg = fromBinary(ExportTraceServiceResponseSchema, res.body);
  return Number(msg.partialSuccess?.rejectedSpans ?? 0n);
}

class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly t0 = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly state: () => { done: number; spans: number; errors: number },
  ) {
    this.timer = setInterval(() => this.print(false), this.tty ? 200 : 5000);
    this.timer.unref();
  }

  private print(final: boolean): void {
    const { done, spans, errors } = this.state();
    const s = (performance.now() - this.t0) / 1000;
    const rate = s > 0 ? spans / s : 0;
    const frac = this.total ? done / this.total : 1;
    const stats = `${fmtInt(done)}/${fmtInt(this.total)} req  ${fmtInt(rate)} spans/s  errors ${errors}`;
    if (this.tty) {
      const width = 28;
      const fill = Math.round(frac * width);
      process.stderr.write(
        `\r[${this.label}] ${'█'.repeat(fill)}${'░'.repeat(width - fill)} ${(frac * 100).toFixed(0).padStart(3)}% ${stats}\x1b[K${final ? '\n' : ''}`,
      );
    } else if (!final) {
      process.stderr.write(`[${this.label}] ${(frac * 100).toFixed(0)}% ${stats}\n`);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.print(true);
  }
}

/** Sends every body of the pool `rounds` times and returns what was acknowledged. */
export async function runLoad(pool: Pool, opts: LoadOptions): Promise<LoadResult> {
  const label = opts.label ?? `${opts.host}:${opts.port}`;
  const total = Math.min(pool.bodies.length * opts.rounds, opts.limit ?? Infinity);
  const ledger = new AckLedger(pool, opts.rounds);
  const latencies = new Float64Array(total);
  const errors: Record<string, number> = {};
  const agent: http.Agent = keepAliveAgent(opts.concurrency);
  const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
  if (opts.tenant) headers['x-scope-orgid'] = opts.tenant;
  let next = 0;
  let done = 0;
  let okRequests = 0;
  let sentSpans = 0;
  let ackedSpans = 0;
  let rejected = 0;
  let bytesSent = 0;
  let errorCount = 0;
  let lastAckAt = 0;
  const retried: Record<string, number> = {};
  const fail = (kind: string): void => {
    errors[kind] = (errors[kind] ?? 0) + 1;
    errorCount++;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const k = next++;
      if (k >= total) return;
      const interleaved = opts.order === 'interleaved';
      const body = pool.bodies[interleaved ? Math.floor(k / opts.rounds) : k % pool.bodies.length]!;
      const round = interleaved ? k % opts.rounds : Math.floor(k / pool.bodies.length);
      const buf = interleaved ? bodyCopyForRound(body, round) : bodyForRound(body, round);
      body.inFlight++;
      const t0 = performance.now();
      let res;
      // 429 and 503 are retried after their Retry-After (at most OVERLOAD_RETRIES times), as OTLP
      // exporters do: a server pushing back is measured at the rate it takes, not as failed pushes.
      for (let attempt = 0; ; attempt++) {
        res = await httpRequest(agent, {
          host: opts.host,
          port: opts.port,
          method: 'POST',
          path: opts.path ?? '/v1/traces',
          headers,
          body: buf,
          timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
        });
        if ((res.status !== 429 && res.status !== 503) || attempt >= OVERLOAD_RETRIES) break;
        retried[`HTTP ${res.status}`] = (retried[`HTTP ${res.status}`] ?? 0) + 1;
        await sleep(Math.min(MAX_RETRY_AFTER_MS, 1000 * (Number(res.retryAfter) || 1)));
      }
      latencies[k] = performance.now() - t0;
      body.inFlight--;
      done++;
      sentSpans += body.spans;
      bytesSent += buf.length;
      if (res.status < 200 || res.status >= 300) {
        fail(res.status === 0 ? (res.error ?? 'network error') : `HTTP ${res.status}`);
        continue;
      }
      okRequests++;
      lastAckAt = Date.now();
      let rej = 0;
      try {
        rej = rejectedSpans(res);
      } catch {
        fail('undecodable 2xx body');
      }
      const base = round * pool.traceCount;
      if (rej > 0) {
        rejected += Math.min(rej, body.spans);
        for (const t of body.traces) ledger.uncertain[base + t] = 1;
      }
      if (rej >= body.spans) continue;
      ackedSpans += body.spans - rej;
      for (let i = 0; i < body.traces.length; i++) ledger.acked[base + body.traces[i]!]! += body.counts[i]!;
    }
  };

  const progress = opts.progress === false ? undefined : new Progress(label, total, () => ({ done, spans: ackedSpans, errors: errorCount }));
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, () => worker()));
  } finally {
    progress?.stop();
    agent.destroy();
  }
  const elapsedMs = performance.now() - t0;
  return {
    label,
    requests: total,
    okRequests,
    sentSpans,
    ackedSpans,
    rejectedSpans: rejected,
    bytesSent,
    elapsedMs,
    spansPerSec: ackedSpans / (elapsedMs / 1000),
    requestsPerSec: total / (elapsedMs / 1000),
    mbPerSec: bytesSent / 1e6 / (elapsedMs / 1000),
    latency: summarize(latencies.subarray(0, done)),
    errors,
    retried,
    lastAckAt,
    ledger,
  };
}

/** Picks `n` distinct random elements (seeded partial Fisher–Yates). */
export function sample<T>(items: readonly T[], n: number, seed: number): T[] {
  const a = items.slice();
  const rng = new Prng(seed);
  const m = Math.min(n, a.length);
  for (let i = 0; i < m; i++) {
    const j = rng.int(i, a.length - 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, m);
}

function retriedNote(r: LoadResult): string {
  const e = Object.entries(r.retried).map(([k, v]) => `${k}: ${v}`);
  return e.length ? `; retried (429/503): ${e.join(', ')}` : '';
}

export function describeLoad(r: LoadResult): string {
  const errs =
    Object.entries(r.errors)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  return [
    `${r.label}: ${fmtInt(r.ackedSpans)} of ${fmtInt(r.sentSpans)} spans acknowledged in ${(r.elapsedMs / 1000).toFixed(2)} s`,
    `  ${fmtInt(r.spansPerSec)} spans/s, ${fmtInt(r.requestsPerSec)} req/s, ${r.mbPerSec.toFixed(1)} MB/s`,
    `  push latency p50 ${fmtMs(r.latency.p50)}, p90 ${fmtMs(r.latency.p90)}, p99 ${fmtMs(r.latency.p99)}, max ${fmtMs(r.latency.max)}`,
    `  errors: ${errs}; partial-success rejected spans: ${fmtInt(r.rejectedSpans)}${retriedNote(r)}`,
  ].join('\n');
}

const USAGE = `usage: node bench/dist/loadgen.js --port <otlp-http-port> [--host 127.0.0.1] [--path /v1/traces]
  [--traces ${DEFAULTS.traces}] [--concurrency ${DEFAULTS.concurrency}] [--batch-spans ${DEFAULTS.batchSpans}] [--seed ${DEFAULTS.seed}]
  [--pool-spans ${DEFAULTS.poolSpans}] [--timeout-ms ${DEFAULTS.timeoutMs}] [--tenant <org id>] [--acks-out <file>]
--acks-out writes one "<trace id hex> <acknowledged spans>" line per exactly-known trace (input for query.js).`;

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    known: ['host', 'port', 'path', 'traces', 'concurrency', 'batch-spans', 'seed', 'pool-spans', 'timeout-ms', 'tenant', 'acks-out', 'help'],
    booleans: ['help'],
  });
  if (args.has('help') || !args.has('port')) {
    process.stderr.write(USAGE + '\n');
    process.exitCode = args.has('help') ? 0 : 2;
    return;
  }
  const traces = intArg(args, 'traces', DEFAULTS.traces, 1);
  const batchSpans = intArg(args, 'batch-spans', DEFAULTS.batchSpans, 1);
  const plan = planRounds(traces, intArg(args, 'pool-spans', DEFAULTS.poolSpans, 1));
  const pool = generatePool({ seed: intArg(args, 'seed', DEFAULTS.seed), traces: plan.poolTraces, batchSpans, nowMs: Date.now() });
  process.stderr.write(
    `generated ${fmtInt(pool.spanCount)} spans (${fmtInt(pool.traceCount)} traces, ${pool.bodies.length} requests, ${(pool.bytes / 1e6).toFixed(1)} MB) in ${(pool.generateMs / 1000).toFixed(1)} s; sending ${plan.rounds} round(s)\n`,
  );
  const result = await runLoad(pool, {
    host: args.get('host') ?? '127.0.0.1',
    port: intArg(args, 'port', 0, 1),
    path: args.get('path') ?? '/v1/traces',
    concurrency: intArg(args, 'concurrency', DEFAULTS.concurrency, 1),
    rounds: plan.rounds,
    timeoutMs: intArg(args, 'timeout-ms', DEFAULTS.timeoutMs, 1),
    tenant: args.get('tenant'),
  });
  process.stdout.write(describeLoad(result) + '\n');
  const out = args.get('acks-out');
  if (out)
    writeFileSync(
      out,
      result.ledger
        .exactTraces()
        .map((t) => `${t.id} ${t.spans}\n`)
        .join(''),
    );
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof ArgError ? 2 : 1;
  });
}
