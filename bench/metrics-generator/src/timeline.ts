// What makes push p99 at a fixed rate: one open-loop run of the metrics-generator bench's load on a fresh
// `bin/stave -target=all` (generator off or on), with probe.js preloaded into Stave (event-loop delay,
// GC pauses and file syncs of every thread, the script of every worker) and, from this process, every
// thread's CPU every 100 ms (/proc/<pid>/task) and every push's send time and latency. It prints where the
// slow pushes (the slowest 1%) were: what each thread did while they waited, how often an event-loop stall,
// a GC pause or a slow WAL sync overlapped them; and a per-second table. A diagnostic, not a result.
//
//   node_modules/.bin/tsc -b bench/metrics-generator && node bench/metrics-generator/dist/timeline.js --rate 80000 --mode on
//
// Imports built code by path (bench/metrics-generator is not a workspace package), as bench/compaction does.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ArgError, intArg, parseArgs } from '../../../bench/dist/args.js';
import { httpRequest, keepAliveAgent } from '../../../bench/dist/http-client.js';
import { DEFAULTS } from '../../../bench/dist/loadgen.js';
import { threadsCpuSeconds } from '../../../bench/dist/machine.js';
import { fmtInt, fmtMs, sleep, summarize } from '../../../bench/dist/stats.js';
import { startStave } from '../../../bench/dist/stave-process.js';
import { bodyForRound, generatePool } from '../../../bench/dist/workload.js';
import { configYaml, startSink } from './run.js';

const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'mark-sweep-compact', 4: 'incremental marking', 8: 'weak callbacks' };
const SAMPLE_MS = 100;

interface Push {
  t: number;
  ms: number;
  ok: boolean;
  status: number;
  /** Sent during the warm-up (not in the analysis). */
  warm: boolean;
}
interface ProbeRec {
  k: string;
  th: number;
  t: number;
  d?: number;
  tid?: number;
  main?: boolean;
  script?: string;
  op?: string;
  path?: string;
  max?: number;
  p99?: number;
  elu?: number;
  kind?: number;
}

/** A short class name for a worker's script. */
const scriptClass = (script: string): string => path.basename(script).replace(/(-worker)?\.js$/, '');

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    known: ['no-remote-write', 'warmup-s', 'rate', 'duration-s', 'mode', 'out', 'collection-interval', 'seed', 'bin'],
    booleans: ['no-remote-write'],
  });
  const rate = intArg(args, 'rate', 80_000, 1);
  const durationS = intArg(args, 'duration-s', 30, 5);
  const warmupS = intArg(args, 'warmup-s', 0, 0);
  const mode = args.get('mode') ?? 'on';
  if (mode !== 'on' && mode !== 'off') throw new ArgError('--mode on|off');
  const seed = intArg(args, 'seed', DEFAULTS.seed);
  const pool = generatePool({ seed, traces: Math.ceil(DEFAULTS.poolSpans / 17.5), batchSpans: DEFAULTS.batchSpans, nowMs: Date.now() });
  const sink = await startSink();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-mgen-timeline-'));
  const probeOut = path.join(dataDir, 'probe.jsonl');
  const configFile = path.join(dataDir, 'stave.yaml');
  writeFileSync(configFile, configYaml(mode === 'on', args.has('no-remote-write') ? '' : sink.url, args.get('collection-interval') ?? '5s'));
  const stave = await startStave({
    dataDir,
    configFile,
    // Another build's bin/stave (an A/B of two commits).
    bin: args.get('bin'),
    env: { NODE_OPTIONS: `--require ${path.join(__dirname, 'probe.js')}`, STAVE_PROBE_OUT: probeOut },
    extraArgs: [`-metrics-generator.storage.path=${path.join(dataDir, 'generator')}`],
  });
  const pushes: Push[] = [];
  const samples: Array<{ t: number; seconds: Map<number, number> }> = [];
  const selfDelay: Array<{ t: number; max: number }> = [];
  const loadBefore = os.loadavg()[0]!;
  const nices = new Map<number, number>();
  try {
    const agent = keepAliveAgent(64);
    const self = monitorEventLoopDelay({ resolution: 1 });
    self.enable();
    const sampler = setInterval(() => {
      samples.push({ t: Date.now(), seconds: new Map([...threadsCpuSeconds(stave.pid)].map(([tid, t]) => [tid, t.seconds])) });
      selfDelay.push({ t: Date.now(), max: self.max / 1e6 });
      self.reset();
    }, SAMPLE_MS);
    const headers = { 'content-type': 'application/x-protobuf' };
    const request = { host: '127.0.0.1', port: stave.otlpHttpPort, method: 'POST' as const, path: '/v1/traces', headers, timeoutMs: 30_000 };
    const t0 = performance.now();
    const wall0 = Date.now() - t0;
    let due = 0;
    let k = 0;
    let inFlight = 0;
    const inflight = new Set<Promise<void>>();
    while (performance.now() - t0 < (warmupS + durationS) * 1000) {
      const wait = t0 + due - performance.now();
      if (wait > 1 || inFlight >= 64) {
        await sleep(Math.max(1, Math.min(wait, 5)));
        continue;
      }
      const body = pool.bodies[k % pool.bodies.length]!;
      const buf = bodyForRound(body, Math.floor(k / pool.bodies.length));
      k++;
      body.inFlight++;
      inFlight++;
      due += (body.spans / rate) * 1000;
      const s0 = performance.now();
      const p = httpRequest(agent, { ...request, body: buf }).then((res) => {
        pushes.push({
          t: wall0 + s0,
          ms: performance.now() - s0,
          ok: res.status >= 200 && res.status < 300,
          status: res.status,
          warm: s0 - t0 < warmupS * 1000,
        });
        body.inFlight--;
        inFlight--;
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await Promise.all(inflight);
    clearInterval(sampler);
    for (const t of readdirSync(`/proc/${stave.pid}/task`)) {
      try {
        nices.set(Number(t), os.getPriority(Number(t)));
      } catch {
        // ended
      }
    }
    agent.destroy();
    await sleep(500);
  } finally {
    await stave.stop();
    await sink.close();
  }
  const probe: ProbeRec[] = readFileSync(probeOut, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeRec);
  if (args.get('out')) writeFileSync(args.get('out')!, JSON.stringify({ pushes, probe, samples: samples.map((s) => ({ t: s.t, seconds: [...s.seconds] })) }));
  rmSync(dataDir, { recursive: true, force: true });
  report({ pushes, probe, samples, selfDelay, nices, rate, mode, loadBefore, loadAfter: os.loadavg()[0]! });
}

function report(r: {
  pushes: Push[];
  probe: ProbeRec[];
  samples: Array<{ t: number; seconds: Map<number, number> }>;
  selfDelay: Array<{ t: number; max: number }>;
  nices: Map<number, number>;
  rate: number;
  mode: string;
  loadBefore: number;
  loadAfter: number;
}): void {
  // Thread classes: the event loop, each worker by its script, the rest (libuv pool, V8 helpers) "other".
  const scriptOf = new Map<number, string>();
  for (const p of r.probe) if (p.k === 'worker') scriptOf.set(p.th, scriptClass(p.script!));
  const classOf = new Map<number, string>();
  for (const p of r.probe) if (p.k === 'thread') classOf.set(p.tid!, p.main ? 'main' : (scriptOf.get(p.th) ?? `worker${p.th}`));
  const threadClass = (tid: number): string => classOf.get(tid) ?? 'other';
  const classes = [...new Set(['main', ...classOf.values(), 'other'])];
  const mainTh = 0;

  // CPU of each class per sample interval.
  const cpu: Array<{ t0: number; t1: number; byClass: Map<string, number> }> = [];
  for (let i = 1; i < r.samples.length; i++) {
    const a = r.samples[i - 1]!;
    const b = r.samples[i]!;
    const byClass = new Map<string, number>();
    for (const [tid, seconds] of b.seconds) {
      const d = seconds - (a.seconds.get(tid) ?? seconds);
      if (d > 0) byClass.set(threadClass(tid), (byClass.get(threadClass(tid)) ?? 0) + d);
    }
    cpu.push({ t0: a.t, t1: b.t, byClass });
  }
  const gcs = r.probe.filter((p) => p.k === 'gc');
  const ios = r.probe.filter((p) => p.k === 'io');
  const elds = r.probe.filter((p) => p.k === 'eld');
  const walSyncs = ios.filter((p) => p.op === 'datasync' && p.path!.includes('/wal/'));
  const warm = summarize(r.pushes.filter((p) => p.ok && p.warm).map((p) => p.ms));
  const ok = r.pushes.filter((p) => p.ok && !p.warm);
  const lat = summarize(ok.map((p) => p.ms));
  const slow = ok.filter((p) => p.ms >= lat.p99);
  const overlaps = (t: number, d: number, p: Push): boolean => t < p.t + p.ms && t + d > p.t;
  const frac = (f: (p: Push) => boolean): string => `${((100 * slow.filter(f).length) / Math.max(1, slow.length)).toFixed(0)}%`;
  const log = (l: string): void => void process.stdout.write(l + '\n');
  log(
    `mode ${r.mode}, ${fmtInt(r.rate)} spans/s, load ${r.loadBefore.toFixed(1)}→${r.loadAfter.toFixed(1)}: ${ok.length} pushes ok of ${r.pushes.length}, p50 ${fmtMs(lat.p50)} p99 ${fmtMs(lat.p99)} max ${fmtMs(lat.max)}`,
  );
  if (warm.count) log(`warm-up (not below): ${warm.count} pushes, p50 ${fmtMs(warm.p50)} p99 ${fmtMs(warm.p99)} max ${fmtMs(warm.max)}`);
  const failed = new Map<number, number>();
  for (const p of r.pushes) if (!p.ok) failed.set(p.status, (failed.get(p.status) ?? 0) + 1);
  if (failed.size) log(`failed pushes by status: ${[...failed].map(([s, n]) => `${s} ×${n}`).join(', ')}`);
  log(`slow pushes (≥ p99): ${slow.length}; of them overlapping:`);
  log(`  a main-thread GC pause ≥ 5 ms: ${frac((p) => gcs.some((g) => g.th === mainTh && g.d! >= 5 && overlaps(g.t, g.d!, p)))}`);
  log(`  a 100 ms window with event-loop delay ≥ 20 ms: ${frac((p) => elds.some((e) => e.max! >= 20 && overlaps(e.t - 100, 100, p)))}`);
  log(`  a WAL datasync ≥ 20 ms: ${frac((p) => walSyncs.some((s) => s.d! >= 20 && overlaps(s.t, s.d!, p)))}`);
  log(`  a harness event-loop delay ≥ 20 ms: ${frac((p) => r.selfDelay.some((e) => e.max >= 20 && overlaps(e.t - SAMPLE_MS, SAMPLE_MS, p)))}`);
  // CPU by class while slow pushes waited vs. on average.
  const avgShare = (sel: (c: (typeof cpu)[number]) => boolean): Map<string, number> => {
    const m = new Map<string, number>();
    let secs = 0;
    for (const c of cpu) {
      if (!sel(c)) continue;
      secs += (c.t1 - c.t0) / 1000;
      for (const [k, v] of c.byClass) m.set(k, (m.get(k) ?? 0) + v);
    }
    for (const [k, v] of m) m.set(k, v / Math.max(1e-9, secs));
    return m;
  };
  const all = avgShare(() => true);
  const during = avgShare((c) => slow.some((p) => c.t0 < p.t + p.ms && c.t1 > p.t));
  log(`cores used by thread class (average over the run / in 100 ms samples overlapping slow pushes):`);
  for (const c of classes) log(`  ${c.padEnd(14)} ${(all.get(c) ?? 0).toFixed(2)} / ${(during.get(c) ?? 0).toFixed(2)}`);
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const niceOf = new Map<string, number[]>();
  for (const [tid, n] of r.nices) niceOf.set(threadClass(tid), [...(niceOf.get(threadClass(tid)) ?? []), n]);
  log(`  nice values at the end: ${[...niceOf].map(([c, ns]) => `${c} ${ns.join(',')}`).join('; ')}`);
  log(`  ${'total'.padEnd(14)} ${sum(all).toFixed(2)} / ${sum(during).toFixed(2)}`);
  const syncSum = (xs: ProbeRec[]): string => {
    const s = summarize(xs.map((x) => x.d!));
    return `${s.count} syncs, p50 ${fmtMs(s.p50)} p99 ${fmtMs(s.p99)} max ${fmtMs(s.max)}`;
  };
  log(`WAL datasync: ${syncSum(walSyncs)}`);
  const bySyncPath = new Map<string, ProbeRec[]>();
  for (const s of ios.filter((p) => p.op === 'datasync' || p.op === 'sync')) {
    const key = `${s.op} ${s
      .path!.replace(/\/tmp\/stave-mgen-timeline-[^/]+\//, '')
      .replace(/[0-9a-f-]{36}/g, '<id>')
      .replace(/\d+/g, 'N')}`;
    bySyncPath.set(key, [...(bySyncPath.get(key) ?? []), s]);
  }
  for (const [k, v] of bySyncPath) log(`  ${k}: ${syncSum(v)}`);
  const slowIo = ios.filter((p) => p.op !== 'datasync' && p.op !== 'sync');
  log(`other file operations over 2 ms: ${slowIo.length}${slowIo.length ? `, max ${fmtMs(Math.max(...slowIo.map((x) => x.d!)))}` : ''}`);
  const gcMain = summarize(gcs.filter((g) => g.th === mainTh).map((g) => g.d!));
  log(`main-thread GC: ${gcMain.count} pauses, p99 ${fmtMs(gcMain.p99)} max ${fmtMs(gcMain.max)}, total ${fmtMs(gcMain.mean * gcMain.count)}`);
  const byKind = (th: number): string =>
    [...new Set(gcs.filter((g) => g.th === th).map((g) => g.kind))]
      .map((kind) => {
        const s = summarize(gcs.filter((g) => g.th === th && g.kind === kind).map((g) => g.d!));
        return `${GC_KINDS[kind ?? 0] ?? kind} ${s.count}× p50 ${fmtMs(s.p50)} max ${fmtMs(s.max)} total ${fmtMs(s.mean * s.count)}`;
      })
      .join('; ');
  log(`  ${byKind(mainTh)}`);
  for (const th of new Set(gcs.filter((g) => g.th !== mainTh).map((g) => g.th))) {
    const s = summarize(gcs.filter((g) => g.th === th).map((g) => g.d!));
    log(`  worker ${scriptOf.get(th) ?? th} GC: ${s.count} pauses, max ${fmtMs(s.max)}, total ${fmtMs(s.mean * s.count)} (${byKind(th)})`);
  }
  // Per second.
  const start = Math.min(...ok.map((p) => p.t));
  const secs = Math.ceil((Math.max(...ok.map((p) => p.t)) - start) / 1000);
  const shown = classes.filter((c) => (all.get(c) ?? 0) >= 0.02);
  log(`\n| s | pushes | p99 | max | ELD max | main GC ms | WAL sync max | ${shown.join(' | ')} |`);
  log(
    `|${Array(6 + shown.length + 1)
      .fill('---')
      .join('|')}|`,
  );
  for (let s = 0; s < secs; s++) {
    const a = start + s * 1000;
    const b = a + 1000;
    const ps = ok.filter((p) => p.t >= a && p.t < b);
    const l = summarize(ps.map((p) => p.ms));
    const eld = Math.max(0, ...elds.filter((e) => e.t > a && e.t <= b).map((e) => e.max!));
    const gcMs = gcs.filter((g) => g.th === mainTh && g.t >= a && g.t < b).reduce((x, g) => x + g.d!, 0);
    const sync = Math.max(0, ...walSyncs.filter((w) => w.t >= a && w.t < b).map((w) => w.d!));
    const share = avgShare((c) => c.t0 >= a && c.t1 <= b + 50);
    log(
      `| ${s} | ${ps.length} | ${fmtMs(l.p99)} | ${fmtMs(l.max)} | ${eld.toFixed(0)} | ${gcMs.toFixed(0)} | ${sync.toFixed(0)} | ${shown.map((c) => (share.get(c) ?? 0).toFixed(2)).join(' | ')} |`,
    );
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
