// Compaction throughput and memory (issue 12, acceptance 5): a real `bin/stave -target=compactor` process
// compacts 20 blocks holding ~1.75M spans on a local backend; reported are spans/s per core (CPU seconds of
// the process from /proc/<pid>/stat, its worker threads included) and per wall second, and the peak RSS
// (VmRSS sampled every 200 ms, with the kernel's VmHWM as a floor).
//
// The input is written untimed with libs/block's writer, as 4 ingesters with replication factor 3 would cut
// it: the traces come from realisticTraceStream (arriving over an hour), each trace goes to 3 of the 4
// ingesters, each ingester cuts 5 blocks over that hour at its own moments, and a trace whose spans are
// still arriving at a cut is split between two consecutive blocks of that ingester. So every trace is in
// 3 blocks or more, and the compactor combines partial traces and drops duplicate spans.
//
// The compactor is started with Tempo-style config (compaction_window 1h, defaults otherwise; the ring's
// stability wait is 0s so it starts at once); the run is done when the block listing shows no job left
// by Tempo's selection (selectCompactionJobs over the live blocks, with the same options).
//
//   make bench-compaction ARGS="--out bench/results/compaction.md"
//   node_modules/.bin/tsc -b bench/compaction && node bench/compaction/dist/run.js --help
//
// Imports built code by path (bench/compaction is not a workspace package), as bench/blocks does.

import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgError, boolArg, intArg, parseArgs } from '../../../bench/dist/args.js';
import { describeMachine, machineInfo, processCpuSeconds } from '../../../bench/dist/machine.js';
import { fmtBytes, fmtInt, sleep } from '../../../bench/dist/stats.js';
import { profiledBin, RssSampler, startStave, statusField } from '../../../bench/dist/stave-process.js';
import { LocalStore } from '../../../libs/backend/dist/index.js';
import { listBlocks, writeBlock, type BlockMeta, type BlockTrace } from '../../../libs/block/dist/index.js';
import { countSpans, realisticTraceStream, Rng } from '../../../libs/block/dist/testing/realistic-traces.js';
import { selectCompactionJobs } from '../../../libs/compactor/dist/index.js';
import type { TracesData } from '../../../libs/proto/dist/index.js';

const TENANT = 'single-tenant';
const INGESTERS = 4;
const RF = 3;
const CUTS = 5; // blocks per ingester: 4 × 5 = 20
const WINDOW_MS = 3_600_000;
const MAX_COMPACTION_OBJECTS = 6_000_000; // Tempo's default
const MAX_BLOCK_BYTES = 100 * 2 ** 30; // Tempo's default
/** A trace's spans reach an ingester over this fraction of its 12-min cut interval (~72 s): a cut inside it splits the trace. */
const ARRIVAL_SLOTS = 0.1;
const TARGET_RSS = 512 * 2 ** 20;

const USAGE = `node bench/compaction/dist/run.js [flags]
  --traces N        unique traces (default 33300: × 17.5 spans × RF 3 ≈ 1.75M spans in the 20 blocks)
  --seed N          workload seed (default 1)
  --timeout-s N     give up after N seconds of compaction (default 900)
  --profile-dir D   run the compactor under node --cpu-prof, profiles in D
  --ingest-rate N   the baseline in spans/s (default 137968: bench/results/ingest.md, 2026-11-25T17:26)
  --out FILE        append the markdown result to FILE
  --note TEXT       free text stored with the result
  --keep-data       leave the temp dir
  --input-dir D     reuse the level-0 blocks of an earlier run's blocks dir (kept with --keep-data, or a
                    copy taken while it ran) instead of generating them; its input.json, when there, holds
                    the generation figures`;

/** Splits a trace's spans in two: the first `frac` of them (in the trace's order) and the rest. */
function split(trace: TracesData, frac: number): [TracesData, TracesData] {
  const total = countSpans(trace);
  const cut = Math.max(1, Math.min(total - 1, Math.round(total * frac)));
  let i = 0;
  const a: TracesData['resourceSpans'] = [];
  const b: TracesData['resourceSpans'] = [];
  for (const rs of trace.resourceSpans) {
    const sa: typeof rs.scopeSpans = [];
    const sb: typeof rs.scopeSpans = [];
    for (const ss of rs.scopeSpans) {
      const first = ss.spans.filter(() => i++ < cut);
      const rest = ss.spans.slice(first.length);
      if (first.length) sa.push({ ...ss, spans: first });
      if (rest.length) sb.push({ ...ss, spans: rest });
    }
    if (sa.length) a.push({ ...rs, scopeSpans: sa });
    if (sb.length) b.push({ ...rs, scopeSpans: sb });
  }
  return [
    { ...trace, resourceSpans: a },
    { ...trace, resourceSpans: b },
  ];
}

function minStartNs(trace: TracesData): bigint {
  let min: bigint | undefined;
  for (const rs of trace.resourceSpans)
    for (const ss of rs.scopeSpans) for (const sp of ss.spans) if (min === undefined || sp.startTimeUnixNano < min) min = sp.startTimeUnixNano;
  return min ?? 0n;
}

interface Input {
  blocks: BlockMeta[];
  uniqueTraces: number;
  uniqueSpans: number;
  splitParts: number;
  genMs: number;
  writeMs: number;
}

/** Writes the 20 ingester blocks; see the header. Blocks hold references to the same trace objects. */
async function writeInput(store: LocalStore, traces: number, seed: number): Promise<Input> {
  const t0 = performance.now();
  // The hour of data ends 5 min before an hour boundary, 1 h ago: every block ends in one compaction window.
  const hour = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
  const startMs = hour - 2 * WINDOW_MS - 5 * 60_000;
  const startNs = BigInt(startMs) * 1_000_000n;
  const rng = new Rng(seed + 7);
  // Each ingester cuts at slightly different moments.
  const offsets = Array.from({ length: INGESTERS }, () => rng.next() * 0.2 - 0.1);
  const blocks: BlockTrace[][] = Array.from({ length: INGESTERS * CUTS }, () => []);
  let uniqueSpans = 0;
  let uniqueTraces = 0;
  let splitParts = 0;
  for (const { id, trace } of realisticTraceStream(traces, { seed, startMs })) {
    uniqueTraces++;
    uniqueSpans += countSpans(trace);
    const slot = (Number(minStartNs(trace) - startNs) / 3600e9) * CUTS; // 0..5
    const skip = rng.int(0, INGESTERS - 1); // RF 3 of 4: the one ingester that does not get it
    for (let ing = 0; ing < INGESTERS; ing++) {
      if (ing === skip) continue;
      const cuts = Array.from({ length: CUTS - 1 }, (_, k) => k + 1 + offsets[ing]!);
      const block = Math.min(CUTS - 1, cuts.filter((c) => c <= slot).length);
      const boundary = cuts[block];
      const base = ing * CUTS;
      if (boundary !== undefined && boundary > slot && boundary < slot + ARRIVAL_SLOTS && countSpans(trace) > 1) {
        const [a, b] = split(trace, (boundary - slot) / ARRIVAL_SLOTS);
        blocks[base + block]!.push({ id, trace: a });
        blocks[base + block + 1]!.push({ id, trace: b });
        splitParts++;
      } else {
        blocks[base + block]!.push({ id, trace });
      }
    }
  }
  const genMs = performance.now() - t0;
  const t1 = performance.now();
  const metas: BlockMeta[] = [];
  for (const b of blocks) metas.push(await writeBlock(store, { tenant: TENANT, traces: b }));
  return { blocks: metas, uniqueTraces, uniqueSpans, splitParts, genMs, writeMs: performance.now() - t1 };
}

/** The level-0 blocks of an earlier run (compaction markers and outputs left out), with its input.json. */
function copyInput(from: string, blocksDir: string): Input {
  const blocks: BlockMeta[] = [];
  for (const id of readdirSync(path.join(from, TENANT))) {
    const dir = path.join(from, TENANT, id);
    if (!existsSync(path.join(dir, 'meta.json'))) continue;
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as BlockMeta;
    if (meta.compactionLevel !== 0) continue;
    mkdirSync(path.join(blocksDir, TENANT, id), { recursive: true });
    for (const f of readdirSync(dir)) if (f !== 'meta.compacted.json') copyFileSync(path.join(dir, f), path.join(blocksDir, TENANT, id, f));
    blocks.push(meta);
  }
  const figures = path.join(from, 'input.json');
  const known = existsSync(figures) ? (JSON.parse(readFileSync(figures, 'utf8')) as Omit<Input, 'blocks'>) : undefined;
  return { uniqueTraces: NaN, uniqueSpans: NaN, splitParts: NaN, genMs: NaN, writeMs: NaN, ...known, blocks };
}

function configYaml(): string {
  return [
    '# Generated by bench/compaction/src/run.ts.',
    'compactor:',
    '  ring:',
    '    wait_stability_min_duration: 0s',
    '  compaction:',
    '    compaction_window: 1h',
    '    compaction_cycle: 1s',
    `    max_compaction_objects: ${MAX_COMPACTION_OBJECTS}`,
    `    max_block_bytes: ${MAX_BLOCK_BYTES}`,
    '    compacted_block_retention: 1h',
    'storage:',
    '  trace:',
    '    backend: local',
    '',
  ].join('\n');
}

function metricSum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'gm'))) n += Number(m[1]);
  return n;
}

const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

interface LogRec {
  ts?: string;
  time?: string;
  msg?: string;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    known: ['traces', 'seed', 'timeout-s', 'profile-dir', 'ingest-rate', 'out', 'note', 'keep-data', 'input-dir', 'help'],
    booleans: ['keep-data', 'help'],
  });
  if (boolArg(args, 'help')) {
    console.log(USAGE);
    return;
  }
  const traces = intArg(args, 'traces', 33_300, 1);
  const seed = intArg(args, 'seed', 1);
  const timeoutMs = intArg(args, 'timeout-s', 900, 1) * 1000;
  const ingestRate = intArg(args, 'ingest-rate', 137_968, 1);
  const profileDir = args.get('profile-dir');
  const machine = machineInfo(path.resolve(__dirname, '../../..'));
  const load = os.loadavg();

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-compaction-'));
  const blocksDir = path.join(dataDir, 'blocks');
  mkdirSync(blocksDir, { recursive: true });
  const store = new LocalStore(blocksDir);
  try {
    const inputDir = args.get('input-dir');
    let input: Input;
    if (inputDir) {
      process.stderr.write(`copying the level-0 blocks of ${inputDir}...\n`);
      input = copyInput(path.resolve(inputDir), blocksDir);
    } else {
      process.stderr.write(`writing ${INGESTERS * CUTS} blocks from ${fmtInt(traces)} traces...\n`);
      input = await writeInput(store, traces, seed);
      const { blocks: _, ...figures } = input;
      writeFileSync(path.join(blocksDir, 'input.json'), JSON.stringify(figures));
    }
    const spansIn = input.blocks.reduce((n, m) => n + m.totalSpans, 0);
    const bytesIn = input.blocks.reduce((n, m) => n + m.size, 0);
    process.stderr.write(
      `  ${input.blocks.length} blocks, ${fmtInt(spansIn)} spans (${fmtInt(input.uniqueSpans)} unique), generated in ${(input.genMs / 1000).toFixed(1)} s, written in ${(input.writeMs / 1000).toFixed(1)} s\n`,
    );

    const configFile = path.join(dataDir, 'stave.yaml');
    writeFileSync(configFile, configYaml());
    const bin = profiledBin(profileDir);
    const loadAtCompaction = os.loadavg();
    const t0 = performance.now();
    const stave = await startStave({ dataDir, configFile, extraArgs: ['-target=compactor'], otlp: false, ...(bin ? { bin } : {}) });
    const readyMs = performance.now() - t0;
    const cpuAtReady = processCpuSeconds(stave.pid);
    const rss = new RssSampler(stave.pid, 200);
    let after: BlockMeta[] | undefined;
    let cpuDone = 0;
    let doneMs = 0;
    let loadAtDone = loadAtCompaction;
    try {
      for (;;) {
        const metas = await listBlocks(store, TENANT);
        const jobs = selectCompactionJobs(metas, {
          windowMs: WINDOW_MS,
          maxCompactionObjects: MAX_COMPACTION_OBJECTS,
          maxBlockBytes: MAX_BLOCK_BYTES,
          now: Date.now(),
        });
        if (jobs.length === 0) {
          cpuDone = processCpuSeconds(stave.pid);
          doneMs = performance.now() - t0;
          after = metas;
          loadAtDone = os.loadavg();
          break;
        }
        if (performance.now() - t0 > timeoutMs)
          throw new Error(`compaction not done after ${timeoutMs / 1000} s; ${metas.length} live blocks\n${stave.logTail()}`);
        await sleep(200);
      }
    } catch (err) {
      rss.stop();
      await stave.stop(5000);
      throw err;
    }
    const mem = rss.stop();
    const hwm = statusField(stave.pid, 'VmHWM');
    const metricsText = await (await fetch(`http://127.0.0.1:${stave.httpPort}/metrics`)).text();
    const stopped = await stave.stop(30_000);

    // First "compacting blocks" to last "compacted blocks", from the process's own log.
    const recs = readFileSync(stave.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogRec);
    const tsOf = (r: LogRec | undefined) => (r ? Date.parse(r.ts ?? r.time ?? '') : NaN);
    const firstJob = tsOf(recs.find((r) => r.msg === 'compacting blocks'));
    const lastJob = tsOf(recs.filter((r) => r.msg === 'compacted blocks').pop());
    const jobsWallS = (lastJob - firstJob) / 1000;

    const spansOut = after.reduce((n, m) => n + m.totalSpans, 0);
    const spansRead = metricSum(metricsText, 'stave_compactor_spans_read_total');
    const dupDropped = metricSum(metricsText, 'tempodb_compaction_spans_combined_total');
    const jobsOk = metricSum(metricsText, 'stave_compactor_jobs_total');
    const blocksCompacted = metricSum(metricsText, 'tempodb_compaction_blocks_total');
    const wallS = doneMs / 1000;
    const cpuS = cpuDone;
    const cpuCompactS = cpuDone - cpuAtReady;
    const perCore = spansIn / cpuS;
    const perWall = spansIn / wallS;
    const peak = Math.max(mem.peakBytes, hwm);
    const ok = (b: boolean) => (b ? '✓' : '✗');

    const lines = [
      `### Compaction — ${machine.date}`,
      '',
      `- machine: ${describeMachine(machine)}`,
      `- load (1/5/15-min loadavg): ${fmtLoad(load)} when generating the input, ${fmtLoad(loadAtCompaction)} when the compactor started, ${fmtLoad(loadAtDone)} when it was done${args.get('note') ? `; note: ${args.get('note')}` : ''}`,
      `- input: ${inputDir ? `blocks reused from ${inputDir} (the seed below is this run's flag, not necessarily theirs); ` : ''}seed ${seed}, ${fmtInt(input.uniqueTraces)} traces / ${fmtInt(input.uniqueSpans)} unique spans (realisticTraceStream), as ${INGESTERS} ingesters with RF ${RF} cut them: ${input.blocks.length} level-0 blocks, ${fmtInt(spansIn)} spans, ${fmtBytes(bytesIn)} of data.parquet; ${fmtInt(input.splitParts)} trace copies split across two blocks of one ingester; generated in ${(input.genMs / 1000).toFixed(1)} s and written in ${(input.writeMs / 1000).toFixed(1)} s (untimed)`,
      `- compactor: \`bin/stave -target=compactor\`${profileDir ? ' under --cpu-prof' : ''}, local backend, compaction_window 1h, compaction_cycle 1s, max_compaction_objects ${MAX_COMPACTION_OBJECTS}, max_block_bytes 100 GiB, other options default; done when Tempo's selection finds no job in the block listing`,
      `- command: \`make bench-compaction ARGS="${process.argv.slice(2).join(' ')}"\``,
      '',
      '| metric | value | target |',
      '|---|---|---|',
      `| input blocks → live blocks after | ${input.blocks.length} → ${after.length} (levels ${after.map((m) => m.compactionLevel).join(', ')}) | |`,
      `| jobs / input blocks compacted (metrics) | ${fmtInt(jobsOk)} / ${fmtInt(blocksCompacted)} | |`,
      `| spans in the input blocks → in the live blocks after | ${fmtInt(spansIn)} → ${fmtInt(spansOut)} (unique spans: ${fmtInt(input.uniqueSpans)}) | |`,
      `| duplicate spans dropped (tempodb_compaction_spans_combined_total) | ${fmtInt(dupDropped)} | |`,
      `| spans read by jobs (stave_compactor_spans_read_total; later levels re-read) | ${fmtInt(spansRead)} | |`,
      `| wall: start → done / first job → last job (log) / start → /ready | ${wallS.toFixed(1)} s / ${jobsWallS.toFixed(1)} s / ${(readyMs / 1000).toFixed(1)} s | |`,
      `| CPU (utime+stime, all threads): start → done / after /ready | ${cpuS.toFixed(1)} s / ${cpuCompactS.toFixed(1)} s | |`,
      `| **input spans per CPU second (per core)** | **${fmtInt(perCore)}** (${fmtInt(spansIn / cpuCompactS)} after /ready) ${ok(perCore >= ingestRate)} | ≥ ${fmtInt(ingestRate)} (ingest) |`,
      `| input spans per wall second | ${fmtInt(perWall)} (${fmtInt(spansIn / jobsWallS)} first → last job) | |`,
      `| spans read per CPU second | ${fmtInt(spansRead / cpuS)} | |`,
      `| **peak RSS** (VmRSS every 200 ms / VmHWM) | **${fmtBytes(peak)}** (${fmtBytes(mem.peakBytes)} / ${fmtBytes(hwm)}) ${ok(peak < TARGET_RSS)} | < 512 MiB |`,
      `| SIGTERM → exit | ${stopped.stopMs.toFixed(0)} ms, code ${stopped.code} | |`,
      '',
    ];
    const md = lines.join('\n');
    console.log(md);
    const out = args.get('out');
    if (out) appendFileSync(out, '\n' + md);
  } finally {
    if (boolArg(args, 'keep-data')) process.stderr.write(`data kept in ${dataDir}\n`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  if (err instanceof ArgError) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
