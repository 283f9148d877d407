// Sustained mode: a fixed offered rate for minutes, open loop. Requests are sent on a schedule (spans/s ÷
// spans per request), at most `concurrency` in flight; a server that cannot keep up shows as achieved <
// offered and a schedule that falls behind, not as a slower client. Every window (30 s by default) one
// table row: offered and achieved spans/s, push latency p50/p99, errors, the Stave process tree's RSS and
// the ingester backlog read from /metrics (live traces, WAL bytes, blocks waiting to be built or flushed).
//
// Without --rate, the peak is measured first, in the same run, on a fresh Stave, and the sustained rate is
// --rate-fraction of it (0.8 by default). The peak is what the process sustains, not what it takes in a
// burst: the same loop run closed (as fast as `concurrency` requests in flight allow, 429/503 retried after
// their Retry-After as exporters do) for --peak-duration (2 min), long enough that head blocks are cut,
// blocks are built and the WAL backlog budget is reached; the peak is the rate acknowledged over its second
// half (`steadyRate`). A burst into an empty WAL runs ahead of block building, which pays for it later:
// 80% of a burst's rate was more than the process could hold (bench/results/ingest.md, 2026-11-30). The
// no-op server's closed-loop rate on the same pool is the baseline of the ratio.

import type http from 'node:http';
import os from 'node:os';
import { httpRequest, keepAliveAgent } from './http-client';
import { MAX_RETRY_AFTER_MS, OVERLOAD_RETRIES, rejectedSpans } from './loadgen';
import { processCpuSeconds } from './machine';
import { fmtBytes, fmtInt, fmtMs, sleep, summarize, type LatencySummary } from './stats';
import { RssSampler, statusField } from './stave-process';
import { bodyForRound, type Pool } from './workload';

export interface SustainedOptions {
  host: string;
  /** OTLP HTTP port to push to. */
  port: number;
  /** Stave's HTTP port, for /metrics. */
  metricsPort: number;
  pid: number;
  /** Offered spans per second; Infinity: closed loop (each pusher sends again when answered, 429/503 retried). */
  rate: number;
  durationMs: number;
  windowMs: number;
  concurrency: number;
  tenant?: string;
  progress: boolean;
  log: (line: string) => void;
}

export interface Backlog {
  liveTraces: number;
  walBytes: number;
  blocksPending: number;
}

export interface SustainedWindow {
  /** End of the window, seconds since the start. */
  atS: number;
  offeredSpansPerSec: number;
  achievedSpansPerSec: number;
  latency: LatencySummary;
  errors: number;
  /** How far the schedule was behind at the end of the window (0 when on time). */
  behindMs: number;
  rssBytes: number;
  /** CPU (user + system, every thread of the Stave process) per acknowledged span in the window, in µs. */
  cpuMicrosPerSpan: number;
  backlog: Backlog | undefined;
  loadAvg: number;
}

export interface SustainedResult {
  windows: SustainedWindow[];
  offeredSpans: number;
  ackedSpans: number;
  elapsedMs: number;
  achievedSpansPerSec: number;
  latency: LatencySummary;
  errors: Record<string, number>;
  /** 429/503 answers retried after their Retry-After (closed loop only). */
  retried: Record<string, number>;
  peakRssBytes: number;
  /** CPU (user + system, all threads) of the Stave process over the run. */
  cpuSeconds: number;
}

/** Sum of every sample of `name` in a Prometheus text exposition (NaN when absent). */
export function metricSum(text: string, name: string): number {
  let sum = NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (Number.isNaN(sum) ? 0 : sum) + v;
  }
  return sum;
}

export async function readBacklog(agent: http.Agent, host: string, port: number): Promise<Backlog | undefined> {
  const res = await httpRequest(agent, { host, port, method: 'GET', path: '/metrics', timeoutMs: 5000 });
  if (res.status !== 200) return undefined;
  const text = res.body.toString('utf8');
  return {
    liveTraces: metricSum(text, 'tempo_ingester_live_traces'),
    walBytes: metricSum(text, 'stave_ingester_wal_bytes'),
    blocksPending: metricSum(text, 'tempo_ingester_flush_queue_length'),
  };
}

export async function runSustained(pool: Pool, o: SustainedOptions): Promise<SustainedResult> {
  const agent = keepAliveAgent(o.concurrency);
  const metricsAgent = keepAliveAgent(1);
  const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
  if (o.tenant) headers['x-scope-orgid'] = o.tenant;
  const rss = new RssSampler(o.pid, 1000);
  const windows: SustainedWindow[] = [];
  const allLatencies: number[] = [];
  const errors: Record<string, number> = {};
  const retried: Record<string, number> = {};
  const closed = !Number.isFinite(o.rate);
  const cpu0 = processCpuSeconds(o.pid);
  let winCpu0 = cpu0;
  let winLatencies: number[] = [];
  let winAcked = 0;
  let winOffered = 0;
  let winErrors = 0;
  let offeredSpans = 0;
  let ackedSpans = 0;
  let inFlight = 0;
  let k = 0;
  const t0 = performance.now();
  // Each request is due when the spans before it have been offered at `rate`.
  let dueMs = 0;
  let wake: (() => void) | undefined;

  const send = async (buf: Buffer, spans: number, release: () => void): Promise<void> => {
    const s0 = performance.now();
    let res = await httpRequest(agent, { host: o.host, port: o.port, method: 'POST', path: '/v1/traces', headers, body: buf, timeoutMs: 30_000 });
    // Closed loop: a refusal is retried after its Retry-After (as exporters do), so that the loop measures
    // the rate the server takes rather than how fast it can refuse. Open loop: the schedule moves on.
    for (let attempt = 0; closed && (res.status === 429 || res.status === 503) && attempt < OVERLOAD_RETRIES; attempt++) {
      retried[`HTTP ${res.status}`] = (retried[`HTTP ${res.status}`] ?? 0) + 1;
      await sleep(Math.min(MAX_RETRY_AFTER_MS, 1000 * (Number(res.retryAfter) || 1)));
      res = await httpRequest(agent, { host: o.host, port: o.port, method: 'POST', path: '/v1/traces', headers, body: buf, timeoutMs: 30_000 });
    }
    const ms = performance.now() - s0;
    release();
    winLatencies.push(ms);
    allLatencies.push(ms);
    if (res.status >= 200 && res.status < 300) {
      let rej: number;
      try {
        rej = rejectedSpans(res);
      } catch {
        rej = spans;
      }
      ackedSpans += spans - Math.min(rej, spans);
      winAcked += spans - Math.min(rej, spans);
    } else {
      const kind = res.status === 0 ? (res.error ?? 'network error') : `HTTP ${res.status}`;
      errors[kind] = (errors[kind] ?? 0) + 1;
      winErrors++;
    }
  };

  let windowStart = t0;
  const closeWindow = async (now: number): Promise<void> => {
    const secs = (now - windowStart) / 1000;
    const backlog = await readBacklog(metricsAgent, o.host, o.metricsPort).catch(() => undefined);
    const rssBytes = statusField(o.pid, 'VmRSS');
    const cpu = processCpuSeconds(o.pid);
    const w: SustainedWindow = {
      atS: (now - t0) / 1000,
      offeredSpansPerSec: winOffered / secs,
      achievedSpansPerSec: winAcked / secs,
      latency: summarize(winLatencies),
      errors: winErrors,
      behindMs: closed ? 0 : Math.max(0, now - t0 - dueMs),
      rssBytes,
      cpuMicrosPerSpan: winAcked > 0 ? ((cpu - winCpu0) * 1e6) / winAcked : NaN,
      backlog,
      loadAvg: os.loadavg()[0]!,
    };
    windows.push(w);
    if (o.progress) o.log(describeWindow(w, closed ? 'closed loop' : 'sustained'));
    winLatencies = [];
    winAcked = 0;
    winOffered = 0;
    winErrors = 0;
    winCpu0 = cpu;
    windowStart = now;
  };

  const inflight = new Set<Promise<void>>();
  let nextWindow = t0 + o.windowMs;
  while (performance.now() - t0 < o.durationMs) {
    const now = performance.now();
    if (now >= nextWindow) {
      await closeWindow(now);
      nextWindow += o.windowMs;
      continue;
    }
    if (inFlight >= o.concurrency) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    const wait = t0 + dueMs - now;
    if (wait > 1) {
      await sleep(Math.min(wait, nextWindow - now));
      continue;
    }
    const body = pool.bodies[k % pool.bodies.length]!;
    const round = Math.floor(k / pool.bodies.length);
    k++;
    // Rewritten in place only when no send of this body is in flight (bodyForRound copies otherwise).
    const buf = bodyForRound(body, round);
    body.inFlight++;
    inFlight++;
    offeredSpans += body.spans;
    winOffered += body.spans;
    if (!closed) dueMs += (body.spans / o.rate) * 1000;
    const p = send(buf, body.spans, () => {
      body.inFlight--;
      inFlight--;
      wake?.();
      wake = undefined;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  if (performance.now() - windowStart > o.windowMs / 10) await closeWindow(performance.now());
  const elapsedMs = performance.now() - t0;
  agent.destroy();
  metricsAgent.destroy();
  return {
    windows,
    offeredSpans,
    ackedSpans,
    elapsedMs,
    achievedSpansPerSec: ackedSpans / (elapsedMs / 1000),
    latency: summarize(allLatencies),
    errors,
    retried,
    peakRssBytes: rss.stop().peakBytes,
    cpuSeconds: processCpuSeconds(o.pid) - cpu0,
  };
}

/**
 * The rate acknowledged over the windows that end after `fromS` seconds (weighted by their length): the
 * steady part of a closed-loop run, once the first burst into an empty WAL has been paid for by block
 * building. NaN when no window ends after `fromS`.
 */
export function steadyRate(windows: readonly SustainedWindow[], fromS: number): { spansPerSec: number; fromS: number; toS: number } {
  let spans = 0;
  let secs = 0;
  let start = NaN;
  let prev = 0;
  for (const w of windows) {
    const len = w.atS - prev;
    if (prev >= fromS - 1e-6) {
      if (Number.isNaN(start)) start = prev;
      spans += w.achievedSpansPerSec * len;
      secs += len;
    }
    prev = w.atS;
  }
  return { spansPerSec: secs > 0 ? spans / secs : NaN, fromS: start, toS: prev };
}

/** Rows of the closed loop that measures the peak: ten of them, at most 30 s and at least 5 s each. */
export function peakWindowMs(durationMs: number): number {
  return Math.min(30_000, Math.max(5_000, Math.round(durationMs / 10)));
}

export interface SustainedPeak {
  run: SustainedResult;
  /** The rate acknowledged over the second half of the closed loop (`steadyRate`), and that span. */
  spansPerSec: number;
  fromS: number;
  toS: number;
}

/**
 * What the process sustains: the closed loop for `durationMs` (429/503 retried after Retry-After), ten
 * rows, the peak the rate over its second half (see the top of this file).
 */
export async function sustainedPeak(pool: Pool, o: Omit<SustainedOptions, 'rate' | 'windowMs'>): Promise<SustainedPeak> {
  const run = await runSustained(pool, { ...o, rate: Infinity, windowMs: peakWindowMs(o.durationMs) });
  return { run, ...steadyRate(run.windows, o.durationMs / 2000) };
}

function describeWindow(w: SustainedWindow, label: string): string {
  const b = w.backlog;
  return `[${label} ${w.atS.toFixed(0)} s] offered ${fmtInt(w.offeredSpansPerSec)}/s, achieved ${fmtInt(w.achievedSpansPerSec)}/s, p50 ${fmtMs(w.latency.p50)}, p99 ${fmtMs(w.latency.p99)}, errors ${w.errors}, RSS ${fmtBytes(w.rssBytes)}, CPU/span ${fmtUs(w.cpuMicrosPerSpan)}, live ${b ? fmtInt(b.liveTraces) : '?'}, WAL ${b ? fmtBytes(b.walBytes) : '?'}, pending blocks ${b ? fmtInt(b.blocksPending) : '?'}, behind ${fmtMs(w.behindMs)}`;
}

/** The per-window table (markdown). */
export function windowsTable(windows: readonly SustainedWindow[]): string {
  const rows = [
    [
      't (s)',
      'offered spans/s',
      'achieved spans/s',
      'push p50',
      'push p99',
      'errors',
      'behind',
      'RSS',
      'CPU/span',
      'live traces',
      'WAL bytes',
      'blocks pending',
      'load',
    ],
    ...windows.map((w) => [
      w.atS.toFixed(0),
      fmtInt(w.offeredSpansPerSec),
      fmtInt(w.achievedSpansPerSec),
      fmtMs(w.latency.p50),
      fmtMs(w.latency.p99),
      String(w.errors),
      fmtMs(w.behindMs),
      fmtBytes(w.rssBytes),
      fmtUs(w.cpuMicrosPerSpan),
      w.backlog ? fmtInt(w.backlog.liveTraces) : 'n/a',
      w.backlog ? fmtBytes(w.backlog.walBytes) : 'n/a',
      w.backlog ? fmtInt(w.backlog.blocksPending) : 'n/a',
      w.loadAvg.toFixed(2),
    ]),
  ];
  return [`| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map(() => '---').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export const fmtUs = (us: number): string => (Number.isFinite(us) ? `${us.toFixed(1)} µs` : 'n/a');
