// Sustained mode: a fixed offered rate for minutes, open loop. Requests are sent on a schedule (spans/s ÷
// spans per request), at most `concurrency` in flight; a server that cannot keep up shows as achieved <
// offered and a schedule that falls behind, not as a slower client. Every window (30 s by default) one
// table row: offered and achieved spans/s, push latency p50/p99, errors, the Stave process tree's RSS and
// the ingester backlog read from /metrics (live traces, WAL bytes, blocks waiting to be built or flushed).
//
// Without --rate, the peak is measured first, in the same run, on a fresh Stave (closed loop, the pool
// once), and the sustained rate is --rate-fraction of it (0.8 by default). The no-op server's peak on the
// same pool is the baseline of the ratio.

import type http from 'node:http';
import os from 'node:os';
import { httpRequest, keepAliveAgent } from './http-client';
import { rejectedSpans, runLoad, type LoadResult } from './loadgen';
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
  /** Offered spans per second. */
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
  peakRssBytes: number;
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
    const res = await httpRequest(agent, { host: o.host, port: o.port, method: 'POST', path: '/v1/traces', headers, body: buf, timeoutMs: 30_000 });
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
    const w: SustainedWindow = {
      atS: (now - t0) / 1000,
      offeredSpansPerSec: winOffered / secs,
      achievedSpansPerSec: winAcked / secs,
      latency: summarize(winLatencies),
      errors: winErrors,
      behindMs: Math.max(0, now - t0 - dueMs),
      rssBytes,
      backlog,
      loadAvg: os.loadavg()[0]!,
    };
    windows.push(w);
    if (o.progress) o.log(describeWindow(w));
    winLatencies = [];
    winAcked = 0;
    winOffered = 0;
    winErrors = 0;
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
    dueMs += (body.spans / o.rate) * 1000;
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
    peakRssBytes: rss.stop().peakBytes,
  };
}

function describeWindow(w: SustainedWindow): string {
  const b = w.backlog;
  return `[sustained ${w.atS.toFixed(0)} s] offered ${fmtInt(w.offeredSpansPerSec)}/s, achieved ${fmtInt(w.achievedSpansPerSec)}/s, p50 ${fmtMs(w.latency.p50)}, p99 ${fmtMs(w.latency.p99)}, errors ${w.errors}, RSS ${fmtBytes(w.rssBytes)}, live ${b ? fmtInt(b.liveTraces) : '?'}, WAL ${b ? fmtBytes(b.walBytes) : '?'}, pending blocks ${b ? fmtInt(b.blocksPending) : '?'}, behind ${fmtMs(w.behindMs)}`;
}

/** The per-window table (markdown). */
export function windowsTable(windows: readonly SustainedWindow[]): string {
  const rows = [
    ['t (s)', 'offered spans/s', 'achieved spans/s', 'push p50', 'push p99', 'errors', 'behind', 'RSS', 'live traces', 'WAL bytes', 'blocks pending', 'load'],
    ...windows.map((w) => [
      w.atS.toFixed(0),
      fmtInt(w.offeredSpansPerSec),
      fmtInt(w.achievedSpansPerSec),
      fmtMs(w.latency.p50),
      fmtMs(w.latency.p99),
      String(w.errors),
      fmtMs(w.behindMs),
      fmtBytes(w.rssBytes),
      w.backlog ? fmtInt(w.backlog.liveTraces) : 'n/a',
      w.backlog ? fmtBytes(w.backlog.walBytes) : 'n/a',
      w.backlog ? fmtInt(w.backlog.blocksPending) : 'n/a',
      w.loadAvg.toFixed(2),
    ]),
  ];
  return [`| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map(() => '---').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Closed-loop peak on the pool once (the rate a sustained run is a fraction of). */
export function measurePeak(pool: Pool, port: number, concurrency: number, label: string, tenant?: string): Promise<LoadResult> {
  return runLoad(pool, { host: '127.0.0.1', port, concurrency, rounds: 1, label, progress: false, tenant });
}
