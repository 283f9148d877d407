// Push latency with the metrics-generator on and off (issue 13, acceptance 3): the ingest bench's load
// (bench/src: the same seeded workload, load generator and generated config) sent to a fresh
// `bin/stave -target=all` per run, alternately with the tenant's processors off and on
// (`overrides.defaults.metrics_generator.processors: [service-graphs, span-metrics]`), in one invocation.
// With them on, the distributor forwards every push to the in-process generator, which builds span metrics
// and service-graph edges and remote-writes its series every `collection_interval` to a sink in this
// process that reads each request and answers 204 (remote write without a Prometheus's own CPU cost on the
// shared machine). Runs alternate off/on, on/off, ... so drift in the machine's load hits both modes; each
// mode's p99 is the median over its runs, and the headline is on ÷ off (target < 1.10). In `-target=all` the
// generator's thread runs at the lowest scheduling priority, so under load it may lag or drop pushes (its
// queues are bounded): each run with it on also reports how many spans it processed, by the end of the load
// and once its queues drained, how many pushes were dropped, and its thread's CPU time.
//
//   make bench-metrics-generator ARGS="--out bench/results/metrics-generator.md"
//   node_modules/.bin/tsc -b bench/metrics-generator && node bench/metrics-generator/dist/run.js --help
//
// Imports built code by path (bench/metrics-generator is not a workspace package), as bench/compaction does.

import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ArgError, boolArg, intArg, parseArgs } from '../../../bench/dist/args.js';
import { DEFAULTS, planRounds, runLoad, type LoadResult } from '../../../bench/dist/loadgen.js';
import { machineInfo, processCpuSeconds } from '../../../bench/dist/machine.js';
import { fmtInt, fmtMs } from '../../../bench/dist/stats.js';
import { BENCH_CONFIG_YAML, profiledBin, startStave } from '../../../bench/dist/stave-process.js';
import { generatePool } from '../../../bench/dist/workload.js';

const PROCESSORS = ['    metrics_generator:', '      processors: [service-graphs, span-metrics]'];

/** The ingest bench's config plus the generator's; `on` enables the processors for every tenant. */
export function configYaml(on: boolean, remoteWriteUrl: string, collectionInterval: string): string {
  // The generated config ends inside overrides.defaults (its ingestion limits): the processors go there.
  if (!/\noverrides:\n {2}defaults:\n(?: {4}.*\n| {6}.*\n)*$/.test(BENCH_CONFIG_YAML))
    throw new Error('bench/src BENCH_CONFIG_YAML no longer ends with overrides.defaults: update configYaml');
  return [
    BENCH_CONFIG_YAML.trimEnd(),
    ...(on ? PROCESSORS : []),
    'metrics_generator:',
    // The pool is generated once; later runs send spans minutes old, which the default 30 s slack would drop.
    '  metrics_ingestion_time_range_slack: 2h',
    '  registry:',
    `    collection_interval: ${collectionInterval}`,
    '  storage:',
    '    remote_write:',
    `      - url: ${remoteWriteUrl}`,
    '',
  ].join('\n');
}

/** A remote write receiver that reads every request and keeps only counts. */
async function startSink(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => Promise<void> }> {
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

/** CPU seconds the process's main thread (its event loop) has used: /proc/<pid>/task/<pid>/stat. */
function mainThreadCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
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

interface Run {
  mode: 'off' | 'on';
  load: LoadResult;
  loadAvgBefore: number;
  loadAvgAfter: number;
  /** CPU seconds the Stave process used during the load, all threads and its main thread (the event loop). */
  cpuSeconds: number;
  mainCpuSeconds: number;
  /**
   * With the generator on: the spans it had received when the load ended and once its queues drained
   * (it runs at the lowest priority, so it may lag under load), the distributor's forwarding failures
   * (pushes dropped on a full queue), its thread's CPU time, and what remote write sent.
   */
  generator?: {
    spansAtEnd: number;
    spansReceived: number;
    forwardFailures: number;
    threadCpuSeconds: number;
    samplesSent: number;
    sinkRequests: number;
  };
}

interface Options {
  traces: number;
  concurrency: number;
  batchSpans: number;
  seed: number;
  poolSpans: number;
  pairs: number;
  collectionInterval: string;
  /** Run each Stave under `node --cpu-prof`, its profiles in `<profileDir>/<run>-<mode>/`. */
  profileDir?: string;
  note?: string;
  progress: boolean;
  log: (l: string) => void;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function runAll(o: Options): Promise<Run[]> {
  const plan = planRounds(o.traces, o.poolSpans);
  o.log(`generating ${fmtInt(plan.poolTraces)} traces (seed ${o.seed})...`);
  const pool = generatePool({ seed: o.seed, traces: plan.poolTraces, batchSpans: o.batchSpans, nowMs: Date.now() });
  const sink = await startSink();
  const runs: Run[] = [];
  try {
    for (let pair = 0; pair < o.pairs; pair++) {
      const modes: Array<'off' | 'on'> = pair % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const mode of modes) {
        const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-mgen-'));
        try {
          const configFile = path.join(dataDir, 'stave.yaml');
          writeFileSync(configFile, configYaml(mode === 'on', sink.url, o.collectionInterval));
          const bin = o.profileDir ? profiledBin(path.join(o.profileDir, `${runs.length + 1}-${mode}`)) : undefined;
          const stave = await startStave({ dataDir, configFile, bin, extraArgs: [`-metrics-generator.storage.path=${path.join(dataDir, 'generator')}`] });
          try {
            const sinkBefore = sink.requests();
            const loadAvgBefore = os.loadavg()[0]!;
            const cpu0 = processCpuSeconds(stave.pid);
            const main0 = mainThreadCpuSeconds(stave.pid);
            const threadCpu0 = mode === 'on' ? await metricSum(stave.httpPort, 'stave_metrics_generator_thread_cpu_seconds') : 0;
            const load = await runLoad(pool, {
              host: '127.0.0.1',
              port: stave.otlpHttpPort,
              concurrency: o.concurrency,
              rounds: plan.rounds,
              label: `generator ${mode}`,
              progress: o.progress,
            });
            const run: Run = {
              mode,
              load,
              loadAvgBefore,
              loadAvgAfter: os.loadavg()[0]!,
              cpuSeconds: processCpuSeconds(stave.pid) - cpu0,
              mainCpuSeconds: mainThreadCpuSeconds(stave.pid) - main0,
            };
            if (mode === 'on') {
              const received = () => metricSum(stave.httpPort, 'tempo_metrics_generator_spans_received_total');
              const spansAtEnd = await received();
              const spansReceived = await settled(received);
              run.generator = {
                spansAtEnd,
                spansReceived,
                // From before the load until its queues drained: all the work it did for this run's spans.
                threadCpuSeconds: (await metricSum(stave.httpPort, 'stave_metrics_generator_thread_cpu_seconds')) - threadCpu0,
                forwardFailures: await metricSum(stave.httpPort, 'tempo_distributor_metrics_generator_pushes_failures_total'),
                samplesSent: await metricSum(stave.httpPort, 'prometheus_remote_storage_samples_total'),
                sinkRequests: sink.requests() - sinkBefore,
              };
            }
            runs.push(run);
            o.log(
              `generator ${mode}: ${fmtInt(load.spansPerSec)} spans/s, push p50 ${fmtMs(load.latency.p50)} p99 ${fmtMs(load.latency.p99)}, load average ${run.loadAvgBefore.toFixed(1)} → ${run.loadAvgAfter.toFixed(1)}` +
                (run.generator ? `; generator received ${fmtInt(run.generator.spansReceived)} spans, ${run.generator.sinkRequests} remote writes` : ''),
            );
          } finally {
            await stave.stop();
          }
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await sink.close();
  }
  return runs;
}

function markdown(o: Options, runs: Run[]): string {
  const m = machineInfo();
  const of = (mode: 'off' | 'on') => runs.filter((r) => r.mode === mode);
  const p99 = (mode: 'off' | 'on') => median(of(mode).map((r) => r.load.latency.p99));
  const p50 = (mode: 'off' | 'on') => median(of(mode).map((r) => r.load.latency.p50));
  const rate = (mode: 'off' | 'on') => median(of(mode).map((r) => r.load.spansPerSec));
  const cpu = (mode: 'off' | 'on') => median(of(mode).map((r) => r.cpuSeconds / r.load.ackedSpans));
  const mainCpu = (mode: 'off' | 'on') => median(of(mode).map((r) => r.mainCpuSeconds / r.load.ackedSpans));
  const fmtUs = (secondsPerSpan: number) => `${(secondsPerSpan * 1e6).toFixed(1)} µs`;
  const ratio = p99('on') / p99('off');
  const onRuns = of('on').filter((r) => r.generator);
  const gen = onRuns.map((r) => r.generator!);
  const share = (k: 'spansAtEnd' | 'spansReceived') => `${(100 * median(onRuns.map((r) => r.generator![k] / r.load.ackedSpans))).toFixed(1)}%`;
  const spans = runs[0]?.load.sentSpans ?? 0;
  const lines = [
    `### Push latency, metrics-generator off vs on — ${m.date}`,
    '',
    `- machine: ${m.nproc} CPUs (${m.cpuModel}), ${(m.totalMemBytes / 1024 ** 3).toFixed(1)} GiB RAM, node ${m.node}, ${m.platform}${m.git ? `, commit ${m.git}` : ''}`,
    `- load average (1 min) around the runs: ${runs.map((r) => `${r.mode} ${r.loadAvgBefore.toFixed(1)}→${r.loadAvgAfter.toFixed(1)}`).join(', ')}`,
    `- workload: the ingest bench's (seed ${o.seed}), ${fmtInt(spans)} spans per run in requests of ≤ ${o.batchSpans} spans, concurrency ${o.concurrency}; ${o.pairs} pairs of runs, each on a fresh \`bin/stave -target=all\`; generator on: both processors for the tenant, collection every ${o.collectionInterval}, remote write to an in-harness sink (204)`,
    `- command: \`make bench-metrics-generator ARGS="${process.argv.slice(2).join(' ')}"\``,
    ...(o.note ? [`- note: ${o.note}`] : []),
    '',
    '| | generator off | generator on | on ÷ off | target |',
    '|---|---|---|---|---|',
    `| push p99 (median of runs) | ${fmtMs(p99('off'))} | ${fmtMs(p99('on'))} | ${ratio.toFixed(3)}${ratio < 1.1 ? ' ✓' : ' ✗'} | < 1.10 |`,
    `| push p50 (median of runs) | ${fmtMs(p50('off'))} | ${fmtMs(p50('on'))} | ${(p50('on') / p50('off')).toFixed(3)} | |`,
    `| ingest spans/s (median of runs) | ${fmtInt(rate('off'))} | ${fmtInt(rate('on'))} | ${(rate('on') / rate('off')).toFixed(3)} | |`,
    `| Stave CPU per span during the load, all threads (median of runs) | ${fmtUs(cpu('off'))} | ${fmtUs(cpu('on'))} | ${(cpu('on') / cpu('off')).toFixed(3)} | |`,
    `| of which the main thread (event loop) | ${fmtUs(mainCpu('off'))} | ${fmtUs(mainCpu('on'))} | ${(mainCpu('on') / mainCpu('off')).toFixed(3)} | |`,
    `| generator: spans processed ÷ acked, at the end of the load / after its queues drained (median of runs) | | ${share('spansAtEnd')} / ${share('spansReceived')} | | |`,
    `| generator thread CPU per span processed (median of runs) | | ${fmtUs(median(gen.map((g) => g.threadCpuSeconds / Math.max(1, g.spansReceived))))} | | |`,
    '',
    '| run | mode | spans/s | p50 | p99 | CPU s (main thread) | acked / sent | generator: spans received at end of load / after drain, forward failures, thread CPU s, samples sent, remote writes |',
    '|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r, i) =>
        `| ${i + 1} | ${r.mode} | ${fmtInt(r.load.spansPerSec)} | ${fmtMs(r.load.latency.p50)} | ${fmtMs(r.load.latency.p99)} | ${r.cpuSeconds.toFixed(1)} (${r.mainCpuSeconds.toFixed(1)}) | ${fmtInt(r.load.ackedSpans)} / ${fmtInt(r.load.sentSpans)} | ${
          r.generator
            ? `${fmtInt(r.generator.spansAtEnd)} / ${fmtInt(r.generator.spansReceived)}, ${r.generator.forwardFailures}, ${r.generator.threadCpuSeconds.toFixed(2)}, ${fmtInt(r.generator.samplesSent)}, ${r.generator.sinkRequests}`
            : '—'
        } |`,
    ),
    '',
  ];
  return lines.join('\n');
}

const USAGE = `usage: make bench-metrics-generator ARGS="[flags]"
  --traces N               traces per run (default 40000; ~17.5 spans each)
  --pairs N                off/on pairs of runs (default 3)
  --concurrency N          parallel pushers (default ${DEFAULTS.concurrency})
  --batch-spans N          spans per request (default ${DEFAULTS.batchSpans})
  --seed N                 workload seed (default ${DEFAULTS.seed})
  --pool-spans N           most spans pre-generated at once (default ${DEFAULTS.poolSpans})
  --collection-interval D  the generator's collection_interval (default 5s)
  --profile-dir DIR        run Stave under node --cpu-prof, each run's profiles (one per thread) in DIR/<run>-<mode>/
  --out FILE               append the markdown result to FILE (bench/results/metrics-generator.md)
  --note TEXT              free text recorded with the result
  --no-progress            no progress output on stderr`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    known: ['traces', 'pairs', 'concurrency', 'batch-spans', 'seed', 'pool-spans', 'collection-interval', 'profile-dir', 'out', 'note', 'no-progress', 'help'],
    booleans: ['no-progress', 'help'],
  });
  if (args.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const o: Options = {
    traces: intArg(args, 'traces', 40_000, 1),
    pairs: intArg(args, 'pairs', 3, 1),
    concurrency: intArg(args, 'concurrency', DEFAULTS.concurrency, 1),
    batchSpans: intArg(args, 'batch-spans', DEFAULTS.batchSpans, 1),
    seed: intArg(args, 'seed', DEFAULTS.seed),
    poolSpans: intArg(args, 'pool-spans', DEFAULTS.poolSpans, 1),
    collectionInterval: args.get('collection-interval') ?? '5s',
    profileDir: args.get('profile-dir') && path.resolve(args.get('profile-dir')!),
    note: args.get('note'),
    progress: !boolArg(args, 'no-progress'),
    log: (l) => process.stderr.write(l + '\n'),
  };
  if (!/^\d+(ms|s|m)$/.test(o.collectionInterval)) throw new ArgError(`--collection-interval ${o.collectionInterval}: a duration such as 5s`);
  const runs = await runAll(o);
  const md = markdown(o, runs);
  process.stdout.write('\n' + md);
  const out = args.get('out');
  if (out) {
    mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    appendFileSync(out, '\n' + md);
    process.stderr.write(`appended to ${out}\n`);
  }
  return runs.some((r) => r.load.ackedSpans !== r.load.sentSpans) ? 1 : 0;
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
