// Push latency with the metrics-generator on and off (issue 13, acceptance 3): the ingest bench's load
// (bench/src: the same seeded workload, load generators and generated config) sent to a fresh
// `bin/stave -target=all` per run, with the tenant's processors off and on
// (`overrides.defaults.metrics_generator.processors: [service-graphs, span-metrics]`), in one invocation.
// With them on, the distributor forwards every push to the in-process generator, which builds span metrics
// and service-graph edges and remote-writes its series every `collection_interval` to a sink in this
// process that reads each request and answers 204 (remote write without a Prometheus's own CPU cost on the
// shared machine).
//
// The acceptance measurement is at a fixed offered rate, the load a user runs: push latency at saturation
// measures capacity, not the write path (see docs/metrics-generator.md, "Cost on the write path"):
//   1. Capacity: what the process *sustains*, measured as the ingest bench's sustained mode measures its
//      peak (bench/src/sustained.ts, `sustainedPeak`): a closed loop (`--concurrency` pushers, 429/503
//      retried after Retry-After) for `--peak-duration-s` (120 s), long enough that head blocks are cut and
//      built during it, the rate acknowledged over its second half. `--closed-pairs` off/on pairs; the
//      median off rate is the capacity, and the on ÷ off ratios are reported as the generator's capacity
//      cost, not as the target. (A closed loop over one pass of the pool, ~700k spans, fits in the WAL
//      backlog and measured a burst well above what the process sustains: at half of it, 4 of 6 fixed-rate
//      runs had pushes refused with 503.)
//   2. Latency: `--pairs` off/on pairs at a fixed offered rate (`--rate-fraction` of the capacity, 0.5 by
//      default, or `--rate`), open loop (bench/src/sustained.ts: requests sent on a schedule, not when the
//      previous one is answered, and not retried), each `--duration-s` long (≥ 20 s, so the generator's
//      collections and remote writes happen during the load). A run with a failed push (a 429/503 refusal
//      or any other), in its warm-up or its load, is invalid: its latencies leave out the pushes the server
//      refused, so it is shown but left out of the medians, and a pair with an invalid run gives no ratio.
//      Each mode's p99 is the median over its valid runs; the headline is the median on ÷ off of the valid
//      pairs (target < 1.10).
// Pairs alternate off/on, on/off, ... so drift in the machine's load hits both modes. Under load the
// generator's thread may lag or drop pushes (its queues are bounded): each run with it on also reports how many spans it processed, by the end of the load
// and once its queues drained, how many pushes were dropped, its thread's CPU time, and the remote writes
// sent during the load.
//
//   make bench-metrics-generator ARGS="--out bench/results/metrics-generator.md"
//   node_modules/.bin/tsc -b bench/metrics-generator && node bench/metrics-generator/dist/run.js --help
//
// Imports built code by path (bench/metrics-generator is not a workspace package), as bench/compaction does.

import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ArgError, boolArg, intArg, parseArgs } from '../../../bench/dist/args.js';
import { DEFAULTS, planRounds } from '../../../bench/dist/loadgen.js';
import { describeMachine, machineInfo, processCpuSeconds, threadCpuSeconds } from '../../../bench/dist/machine.js';
import { fmtInt, fmtMs } from '../../../bench/dist/stats.js';
import { BENCH_CONFIG_YAML, profiledBin, startStave, staveBinNote } from '../../../bench/dist/stave-process.js';
import { runSustained, sustainedPeak } from '../../../bench/dist/sustained.js';
import { generatePool, type Pool } from '../../../bench/dist/workload.js';

/**
 * Seconds of each fixed-rate run: ~6 block builds (one every ~10 s at the bench's rate), where the slowest
 * 1% of pushes are. 30-s runs held ~3, and their per-pair p99 ratios spread over 0.98–1.50 in the tenth
 * session's sets, against 1.06–1.32 for 60-s runs in the eleventh's (bench/results/metrics-generator.md).
 */
const DEFAULT_DURATION_S = 60;

const PROCESSORS = ['    metrics_generator:', '      processors: [service-graphs, span-metrics]'];

/**
 * The ingest bench's config plus the generator's; `on` enables the processors for every tenant (with the
 * per-tenant override `max_active_series` when `maxActiveSeries` > 0); remote write to `remoteWriteUrl`
 * when not empty.
 */
export function configYaml(on: boolean, remoteWriteUrl: string, collectionInterval: string, maxActiveSeries = 0): string {
  // The generated config ends inside overrides.defaults (its ingestion limits): the processors go there.
  if (!/\noverrides:\n {2}defaults:\n(?: {4}.*\n| {6}.*\n)*$/.test(BENCH_CONFIG_YAML))
    throw new Error('bench/src BENCH_CONFIG_YAML no longer ends with overrides.defaults: update configYaml');
  return [
    BENCH_CONFIG_YAML.trimEnd(),
    ...(on ? PROCESSORS : []),
    ...(on && maxActiveSeries > 0 ? [`      max_active_series: ${maxActiveSeries}`] : []),
    'metrics_generator:',
    // The pool is generated once; later runs send spans minutes old, which the default 30 s slack would drop.
    '  metrics_ingestion_time_range_slack: 2h',
    '  registry:',
    `    collection_interval: ${collectionInterval}`,
    // No URL: the generator collects and sends nothing (remote write's disk queue and sends left out).
    ...(remoteWriteUrl ? ['  storage:', '    remote_write:', `      - url: ${remoteWriteUrl}`] : []),
    '',
  ].join('\n');
}

/** A remote write receiver that reads every request and keeps only counts. */
export async function startSink(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (b: Buffer) => (bytes += b.length));
    req.on('end', () => {
      requests++;
      res.writeHead(req.method === 'POST' && req.url === '/api/v1/write' ? 204 : 404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Sum of a metric's series on a /metrics page. */
async function metricSum(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.split(/[{ ]/)[0] === name) sum += Number(line.split(' ').pop());
  return sum;
}

/** Polls `read` until it returns the same value twice 1 s apart (at most 60 s); that value. */
async function settled(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const v = await read();
    if (v === last) return v;
    last = v;
  }
  return last;
}

type Mode = 'off' | 'on';
type Method = 'closed' | 'fixed';

interface Run {
  method: Method;
  mode: Mode;
  /** Spans sent (closed loop: each request once, however often it was retried) or offered on schedule. */
  sentSpans: number;
  ackedSpans: number;
  /** Closed loop: the rate over its second half (what the process sustains); fixed rate: over the run. */
  spansPerSec: number;
  /** Closed loop: the span of the run `spansPerSec` is over, in seconds. */
  steadyFromS?: number;
  steadyToS?: number;
  /** Closed loop: 429/503 answers retried after Retry-After. */
  retried?: Record<string, number>;
  p50: number;
  p99: number;
  /** Fixed rate: how far behind its schedule the sender was at the end (0 when it kept up). */
  behindMs?: number;
  /** Pushes that failed, by kind (`HTTP 503`, `TIMEOUT`, ...). */
  errors: Record<string, number>;
  /** Fixed rate: p99 of the warm-up before the measured load (not in p50/p99 above), and its failed pushes. */
  warmupP99?: number;
  warmupErrors?: Record<string, number>;
  loadAvgBefore: number;
  loadAvgAfter: number;
  /** CPU seconds the Stave process used during the load, all threads and its main thread (the event loop). */
  cpuSeconds: number;
  mainCpuSeconds: number;
  /**
   * With the generator on: the spans it had received when the load ended and once its queues drained
   * (it may lag under load), the distributor's forwarding failures
   * (pushes dropped on a full queue), its thread's CPU time, what remote write sent, and how many remote
   * writes reached the sink during the load and in all.
   */
  generator?: {
    spansAtEnd: number;
    spansReceived: number;
    forwardFailures: number;
    threadCpuSeconds: number;
    samplesSent: number;
    sinkRequestsDuringLoad: number;
    sinkRequests: number;
    /** The tenant's active series after the run, and the new series refused by max_active_series during it. */
    activeSeries: number;
    seriesLimited: number;
  };
}

interface Options {
  /** Sizes the pool the loads cycle through (new trace IDs on each pass). */
  traces: number;
  concurrency: number;
  batchSpans: number;
  seed: number;
  poolSpans: number;
  closedPairs: number;
  /** Length of each closed-loop run; its second half is the rate it sustains. */
  peakDurationS: number;
  pairs: number;
  /** Offered spans/s of the fixed-rate runs; undefined: `rateFraction` of the measured capacity. */
  rate?: number;
  rateFraction: number;
  durationS: number;
  /** Seconds of the same load sent to each fresh process before a fixed-rate run is measured. */
  warmupS: number;
  /** Most requests in flight at the fixed rate (the schedule waits beyond it and reports how far behind). */
  openConcurrency: number;
  collectionInterval: string;
  /** The tenant's max_active_series override in generator-on runs (0: none, the default). */
  maxActiveSeries: number;
  /** Run each Stave under `node --cpu-prof`, its profiles in `<profileDir>/<run>-<method>-<mode>/`. */
  profileDir?: string;
  /** An executable to run instead of bin/stave (a wrapper around it, say). */
  staveBin?: string;
  note?: string;
  progress: boolean;
  log: (l: string) => void;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Off/on, on/off, ...: drift in the machine's load hits both modes. */
const pairModes = (pair: number): Mode[] => (pair % 2 === 0 ? ['off', 'on'] : ['on', 'off']);

interface Sink {
  url: string;
  requests: () => number;
}

const failedPushes = (errors: Record<string, number> | undefined): number => Object.values(errors ?? {}).reduce((a, n) => a + n, 0);
/** A fixed-rate run is valid when no push failed (the open loop does not retry a refusal). */
const valid = (r: Run): boolean => r.method === 'closed' || failedPushes(r.errors) + failedPushes(r.warmupErrors) === 0;

/** One run on a fresh Stave: the sustained closed loop, or `rate` spans/s for `durationS`. */
async function runOne(o: Options, sink: Sink, pool: Pool, method: Method, mode: Mode, rate: number, index: number): Promise<Run> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-mgen-'));
  try {
    const configFile = path.join(dataDir, 'stave.yaml');
    writeFileSync(configFile, configYaml(mode === 'on', sink.url, o.collectionInterval, o.maxActiveSeries));
    const bin = profiledBin(o.profileDir && path.join(o.profileDir, `${index}-${method}-${mode}`), o.staveBin);
    const stave = await startStave({ dataDir, configFile, bin, extraArgs: [`-metrics-generator.storage.path=${path.join(dataDir, 'generator')}`] });
    try {
      const label = `${method === 'closed' ? 'closed loop' : `${fmtInt(rate)} spans/s`}, generator ${mode}`;
      // The same load for `warmupS` first, not measured: a fresh process's first seconds (code not yet
      // compiled, heaps growing, connections opening) made the slowest 1% of a 30-s run by themselves.
      let warmupP99: number | undefined;
      let warmupErrors: Record<string, number> | undefined;
      if (method === 'fixed' && o.warmupS > 0) {
        o.log(`${label}: warming up for ${o.warmupS} s`);
        const w = await runSustained(pool, {
          host: '127.0.0.1',
          port: stave.otlpHttpPort,
          metricsPort: stave.httpPort,
          pid: stave.pid,
          rate,
          durationMs: o.warmupS * 1000,
          windowMs: o.warmupS * 1000,
          concurrency: o.openConcurrency,
          progress: false,
          log: o.log,
        });
        warmupP99 = w.latency.p99;
        warmupErrors = w.errors;
      }
      const sinkBefore = sink.requests();
      const loadAvgBefore = os.loadavg()[0]!;
      const cpu0 = processCpuSeconds(stave.pid);
      const main0 = threadCpuSeconds(stave.pid);
      const gen0 = async (name: string) => (mode === 'on' ? await metricSum(stave.httpPort, name) : 0);
      const threadCpu0 = await gen0('stave_metrics_generator_thread_cpu_seconds');
      const spans0 = await gen0('tempo_metrics_generator_spans_received_total');
      const failures0 = await gen0('tempo_distributor_metrics_generator_pushes_failures_total');
      const samples0 = await gen0('prometheus_remote_storage_samples_total');
      const limited0 = await gen0('tempo_metrics_generator_registry_series_limited_total');
      let stats: Pick<Run, 'sentSpans' | 'ackedSpans' | 'spansPerSec' | 'steadyFromS' | 'steadyToS' | 'retried' | 'p50' | 'p99' | 'behindMs' | 'errors'>;
      if (method === 'closed') {
        o.log(`${label}: for ${o.peakDurationS} s; what it sustains is the rate over the second half`);
        const peak = await sustainedPeak(pool, {
          host: '127.0.0.1',
          port: stave.otlpHttpPort,
          metricsPort: stave.httpPort,
          pid: stave.pid,
          durationMs: o.peakDurationS * 1000,
          concurrency: o.concurrency,
          progress: o.progress,
          log: o.log,
        });
        stats = {
          sentSpans: peak.run.offeredSpans,
          ackedSpans: peak.run.ackedSpans,
          spansPerSec: peak.spansPerSec,
          steadyFromS: peak.fromS,
          steadyToS: peak.toS,
          retried: peak.run.retried,
          p50: peak.run.latency.p50,
          p99: peak.run.latency.p99,
          errors: peak.run.errors,
        };
      } else {
        const s = await runSustained(pool, {
          host: '127.0.0.1',
          port: stave.otlpHttpPort,
          metricsPort: stave.httpPort,
          pid: stave.pid,
          rate,
          durationMs: o.durationS * 1000,
          windowMs: 5000,
          concurrency: o.openConcurrency,
          progress: o.progress,
          log: o.log,
        });
        const last = s.windows[s.windows.length - 1];
        stats = {
          sentSpans: s.offeredSpans,
          ackedSpans: s.ackedSpans,
          spansPerSec: s.achievedSpansPerSec,
          p50: s.latency.p50,
          p99: s.latency.p99,
          behindMs: last?.behindMs ?? 0,
          errors: s.errors,
        };
      }
      const run: Run = {
        method,
        mode,
        ...stats,
        warmupP99,
        warmupErrors,
        loadAvgBefore,
        loadAvgAfter: os.loadavg()[0]!,
        cpuSeconds: processCpuSeconds(stave.pid) - cpu0,
        mainCpuSeconds: threadCpuSeconds(stave.pid) - main0,
      };
      if (mode === 'on') {
        const sinkRequestsDuringLoad = sink.requests() - sinkBefore;
        const received = async () => (await metricSum(stave.httpPort, 'tempo_metrics_generator_spans_received_total')) - spans0;
        const spansAtEnd = await received();
        const spansReceived = await settled(received);
        run.generator = {
          spansAtEnd,
          spansReceived,
          // From before the load until its queues drained: all the work it did for this run's spans.
          threadCpuSeconds: (await metricSum(stave.httpPort, 'stave_metrics_generator_thread_cpu_seconds')) - threadCpu0,
          forwardFailures: (await metricSum(stave.httpPort, 'tempo_distributor_metrics_generator_pushes_failures_total')) - failures0,
          samplesSent: (await metricSum(stave.httpPort, 'prometheus_remote_storage_samples_total')) - samples0,
          sinkRequestsDuringLoad,
          sinkRequests: sink.requests() - sinkBefore,
          activeSeries: await metricSum(stave.httpPort, 'tempo_metrics_generator_registry_active_series'),
          seriesLimited: (await metricSum(stave.httpPort, 'tempo_metrics_generator_registry_series_limited_total')) - limited0,
        };
      }
      o.log(
        `${label}: ${fmtInt(run.spansPerSec)} spans/s${valid(run) ? '' : ` — INVALID, pushes failed: ${fmtErrors({ ...run.warmupErrors, ...run.errors }) || 'n/a'}`}, push p50 ${fmtMs(run.p50)} p99 ${fmtMs(run.p99)}, CPU ${fmtUs(run.cpuSeconds / run.ackedSpans)}/span, load average ${run.loadAvgBefore.toFixed(1)} → ${run.loadAvgAfter.toFixed(1)}` +
          (run.generator
            ? `; generator received ${fmtInt(run.generator.spansReceived)} spans, ${run.generator.forwardFailures} pushes dropped, ${run.generator.sinkRequestsDuringLoad} remote writes during the load`
            : ''),
      );
      return run;
    } finally {
      await stave.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runAll(o: Options): Promise<{ runs: Run[]; capacity: number; rate: number }> {
  // The loads cycle through the pool (new trace IDs on each pass); one pass is at most --pool-spans.
  const plan = planRounds(o.traces, o.poolSpans);
  o.log(`generating ${fmtInt(plan.poolTraces)} traces (seed ${o.seed})...`);
  const pool = generatePool({ seed: o.seed, traces: plan.poolTraces, batchSpans: o.batchSpans, nowMs: Date.now() });
  const sink = await startSink();
  const runs: Run[] = [];
  try {
    for (let pair = 0; pair < o.closedPairs; pair++)
      for (const mode of pairModes(pair)) runs.push(await runOne(o, sink, pool, 'closed', mode, 0, runs.length + 1));
    const closedOff = runs.filter((r) => r.mode === 'off').map((r) => r.spansPerSec);
    const capacity = closedOff.length ? median(closedOff) : NaN;
    const rate = o.rate ?? Math.round(o.rateFraction * capacity);
    if (o.pairs > 0 && !(rate > 0)) throw new ArgError('a fixed rate needs --rate, or --closed-pairs ≥ 1 to measure the capacity it is a fraction of');
    if (o.pairs > 0) o.log(`capacity (sustained closed loop, generator off): ${fmtInt(capacity)} spans/s; fixed-rate runs at ${fmtInt(rate)} spans/s`);
    for (let pair = 0; pair < o.pairs; pair++) for (const mode of pairModes(pair)) runs.push(await runOne(o, sink, pool, 'fixed', mode, rate, runs.length + 1));
    return { runs, capacity, rate };
  } finally {
    await sink.close();
  }
}

const fmtCounts = (counts: Record<string, number> | undefined): string =>
  Object.entries(counts ?? {})
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
const fmtErrors = (errors: Record<string, number>): string => (fmtCounts(errors) ? ` (failed: ${fmtCounts(errors)})` : '');
/** Pushes refused for overload (429/503). */
const refusals = (errors: Record<string, number> | undefined): number => (errors?.['HTTP 429'] ?? 0) + (errors?.['HTTP 503'] ?? 0);
const fmtUs = (secondsPerSpan: number): string => `${(secondsPerSpan * 1e6).toFixed(1)} µs`;
const fmtRatio = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

/** Summary rows (mode medians over the valid runs, and on ÷ off) for the runs of one method. */
function summaryRows(runs: Run[], method: Method, what: string, target: boolean): string[] {
  const of = (mode: Mode) => runs.filter((r) => r.method === method && r.mode === mode && valid(r));
  const med = (mode: Mode, f: (r: Run) => number) => median(of(mode).map(f));
  const row = (name: string, f: (r: Run) => number, fmt: (v: number) => string, t = '') => {
    const off = med('off', f);
    const on = med('on', f);
    return `| ${what}: ${name} | ${fmt(off)} | ${fmt(on)} | ${fmtRatio(on / off)}${t && (on / off < 1.1 ? ' ✓' : ' ✗')} | ${t} |`;
  };
  if (!of('off').length || !of('on').length) return [];
  return [
    ...(target ? [] : [row('spans/s sustained: acknowledged over the second half (median of runs)', (r) => r.spansPerSec, fmtInt)]),
    row('push p99 (median of runs)', (r) => r.p99, fmtMs, target ? '< 1.10' : ''),
    row('push p50 (median of runs)', (r) => r.p50, fmtMs),
    ...(target ? [row('spans/s acknowledged (median of runs)', (r) => r.spansPerSec, fmtInt)] : []),
    row('Stave CPU per span, all threads (median of runs)', (r) => r.cpuSeconds / r.ackedSpans, fmtUs),
    row('of which the main thread (event loop)', (r) => r.mainCpuSeconds / r.ackedSpans, fmtUs),
  ];
}

function markdown(o: Options, runs: Run[], capacity: number, rate: number): string {
  const m = machineInfo();
  const fixed = runs.filter((r) => r.method === 'fixed');
  const invalid = fixed.filter((r) => !valid(r));
  const onRuns = runs.filter((r) => r.generator);
  const gen = (rs: Run[]) => rs.filter((r) => r.generator).map((r) => r.generator!);
  const share = (k: 'spansAtEnd' | 'spansReceived') => `${(100 * median(onRuns.map((r) => r.generator![k] / r.ackedSpans))).toFixed(1)}%`;
  // Per pair (adjacent off and on runs at the same rate): on ÷ off of p99; NaN when either run is invalid.
  const pairRatios: number[] = [];
  for (let i = 0; i + 1 < fixed.length; i += 2) {
    const [a, b] = [fixed[i]!, fixed[i + 1]!];
    const [off, on] = a.mode === 'off' ? [a, b] : [b, a];
    pairRatios.push(valid(a) && valid(b) ? on.p99 / off.p99 : NaN);
  }
  const validRatios = pairRatios.filter((x) => Number.isFinite(x));
  const fmtPair = (x: number) => (Number.isFinite(x) ? fmtRatio(x) : 'invalid');
  const lines = [
    `### Push latency, metrics-generator off vs on, at a fixed offered rate — ${m.date}`,
    '',
    `- machine: ${describeMachine(m)}`,
    ...staveBinNote(o.staveBin),
    `- load average (1 min) around the runs: ${runs.map((r) => `${r.method === 'closed' ? 'closed ' : ''}${r.mode} ${r.loadAvgBefore.toFixed(1)}→${r.loadAvgAfter.toFixed(1)}`).join(', ')}`,
    `- workload: the ingest bench's (seed ${o.seed}) in requests of ≤ ${o.batchSpans} spans, each run on a fresh \`bin/stave -target=all\`; generator on: both processors for the tenant, collection every ${o.collectionInterval}${o.maxActiveSeries > 0 ? `, max_active_series ${fmtInt(o.maxActiveSeries)}` : ''}, remote write to an in-harness sink (204)`,
    `- capacity: what the process sustains, as the ingest bench's sustained mode measures its peak: ${o.closedPairs} closed-loop pair(s) of ${o.peakDurationS} s each (concurrency ${o.concurrency}, 429/503 retried after Retry-After), the rate acknowledged over the second half; generator off: ${fmtInt(capacity)} spans/s (median)`,
    `- fixed rate: ${o.pairs} off/on pair(s) at ${fmtInt(rate)} spans/s offered (${o.rate === undefined ? `${o.rateFraction} × capacity` : '--rate'}), open loop (refusals not retried) for ${o.durationS} s each after ${o.warmupS} s of warm-up at the same rate (not measured), at most ${o.openConcurrency} requests in flight; p99 on ÷ off per pair: ${pairRatios.map(fmtPair).join(', ') || 'n/a'} (median of the valid pairs: ${validRatios.length ? fmtRatio(median(validRatios)) : 'n/a'})`,
    invalid.length
      ? `- **invalid runs: ${invalid.length} of ${fixed.length}** (${invalid.map((r) => `run ${runs.indexOf(r) + 1}, ${r.mode}: ${fmtCounts({ ...r.warmupErrors, ...r.errors })}`).join('; ')}): a push failed, which the open loop does not retry, so the run's latencies leave out what the server refused; left out of the medians and ratios. Refusals (429/503) mean the rate is above what the process sustains on this machine now.`
      : `- every fixed-rate run valid: no push failed (refused or otherwise), in the warm-ups or the loads`,
    `- command: \`node bench/metrics-generator/dist/run.js ${process.argv.slice(2).join(' ')}\``,
    ...(o.note ? [`- note: ${o.note}`] : []),
    '',
    '| | generator off | generator on | on ÷ off | target |',
    '|---|---|---|---|---|',
    ...summaryRows(runs, 'fixed', `at ${fmtInt(rate)} spans/s`, true),
    ...(fixed.some((r) => r.generator)
      ? [
          `| at ${fmtInt(rate)} spans/s: generator thread CPU per span processed (median of runs) | | ${fmtUs(median(gen(fixed).map((g) => g.threadCpuSeconds / Math.max(1, g.spansReceived))))} | | |`,
          `| at ${fmtInt(rate)} spans/s: pushes dropped by forwarding (all runs) / remote writes during the load (median of runs) | | ${gen(fixed).reduce((a, g) => a + g.forwardFailures, 0)} / ${median(gen(fixed).map((g) => g.sinkRequestsDuringLoad))} | | |`,
        ]
      : []),
    ...summaryRows(runs, 'closed', 'capacity cost (closed loop, saturating)', false),
    ...(onRuns.length
      ? [
          `| generator: spans processed ÷ acked, at the end of the load / after its queues drained (median of all runs) | | ${share('spansAtEnd')} / ${share('spansReceived')} | | |`,
        ]
      : []),
    '',
    '| run | method | mode | spans/s | p50 | p99 | CPU s (main thread) | acked / sent (failed pushes) | refused in warm-up / load (closed loop: retried) | load avg | generator: spans received at end of load / after drain, pushes dropped, thread CPU s, samples sent, remote writes during load / in all, active series (new series refused by max_active_series) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r, i) =>
        `| ${i + 1} | ${r.method === 'closed' ? `closed loop, ${o.peakDurationS} s (rate over ${r.steadyFromS?.toFixed(0)}–${r.steadyToS?.toFixed(0)} s)` : `${fmtInt(rate)}/s${r.behindMs ? ` (${fmtMs(r.behindMs)} behind)` : ''}${valid(r) ? '' : ' **invalid**'}`} | ${r.mode} | ${fmtInt(r.spansPerSec)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)}${r.warmupP99 !== undefined ? ` (warm-up ${fmtMs(r.warmupP99)})` : ''} | ${r.cpuSeconds.toFixed(1)} (${r.mainCpuSeconds.toFixed(1)}) | ${fmtInt(r.ackedSpans)} / ${fmtInt(r.sentSpans)}${fmtErrors(r.errors)} | ${r.method === 'closed' ? fmtCounts(r.retried) || '0' : `${refusals(r.warmupErrors)} / ${refusals(r.errors)}`} | ${r.loadAvgBefore.toFixed(1)}→${r.loadAvgAfter.toFixed(1)} | ${
          r.generator
            ? `${fmtInt(r.generator.spansAtEnd)} / ${fmtInt(r.generator.spansReceived)}, ${r.generator.forwardFailures}, ${r.generator.threadCpuSeconds.toFixed(2)}, ${fmtInt(r.generator.samplesSent)}, ${r.generator.sinkRequestsDuringLoad} / ${r.generator.sinkRequests}, ${fmtInt(r.generator.activeSeries)} (${fmtInt(r.generator.seriesLimited)})`
            : '—'
        } |`,
    ),
    '',
  ];
  return lines.join('\n');
}

const USAGE = `usage: make bench-metrics-generator ARGS="[flags]"
  --closed-pairs N         closed-loop off/on pairs: the capacity, and the generator's capacity cost (default 1)
  --peak-duration-s N      length of each closed-loop run; what it sustains is the rate over its second half
                           (default 120, at least 20)
  --traces N               traces in the pool the loads cycle through (default 40000; ~17.5 spans each)
  --concurrency N          parallel pushers in the closed loop (default ${DEFAULTS.concurrency})
  --pairs N                off/on pairs at the fixed rate (default 3)
  --rate-fraction F        fixed rate as a fraction of the sustained capacity (default 0.5)
  --rate N                 fixed rate in spans/s instead of a fraction of the capacity
  --duration-s N           length of each fixed-rate run (default ${DEFAULT_DURATION_S}, at least 20)
  --warmup-s N             the same rate sent first for N s, not measured (default 5; 0: none)
  --open-concurrency N     most requests in flight at the fixed rate (default 64)
  --batch-spans N          spans per request (default ${DEFAULTS.batchSpans})
  --seed N                 workload seed (default ${DEFAULTS.seed})
  --pool-spans N           most spans pre-generated at once (default ${DEFAULTS.poolSpans})
  --collection-interval D  the generator's collection_interval (default 5s)
  --max-active-series N    the tenant's max_active_series override in generator-on runs (default: none)
  --profile-dir DIR        run Stave under node --cpu-prof, each run's profiles (one per thread) in DIR/<run>-<method>-<mode>/
  --stave-bin PATH         executable to run instead of bin/stave (e.g. a wrapper that execs bin/stave)
  --out FILE               append the markdown result to FILE (bench/results/metrics-generator.md)
  --note TEXT              free text recorded with the result
  --no-progress            no progress output on stderr`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    known: [
      'closed-pairs',
      'peak-duration-s',
      'traces',
      'concurrency',
      'pairs',
      'rate-fraction',
      'rate',
      'duration-s',
      'warmup-s',
      'open-concurrency',
      'batch-spans',
      'seed',
      'pool-spans',
      'collection-interval',
      'max-active-series',
      'profile-dir',
      'stave-bin',
      'out',
      'note',
      'no-progress',
      'help',
    ],
    booleans: ['no-progress', 'help'],
  });
  if (args.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const fraction = Number(args.get('rate-fraction') ?? '0.5');
  if (!(fraction > 0 && fraction <= 1)) throw new ArgError(`--rate-fraction ${args.get('rate-fraction')}: a number in (0, 1]`);
  const o: Options = {
    closedPairs: intArg(args, 'closed-pairs', 1, 0),
    peakDurationS: intArg(args, 'peak-duration-s', 120, 20),
    traces: intArg(args, 'traces', 40_000, 1),
    concurrency: intArg(args, 'concurrency', DEFAULTS.concurrency, 1),
    pairs: intArg(args, 'pairs', 3, 0),
    rateFraction: fraction,
    rate: args.has('rate') ? intArg(args, 'rate', 0, 1) : undefined,
    durationS: intArg(args, 'duration-s', DEFAULT_DURATION_S, 20),
    warmupS: intArg(args, 'warmup-s', 5, 0),
    openConcurrency: intArg(args, 'open-concurrency', 64, 1),
    batchSpans: intArg(args, 'batch-spans', DEFAULTS.batchSpans, 1),
    seed: intArg(args, 'seed', DEFAULTS.seed),
    poolSpans: intArg(args, 'pool-spans', DEFAULTS.poolSpans, 1),
    collectionInterval: args.get('collection-interval') ?? '5s',
    maxActiveSeries: intArg(args, 'max-active-series', 0, 0),
    profileDir: args.get('profile-dir') && path.resolve(args.get('profile-dir')!),
    staveBin: args.get('stave-bin') && path.resolve(args.get('stave-bin')!),
    note: args.get('note'),
    progress: !boolArg(args, 'no-progress'),
    log: (l) => process.stderr.write(l + '\n'),
  };
  if (!/^\d+(ms|s|m)$/.test(o.collectionInterval)) throw new ArgError(`--collection-interval ${o.collectionInterval}: a duration such as 5s`);
  if (o.closedPairs + o.pairs === 0) throw new ArgError('nothing to run: --closed-pairs and --pairs are both 0');
  const { runs, capacity, rate } = await runAll(o);
  const md = markdown(o, runs, capacity, rate);
  process.stdout.write('\n' + md);
  const out = args.get('out');
  if (out) {
    mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    appendFileSync(out, '\n' + md);
    process.stderr.write(`appended to ${out}\n`);
  }
  // Not a result: a fixed-rate run with failed pushes, or a closed loop that lost spans after its retries.
  return runs.some((r) => !valid(r) || (r.method === 'closed' && r.ackedSpans !== r.sentSpans)) ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = err instanceof ArgError ? 2 : 1;
    },
  );
}
