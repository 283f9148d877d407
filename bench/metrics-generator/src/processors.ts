// The metrics-generator's own cost per span, without a Stave process around it: the ingest bench's
// workload, split per trace as the distributor splits it, written into the span ring and read back
// (span-ring.ts, as in `-target=all`), then processed by a Generator with both processors on, with a
// collection and its remote-write encoding every `--collect-every` spans. CPU time of this whole process
// (utime + stime: the garbage collector's helper threads included) per span processed, measured over
// rounds of the pool after a warm-up round; each round has fresh trace IDs, as the ingest bench's rounds.
// An A/B tool for the processors' code (compare runs back to back), not an acceptance number.
//
//   node_modules/.bin/tsc -b bench/metrics-generator && nice -n 19 node --expose-gc bench/metrics-generator/dist/processors.js --traces 20000 --rounds 3
//
// Imports built code by path (bench/metrics-generator is not a workspace package), as bench/compaction does.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import { ArgError, intArg, parseArgs } from '../../../bench/dist/args.js';
import { DEFAULTS } from '../../../bench/dist/loadgen.js';
import { fmtInt } from '../../../bench/dist/stats.js';
import { bodyForRound, generatePool } from '../../../bench/dist/workload.js';
import { nopLogger } from '../../../libs/core/dist/index.js';
import { Generator, SERVICE_GRAPHS } from '../../../libs/generator/dist/index.js';
import { createSpanRing, SpanRingReader, SpanRingWriter } from '../../../libs/generator/dist/span-ring.js';
import { testGeneratorConfig } from '../../../libs/generator/dist/testing.js';
import { splitByTrace } from '../../../libs/model/dist/index.js';
import { encodeChunks, type Series } from '../../../libs/remote-write/dist/index.js';
import { Registry as PromRegistry } from '../../../libs/generator/node_modules/prom-client';

const TENANT = 'single-tenant';
const EXPIRE_EVERY_MS = 2000;
const OVERRIDES = { processors: ['span-metrics', 'service-graphs'], maxActiveSeries: 0, collectionIntervalMs: 0, disableCollection: false };

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { known: ['traces', 'rounds', 'seed', 'collect-every', 'alloc-profile', 'help'], booleans: ['help'] });
  if (args.has('help')) {
    process.stdout.write(
      'usage: node bench/metrics-generator/dist/processors.js [--traces 20000] [--rounds 3] [--seed 1] [--collect-every 400000] [--alloc-profile FILE.heapprofile]\n',
    );
    return;
  }
  const traces = intArg(args, 'traces', 20_000, 1);
  const rounds = intArg(args, 'rounds', 3, 1);
  const collectEvery = intArg(args, 'collect-every', 400_000, 1);
  const allocOut = args.get('alloc-profile');
  const pool = generatePool({ seed: intArg(args, 'seed', DEFAULTS.seed), traces, batchSpans: DEFAULTS.batchSpans, nowMs: Date.now() });
  let samples = 0;
  const generator = new Generator({
    config: testGeneratorConfig({ ingestionSlackMs: 2 * 3600_000 }),
    overrides: () => OVERRIDES,
    appender: { append: (_t: string, series: readonly Series[]) => void (samples += encodeChunks(series, 2000, false).length) },
    registry: new PromRegistry(),
    logger: nopLogger,
    instanceLabel: 'bench',
    // As in a Stave whose remote-write endpoints send no exemplars (the ingest bench's sink).
    exemplars: false,
    timers: false,
  });
  await generator.start();
  const ringBuffers = createSpanRing(16 * 1024 * 1024);
  const writer = new SpanRingWriter(ringBuffers);
  const reader = new SpanRingReader(ringBuffers);
  const overridesJson = JSON.stringify(OVERRIDES);

  let gcCount = 0;
  let gcMs = 0;
  /** Collections by kind (perf_hooks' NODE_PERFORMANCE_GC_*: 1 minor, 2 major, 4 incremental, 8 weak callbacks). */
  const gcKinds = new Map<number, number>();
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcCount++;
      gcMs += e.duration;
      const kind = (e.detail as { kind?: number } | undefined)?.kind ?? 0;
      gcKinds.set(kind, (gcKinds.get(kind) ?? 0) + 1);
    }
  });
  obs.observe({ entryTypes: ['gc'] });

  let sinceCollect = 0;
  let lastExpire = performance.now();
  const session = allocOut ? new Session() : undefined;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  for (let round = 0; round <= rounds; round++) {
    // Split outside the measurement: the distributor's work, not the generator's.
    const split = pool.bodies.map((b) => splitByTrace(bodyForRound(b, round)).traces.map((t) => t.bytes));
    // The split's garbage collected now (node --expose-gc), not during the measurement.
    (globalThis as { gc?: () => void }).gc?.();
    let spans = 0;
    const gc0 = { n: gcCount, ms: gcMs };
    gcKinds.clear();
    if (session && round === 1) {
      session.connect();
      // Every allocation sampled, also those the next scavenge frees: what makes the garbage collector work.
      await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < split.length; i++) {
      if (!writer.write(TENANT, split[i]!, 'k', () => overridesJson)) throw new Error('ring full');
      const rec = reader.read()!;
      generator.pushRanges(TENANT, rec.data, rec.ranges, rec.count, rec.bytes);
      spans += pool.bodies[i]!.spans;
      // Waiting service-graph edges expire on a timer in a Stave (every 2 s); here, between pushes.
      if (performance.now() - lastExpire >= EXPIRE_EVERY_MS) {
        lastExpire = performance.now();
        (generator.instance(TENANT)!.processor(SERVICE_GRAPHS) as unknown as { expire(): void }).expire();
      }
      sinceCollect += pool.bodies[i]!.spans;
      if (sinceCollect >= collectEvery) {
        sinceCollect = 0;
        const series = generator.instance(TENANT)!.registry.collect();
        if (series.length) samples += encodeChunks(series, 2000, false).length;
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
    const us = (cpu.user + cpu.system) / spans;
    process.stdout.write(
      `${round === 0 ? 'warm-up' : `round ${round}`}: ${fmtInt(spans)} spans, ${us.toFixed(2)} µs CPU/span (${((cpu.user + cpu.system) / 1000).toFixed(0)} ms; wall ${ms.toFixed(0)} ms), GC ${gcCount - gc0.n} (${(gcMs - gc0.ms).toFixed(0)} ms; by kind ${[...gcKinds].map(([k, n]) => `${k}: ${n}`).join(', ')}), active series ${fmtInt(generator.instance(TENANT)!.registry.activeSeries)}\n`,
    );
  }
  obs.disconnect();
  if (session) {
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
    writeFileSync(allocOut!, JSON.stringify(profile));
    session.disconnect();
    process.stdout.write(`allocation profile (rounds 1–${rounds}) in ${allocOut}\n`);
  }
  await generator.stop();
  process.stdout.write(`collected chunks: ${samples}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof ArgError ? 2 : 1;
  });
}
