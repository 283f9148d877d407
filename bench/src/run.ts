// `make bench`: the ingest + trace-by-ID benchmark, measured in ONE run against its baseline.
//
//  1. generate the workload once (untimed; its cost is reported separately);
//  2. no-op server (child process) ← load generator: the ceiling of this machine, client and HTTP stack;
//  3. Stave (bin/stave child, temp data dir) ← the same load: spans/s, push latency, peak RSS;
//  4. 1 s after the last ack: trace-by-ID timer (recent data, ingester path);
//  5. POST /flush, then the timer again (block path); stored bytes per acknowledged span; SIGTERM.
// The headline is the ratio Stave ÷ no-op spans/s, since both were measured minutes apart on one machine.

import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgError, boolArg, durationArg, floatArg, intArg, parseArgs } from './args';
import { runFleetBench, runSustainedBench, type ModeOptions } from './modes';
import { httpRequest, keepAliveAgent } from './http-client';
import { DEFAULTS, describeLoad, planRounds, runLoad, type LoadResult } from './loadgen';
import { describeThreadsCpu, describeMachine, machineInfo, processCpuSeconds, threadCpuSeconds, threadsCpuSeconds, type MachineInfo } from './machine';
import { startNoopServer } from './noop-server';
import { describeQueries, readBackAll, timeQueries, type QueryResult } from './query';
import { fmtBytes, fmtInt, fmtMs, sleep } from './stats';
import { RssSampler, configFileFor, dirBytes, profiledBin, startStave, staveBinNote, statusField } from './stave-process';
import { generatePool } from './workload';
import { generateCollectorPool } from './collector-workload';
import { Timeline } from './timeline';

export const TARGETS = {
  ratio: 0.15,
  byIdP50Ms: 20,
  byIdP99Ms: 100,
  targetSpans: 1_750_000,
  peakRssBytes: 1024 ** 3,
  bytesPerSpan: 60,
} as const;

/** The collector-shaped run's targets (issue 11): ≥ 20% of the no-op server, ≤ 512 MiB, flush ≥ 2× ingest. */
export const COLLECTOR_TARGETS = { ratio: 0.2, peakRssBytes: 512 * 1024 ** 2, flushOverIngest: 2 } as const;

/** Unmeasured requests to the no-op server before its measured run. */
const WARMUP_REQUESTS = 300;

export type WorkloadShape = 'project' | 'collector';

export interface BenchOptions {
  /** `project`: traces of ~20 open at a time, 2–3 requests each; `collector`: every span shuffled over the run. */
  workload: WorkloadShape;
  traces: number;
  concurrency: number;
  batchSpans: number;
  seed: number;
  queries: number;
  poolSpans: number;
  skipNoop: boolean;
  skipStave: boolean;
  staveBin?: string;
  staveConfig?: string;
  /** A Tempo-style config file, run with its listeners moved to loopback port 0 (see loopbackConfig). */
  tempoConfig?: string;
  /** Run Stave under `node --cpu-prof`, profiles written here. */
  profileDir?: string;
  /** Write a per-second timeline of RSS, WAL backlog and per-thread CPU to this file. */
  timelineFile?: string;
  /** Read back every acknowledged trace after flush (exactness only, 8 in flight). */
  readBackAll: boolean;
  keepData: boolean;
  tenant?: string;
  /** Free text recorded with the result (e.g. what state Stave was in). */
  note?: string;
  progress: boolean;
  log: (line: string) => void;
}

export interface StaveRun {
  load: LoadResult;
  queriesBeforeFlush: QueryResult;
  flush: { status: number | string; ms: number };
  queriesAfterFlush: QueryResult;
  /** Every acknowledged trace read back after flush (with --read-back all). */
  readBack?: QueryResult;
  /** Largest RSS of the Stave process tree sampled during ingest; VmHWM just before SIGTERM (whole run). */
  peakRssIngestBytes: number;
  /** Stave's CPU time (utime + stime, every thread) from the first send to the last answer, in seconds. */
  ingestCpuSeconds: number;
  /** Of which on the main thread (the event loop). */
  ingestMainCpuSeconds: number;
  hwmBytes: number;
  blocksBytes: number;
  walBytesAfterFlush: number;
  bytesPerSpan: number;
  stop: { code: number | null; signal: string | null; stopMs: number; killed: boolean };
  dataDir: string;
}

export interface BenchResult {
  options: BenchOptions;
  machine: MachineInfo;
  workload: { traces: number; spans: number; requests: number; rounds: number; poolBytes: number; generateMs: number };
  noop?: LoadResult;
  stave?: StaveRun;
  staveError?: string;
  ratio?: number;
  /** Peak RSS of this (the harness) process. */
  harnessMaxRssBytes: number;
  /** 1-minute load average when each measured phase started (the machine is shared). */
  loadAvg: Record<string, number>;
}

async function flush(port: number, tenant?: string): Promise<{ status: number | string; ms: number }> {
  const agent = keepAliveAgent(1);
  const t0 = performance.now();
  try {
    const res = await httpRequest(agent, {
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/flush',
      headers: tenant ? { 'x-scope-orgid': tenant } : {},
      timeoutMs: 300_000,
    });
    return { status: res.status || (res.error ?? 'error'), ms: performance.now() - t0 };
  } finally {
    agent.destroy();
  }
}

/** Waits (bounded) until the blocks directory stops growing: a flush may finish writing after its 204. */
async function settledBytes(dir: string, maxMs = 30_000): Promise<number> {
  const deadline = performance.now() + maxMs;
  let prev = await dirBytes(dir);
  for (;;) {
    await sleep(500);
    const cur = await dirBytes(dir);
    if ((cur === prev && cur > 0) || performance.now() > deadline) return cur;
    prev = cur;
  }
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const machine = machineInfo();
  const plan = planRounds(o.traces, o.poolSpans);
  o.log(
    `generating ${fmtInt(plan.poolTraces)} traces (seed ${o.seed}, ${o.batchSpans} spans per request)${plan.rounds > 1 ? `, to be sent in ${plan.rounds} rounds with fresh trace IDs` : ''}...`,
  );
  const generate = o.workload === 'collector' ? generateCollectorPool : generatePool;
  const pool = generate({ seed: o.seed, traces: plan.poolTraces, batchSpans: o.batchSpans, nowMs: Date.now() });
  const workload = {
    traces: pool.traceCount * plan.rounds,
    spans: pool.spanCount * plan.rounds,
    requests: pool.bodies.length * plan.rounds,
    rounds: plan.rounds,
    poolBytes: pool.bytes,
    generateMs: pool.generateMs,
  };
  o.log(
    `generated ${fmtInt(pool.spanCount)} spans, ${pool.bodies.length} requests, ${fmtBytes(pool.bytes)} in ${(pool.generateMs / 1000).toFixed(1)} s (${fmtInt(pool.spanCount / (pool.generateMs / 1000))} spans/s, not part of any timing)`,
  );
  const result: BenchResult = { options: o, machine, workload, harnessMaxRssBytes: 0, loadAvg: {} };
  const order = o.workload === 'collector' ? 'interleaved' : 'rounds';
  const load = (port: number, label: string): Promise<LoadResult> => {
    result.loadAvg[label] = os.loadavg()[0]!;
    return runLoad(pool, { host: '127.0.0.1', port, concurrency: o.concurrency, rounds: plan.rounds, label, progress: o.progress, tenant: o.tenant, order });
  };

  if (!o.skipNoop) {
    const noop = await startNoopServer();
    try {
      // Warm the client's JIT first: otherwise the baseline alone pays for it and the ratio flatters Stave.
      await runLoad(pool, { host: '127.0.0.1', port: noop.port, concurrency: o.concurrency, rounds: 1, limit: WARMUP_REQUESTS, progress: false, order });
      result.noop = await load(noop.port, 'no-op');
    } finally {
      await noop.stop();
    }
    o.log(describeLoad(result.noop));
  }

  if (o.skipStave) {
    result.harnessMaxRssBytes = process.resourceUsage().maxRSS * 1024;
    return result;
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-'));
  let stave: Awaited<ReturnType<typeof startStave>> | undefined;
  try {
    stave = await startStave({ dataDir, bin: profiledBin(o.profileDir, o.staveBin), configFile: configFileFor(o, dataDir) });
    o.log(`stave pid ${stave.pid}: http :${stave.httpPort}, otlp http :${stave.otlpHttpPort}, data ${dataDir}`);
    const rss = new RssSampler(stave.pid);
    const timeline = o.timelineFile ? new Timeline(stave.pid, stave.httpPort, o.timelineFile) : undefined;
    const cpuBefore = processCpuSeconds(stave.pid);
    const mainCpuBefore = threadCpuSeconds(stave.pid);
    const threadsBefore = threadsCpuSeconds(stave.pid);
    const loadResult = await load(stave.otlpHttpPort, 'stave');
    const ingestCpuSeconds = processCpuSeconds(stave.pid) - cpuBefore;
    o.log(`CPU during ingest by thread (${ingestCpuSeconds.toFixed(2)} s in all): ${describeThreadsCpu(threadsBefore, threadsCpuSeconds(stave.pid))}`);
    const ingestMainCpuSeconds = threadCpuSeconds(stave.pid) - mainCpuBefore;
    const peakRssIngestBytes = rss.stop().peakBytes;
    o.log(describeLoad(loadResult));
    const acked = loadResult.ledger.exactTraces();
    const uncertain = loadResult.ledger.uncertainCount();
    if (uncertain) o.log(`${uncertain} traces had spans in partially rejected requests: left out of exactness checks`);
    await sleep(Math.max(0, loadResult.lastAckAt + 1000 - Date.now()));
    const q = (label: string): Promise<QueryResult> =>
      timeQueries({ host: '127.0.0.1', port: stave!.httpPort, traces: acked, queries: o.queries, seed: o.seed + 1, tenant: o.tenant, label });
    if (timeline) timeline.phase = 'by-ID before flush';
    const queriesBeforeFlush = await q('by ID, before flush');
    o.log(describeQueries(queriesBeforeFlush));
    const cpuBeforeFlush = processCpuSeconds(stave.pid);
    if (timeline) timeline.phase = 'flush';
    const fl = await flush(stave.httpPort, o.tenant);
    o.log(`POST /flush → ${fl.status} in ${fmtMs(fl.ms)}, ${(processCpuSeconds(stave.pid) - cpuBeforeFlush).toFixed(2)} s of CPU`);
    const blocksBytes = await settledBytes(stave.blocksDir);
    if (timeline) timeline.phase = 'after flush';
    const queriesAfterFlush = await q('by ID, after flush');
    o.log(describeQueries(queriesAfterFlush));
    let readBack: QueryResult | undefined;
    if (o.readBackAll) {
      readBack = await readBackAll(stave.httpPort, acked, o.seed + 2, 'every acknowledged trace, after flush', o.tenant);
      o.log(describeQueries(readBack));
    }
    const hwmBytes = statusField(stave.pid, 'VmHWM');
    if (timeline) o.log(`peak VmRSS by phase (timeline in ${o.timelineFile}): ${timeline.stop()}`);
    const walBytesAfterFlush = await dirBytes(stave.walDir);
    const stop = await stave.stop();
    o.log(`stave stopped on SIGTERM in ${fmtMs(stop.stopMs)} (code ${stop.code}, signal ${stop.signal}${stop.killed ? ', had to SIGKILL' : ''})`);
    result.stave = {
      load: loadResult,
      queriesBeforeFlush,
      flush: fl,
      queriesAfterFlush,
      readBack,
      peakRssIngestBytes,
      ingestCpuSeconds,
      ingestMainCpuSeconds,
      hwmBytes,
      blocksBytes,
      walBytesAfterFlush,
      bytesPerSpan: loadResult.ackedSpans ? blocksBytes / loadResult.ackedSpans : NaN,
      stop,
      dataDir,
    };
    if (result.noop) result.ratio = loadResult.spansPerSec / result.noop.spansPerSec;
  } catch (err) {
    result.staveError = err instanceof Error ? err.message : String(err);
    if (stave) {
      o.log(`--- last lines of ${stave.logFile} ---\n${stave.logTail()}`);
      await stave.stop(5000);
    }
  } finally {
    if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
  }
  result.harnessMaxRssBytes = process.resourceUsage().maxRSS * 1024;
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Reporting

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const mark = (ok: boolean | undefined): string => (ok === undefined ? '' : ok ? ' ✓' : ' ✗');

function exactness(q: QueryResult): string {
  const bad = [
    q.notFound && `${q.notFound} not found`,
    q.short && `${q.short} short (${fmtInt(q.missingSpans)} spans)`,
    q.long && `${q.long} long (${fmtInt(q.extraSpans)} spans)`,
    q.duplicateSpans && `${q.duplicateSpans} dup span IDs`,
    ...Object.entries(q.errors).map(([k, v]) => `${v}× ${k}`),
  ].filter(Boolean);
  return `${q.exact}/${q.queries} exact${bad.length ? ` — ${bad.join(', ')}` : ''}`;
}

function errorsCell(r: LoadResult): string {
  const e = Object.entries(r.errors).map(([k, v]) => `${v}× ${k}`);
  if (r.rejectedSpans) e.push(`${fmtInt(r.rejectedSpans)} spans rejected (partial success)`);
  const retried = Object.entries(r.retried).map(([k, v]) => `${v}× ${k}`);
  return (e.join(', ') || 'none') + (retried.length ? ` (retried: ${retried.join(', ')})` : '');
}

/** This run's flags as a user would retype them (the note is recorded on its own line). */
export function commandArgs(): string {
  const out: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--note') i++;
    else if (!argv[i]!.startsWith('--note=')) out.push(/[\s"'$]/.test(argv[i]!) ? `'${argv[i]}'` : argv[i]!);
  }
  return out.join(' ');
}

/** The result as a markdown block (also what the terminal shows). */
export function markdown(r: BenchResult): string {
  const m = r.machine;
  const s = r.stave;
  const n = r.noop;
  const w = r.workload;
  const o = r.options;
  const atScale = w.spans >= TARGETS.targetSpans * 0.95;
  const scaleNote = atScale ? '' : ` (targets are stated at ${fmtInt(TARGETS.targetSpans)} spans; this run had ${fmtInt(w.spans)})`;
  const rows: string[][] = [['metric', 'Stave', 'no-op baseline', 'target']];
  const byId = (q: QueryResult | undefined): string => (q ? `${fmtMs(q.latency.p50)} / ${fmtMs(q.latency.p99)}` : 'n/a');
  const byIdOk = (q: QueryResult | undefined): boolean | undefined =>
    q && atScale ? q.latency.p50 <= TARGETS.byIdP50Ms && q.latency.p99 <= TARGETS.byIdP99Ms : undefined;
  rows.push(['ingest spans/s', s ? fmtInt(s.load.spansPerSec) : 'n/a', n ? fmtInt(n.spansPerSec) : 'skipped', '']);
  const collector = o.workload === 'collector';
  const ratioTarget = collector ? COLLECTOR_TARGETS.ratio : TARGETS.ratio;
  const rssTarget = collector ? COLLECTOR_TARGETS.peakRssBytes : TARGETS.peakRssBytes;
  rows.push(['Stave ÷ no-op', r.ratio !== undefined ? pct(r.ratio) + mark(r.ratio >= ratioTarget) : 'n/a', '', `≥ ${ratioTarget * 100}%`]);
  rows.push([
    'Stave CPU per span during ingest (all threads)',
    s && s.load.ackedSpans ? `${((s.ingestCpuSeconds * 1e6) / s.load.ackedSpans).toFixed(1)} µs (${s.ingestCpuSeconds.toFixed(1)} s)` : 'n/a',
    '',
    '',
  ]);
  rows.push([
    '… of which on the main thread (event loop)',
    s && s.load.ackedSpans ? `${((s.ingestMainCpuSeconds * 1e6) / s.load.ackedSpans).toFixed(1)} µs (${s.ingestMainCpuSeconds.toFixed(1)} s)` : 'n/a',
    '',
    '',
  ]);
  rows.push([
    'acknowledged spans',
    s ? `${fmtInt(s.load.ackedSpans)} / ${fmtInt(s.load.sentSpans)}` : 'n/a',
    n ? `${fmtInt(n.ackedSpans)} / ${fmtInt(n.sentSpans)}` : 'skipped',
    'all',
  ]);
  rows.push([
    'push latency p50 / p99',
    s ? `${fmtMs(s.load.latency.p50)} / ${fmtMs(s.load.latency.p99)}` : 'n/a',
    n ? `${fmtMs(n.latency.p50)} / ${fmtMs(n.latency.p99)}` : 'skipped',
    '',
  ]);
  rows.push(['push errors', s ? errorsCell(s.load) : 'n/a', n ? errorsCell(n) : 'skipped', 'none']);
  rows.push([
    'by-ID p50 / p99, before flush',
    byId(s?.queriesBeforeFlush) + mark(byIdOk(s?.queriesBeforeFlush)),
    '',
    `≤ ${TARGETS.byIdP50Ms} ms / ≤ ${TARGETS.byIdP99Ms} ms`,
  ]);
  rows.push(['by-ID exactness, before flush', s ? exactness(s.queriesBeforeFlush) : 'n/a', '', 'all exact']);
  rows.push(['POST /flush', s ? `${s.flush.status} in ${fmtMs(s.flush.ms)}` : 'n/a', '', '204']);
  if (collector && s) {
    const flushRate = s.load.ackedSpans / (s.flush.ms / 1000);
    rows.push([
      'flush spans/s (÷ ingest spans/s)',
      `${fmtInt(flushRate)} (${(flushRate / s.load.spansPerSec).toFixed(2)}×)` +
        mark(atScale ? flushRate / s.load.spansPerSec >= COLLECTOR_TARGETS.flushOverIngest : undefined),
      '',
      `≥ ${COLLECTOR_TARGETS.flushOverIngest}× ingest`,
    ]);
  }
  rows.push([
    'by-ID p50 / p99, after flush',
    byId(s?.queriesAfterFlush) + mark(byIdOk(s?.queriesAfterFlush)),
    '',
    `≤ ${TARGETS.byIdP50Ms} ms / ≤ ${TARGETS.byIdP99Ms} ms`,
  ]);
  rows.push(['by-ID exactness, after flush', s ? exactness(s.queriesAfterFlush) : 'n/a', '', 'all exact']);
  if (s?.readBack) rows.push(['every acknowledged trace read back', exactness(s.readBack), '', 'all exact']);
  rows.push([
    'peak RSS during ingest / VmHWM whole run',
    s
      ? `${fmtBytes(s.peakRssIngestBytes)} / ${fmtBytes(s.hwmBytes)}` + mark(atScale ? Math.max(s.peakRssIngestBytes, s.hwmBytes) <= rssTarget : undefined)
      : 'n/a',
    '',
    `≤ ${fmtBytes(rssTarget)}`,
  ]);
  rows.push([
    'stored bytes per span (blocks)',
    s
      ? `${s.bytesPerSpan.toFixed(1)} (${fmtBytes(s.blocksBytes)}; WAL left ${fmtBytes(s.walBytesAfterFlush)})` +
        mark(s.blocksBytes > 0 ? s.bytesPerSpan <= TARGETS.bytesPerSpan : undefined)
      : 'n/a',
    '',
    `≤ ${TARGETS.bytesPerSpan}`,
  ]);
  rows.push(['SIGTERM → exit', s ? `${fmtMs(s.stop.stopMs)}, code ${s.stop.code}${s.stop.killed ? ' (SIGKILLed)' : ''}` : 'n/a', '', 'clean exit']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const table = [line(rows[0]!), `|${widths.map((wd) => '-'.repeat(wd + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
  return [
    `### Ingest + trace-by-ID${o.workload === 'collector' ? ' (collector-shaped)' : ''} — ${m.date}`,
    '',
    `- machine: ${describeMachine(m)}`,
    `- workload: seed ${o.seed}, ${fmtInt(w.traces)} traces, ${fmtInt(w.spans)} spans in ${fmtInt(w.requests)} requests of ≤ ${o.batchSpans} spans${w.rounds > 1 ? ` (pool of ${fmtBytes(w.poolBytes)} sent ${w.rounds}× with rewritten trace IDs)` : ` (${fmtBytes(w.poolBytes)})`}, concurrency ${o.concurrency}, ${o.queries} by-ID queries per phase; generation ${(w.generateMs / 1000).toFixed(1)} s, excluded from timings`,
    `- workload shape: ${o.workload === 'collector' ? 'collector (every span of every trace shuffled over the whole run; requests grouped by service instance)' : 'project (~20 traces open at a time, each over 2–3 requests)'}; config: ${o.tempoConfig ? `${path.relative(process.cwd(), o.tempoConfig)} (Tempo-style, listeners moved to loopback)` : o.staveConfig ? path.relative(process.cwd(), o.staveConfig) : 'generated (limits raised)'}${o.profileDir ? '; Stave under --cpu-prof' : ''}`,
    `- load average (1 min) at the start of each phase: ${Object.entries(r.loadAvg)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}`,
    `- command: \`make bench ARGS="${commandArgs()}"\`${scaleNote}`,
    `- harness (load generator + query timer) peak RSS: ${fmtBytes(r.harnessMaxRssBytes)}`,
    ...(o.skipStave ? ['- Stave: not run (--skip-stave)'] : []),
    ...staveBinNote(o.staveBin, '"Stave" column is'),
    ...(r.staveError ? [`- **Stave run failed:** ${r.staveError.split('\n')[0]}`] : []),
    ...(o.note ? [`- note: ${o.note}`] : []),
    '',
    table,
    '',
  ].join('\n');
}

const USAGE = `usage: make bench ARGS="[flags]"   (or node bench/dist/run.js [flags])
  --mode M           ingest (default: ingest + trace by ID + flush), sustained, or fleet (3 × scalable-single-binary, RF 3)
  --workload W       project (default for --mode ingest) or collector (every span shuffled over the run;
                     default for sustained and fleet)
  --config FILE      a Tempo-style config file (e.g. bench/tempo.yaml); listeners are moved to 127.0.0.1:0
  --read-back all    after flush, read back every acknowledged trace (default with --workload collector)
  --rate N           sustained: offered spans/s (default: --rate-fraction of the peak measured first)
  --rate-fraction F  sustained: fraction of the measured peak to offer (default 0.8)
  --duration D       sustained: how long, e.g. 10m or 90s (default 10m)
  --window D         sustained: one table row per window (default 30s)
  --peak-duration D  sustained: how long the closed loop that measures the peak runs; the peak is the
                     rate over its second half (default 2m)
  --profile-dir DIR  run Stave under node --cpu-prof, profiles in DIR
  --timeline FILE    write RSS, WAL backlog and per-thread CPU of Stave every second to FILE (TSV)
  --traces N         traces to send (default ${DEFAULTS.traces}; 5–30 spans each, ~17.5 on average)
  --concurrency N    parallel pushers (default ${DEFAULTS.concurrency})
  --batch-spans N    spans per request (default ${DEFAULTS.batchSpans})
  --seed N           workload seed (default ${DEFAULTS.seed})
  --queries N        trace-by-ID queries per phase (default 300)
  --pool-spans N     most spans pre-generated at once; bigger runs replay the pool with new trace IDs (default ${DEFAULTS.poolSpans})
  --skip-noop        do not measure the no-op baseline (no ratio)
  --skip-stave       only measure the no-op baseline
  --out FILE         append the markdown result to FILE (bench/results/ingest.md)
  --stave-bin PATH   executable to run instead of bin/stave (a .js file runs under node)
  --stave-config F   Stave config file instead of the generated one (ports/paths still set by flags)
  --tenant ID        send X-Scope-OrgID
  --keep-data        keep the temporary data dir
  --note TEXT        free text recorded with the result
  --no-progress      no progress output on stderr`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    known: [
      'traces',
      'concurrency',
      'batch-spans',
      'seed',
      'queries',
      'pool-spans',
      'skip-noop',
      'skip-stave',
      'out',
      'stave-bin',
      'stave-config',
      'tenant',
      'keep-data',
      'note',
      'no-progress',
      'mode',
      'workload',
      'config',
      'read-back',
      'rate',
      'rate-fraction',
      'duration',
      'window',
      'peak-duration',
      'profile-dir',
      'timeline',
      'help',
    ],
    booleans: ['skip-noop', 'skip-stave', 'keep-data', 'no-progress', 'help'],
  });
  if (args.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const mode = args.get('mode') ?? 'ingest';
  if (!['ingest', 'sustained', 'fleet'].includes(mode)) throw new ArgError(`--mode must be ingest, sustained or fleet, got "${mode}"`);
  const workload = args.get('workload') ?? (mode === 'ingest' ? 'project' : 'collector');
  if (workload !== 'project' && workload !== 'collector') throw new ArgError(`--workload must be project or collector, got "${workload}"`);
  const readBack = args.get('read-back') ?? (workload === 'collector' ? 'all' : 'none');
  if (readBack !== 'all' && readBack !== 'none') throw new ArgError(`--read-back must be all or none, got "${readBack}"`);
  const opts: BenchOptions = {
    workload,
    readBackAll: readBack === 'all',
    tempoConfig: args.get('config') && path.resolve(args.get('config')!),
    profileDir: args.get('profile-dir') && path.resolve(args.get('profile-dir')!),
    timelineFile: args.get('timeline') && path.resolve(args.get('timeline')!),
    traces: intArg(args, 'traces', DEFAULTS.traces, 1),
    concurrency: intArg(args, 'concurrency', DEFAULTS.concurrency, 1),
    batchSpans: intArg(args, 'batch-spans', DEFAULTS.batchSpans, 1),
    seed: intArg(args, 'seed', DEFAULTS.seed),
    queries: intArg(args, 'queries', 300),
    poolSpans: intArg(args, 'pool-spans', DEFAULTS.poolSpans, 1),
    skipNoop: boolArg(args, 'skip-noop'),
    skipStave: boolArg(args, 'skip-stave'),
    staveBin: args.get('stave-bin') && path.resolve(args.get('stave-bin')!),
    staveConfig: args.get('stave-config') && path.resolve(args.get('stave-config')!),
    keepData: boolArg(args, 'keep-data'),
    tenant: args.get('tenant'),
    note: args.get('note'),
    progress: !boolArg(args, 'no-progress'),
    log: (l) => process.stderr.write(l + '\n'),
  };
  const out = args.get('out');
  if (mode !== 'ingest') {
    const mo: ModeOptions = {
      ...opts,
      rate: args.has('rate') ? intArg(args, 'rate', 0, 1) : undefined,
      rateFraction: floatArg(args, 'rate-fraction', 0.8),
      durationMs: durationArg(args, 'duration', 600_000),
      windowMs: durationArg(args, 'window', 30_000),
      peakDurationMs: durationArg(args, 'peak-duration', 120_000),
    };
    const text = mode === 'sustained' ? await runSustainedBench(mo) : await runFleetBench(mo);
    process.stdout.write('\n' + text);
    if (out) {
      mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      appendFileSync(out, '\n' + text);
      process.stderr.write(`appended to ${out}\n`);
    }
    return 0;
  }
  const result = await runBench(opts);
  const md = markdown(result);
  process.stdout.write('\n' + md);
  if (out) {
    mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    appendFileSync(out, '\n' + md);
    process.stderr.write(`appended to ${out}\n`);
  }
  if (result.staveError) {
    process.stderr.write(`stave run failed: ${result.staveError}\n`);
    return 1;
  }
  return 0;
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
