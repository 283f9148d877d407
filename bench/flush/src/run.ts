// Block building alone (issue 11: "flush at least twice the ingest rate"): the WAL segment an ingester holds
// after the bench's workload (bench/src/workload.ts: ~17.5 spans per trace, requests of 200 spans cut the way
// a collector's batch processor cuts them, so a trace's spans arrive in several parts) is built into a
// block by the ingester's own BlockBuilderPool (worker threads), as /flush does.
//
// Two processes, so the build's memory is measured alone: `prepare` generates the workload, splits every
// request by trace as the distributor does and writes the WAL records and an index of each trace's parts;
// `build` runs the pool on them and reports spans/s and peak RSS (VmRSS sampled every 100 ms, VmHWM as a
// floor). Nothing is timed in `prepare`.
//
//   make bench-flush ARGS="--traces 100000 --out bench/results/flush.md"
//   node_modules/.bin/tsc -b bench/flush && node bench/flush/dist/run.js --help
//
// Imports built code by path (bench/flush is not a workspace package), as bench/compaction does.

import { create, toBinary } from '@bufbuild/protobuf';
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgError, boolArg, intArg, parseArgs } from '../../../bench/dist/args.js';
import { describeMachine, machineInfo } from '../../../bench/dist/machine.js';
import { statusField } from '../../../bench/dist/stave-process.js';
import { fmtBytes, fmtInt } from '../../../bench/dist/stats.js';
import { generateCollectorPool } from '../../../bench/dist/collector-workload.js';
import { generatePool } from '../../../bench/dist/workload.js';
import { BlockBuilderPool, packParts } from '../../../libs/ingester/dist/block-builder.js';
import { encodeRecord, RECORD_HEADER } from '../../../libs/ingester/dist/wal.js';
import { splitByTrace } from '../../../libs/model/dist/index.js';
import {
  AnyValueSchema,
  KeyValueSchema,
  ResourceSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  SpanSchema,
  TracesDataSchema,
} from '../../../libs/proto/dist/index.js';

const USAGE = `node bench/flush/dist/run.js [flags]
  --traces N        traces (default 100000: ≈ 1.75M spans)
  --seed N          workload seed (default 1)
  --workload W      project (default: bench/src/workload.ts) or collector (bench/src/collector-workload.ts:
                    every trace's spans shuffled over the whole run, so a WAL part is ~1 span)
  --wide-attrs N    instead of the workload, --traces traces carrying N attributes in all (issue 15's
                    shape: --traces 184 --wide-attrs 6000000), 50 spans each, pushed 10 spans at a time
  --fragment K      keep one request in K (collector and project workloads): every trace is then a fragment of
                    ~1/K of its spans, as in the blocks an ingester cuts for ingester.max_live_traces_bytes while
                    the collector-shaped load keeps every trace live (--traces 100000 --fragment 5: ~350k spans
                    in ~94k traces, like each of the bench's blocks during ingest)
  --workers N       block builder threads (default 1, what an ingester on 2 cores uses)
  --combine-threads N  threads combining traces for the writing one (default: one per core but one, at least one; 0: the
                    writing thread combines too)
  --builds N        build the block N times in a row with the same pool (default 1): the first build pays for
                    starting the threads, the others show a build on threads kept from the one before, as an
                    ingester cutting blocks under load runs them
  --cpu-prof        run the build under node --cpu-prof (profiles in the temp dir, kept)
  --ingest-rate N   the baseline in spans/s (default 137968: bench/results/ingest.md)
  --out FILE        append the markdown result to FILE
  --note TEXT       free text stored with the result
  --keep-data       leave the temp dir`;

const TENANT = 'single-tenant';
const BLOCK_ID = '00000000-0000-4000-8000-000000000001';

interface Prepared {
  spans: number;
  traces: number;
  parts: number;
  walBytes: number;
}

/**
 * Issue 15's shape instead of the workload: `traces` traces whose spans carry `attrs` attributes in all
 * (string, int and double values; 50 spans per trace), each trace pushed in parts of 10 spans.
 */
function* wideParts(traces: number, attrs: number, seed: number): Generator<{ id: Uint8Array; bytes: Uint8Array }> {
  const spansPerTrace = 50;
  const perSpan = Math.ceil(attrs / traces / spansPerTrace);
  let x = seed >>> 0 || 1;
  const rnd = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  for (let t = 0; t < traces; t++) {
    const id = new Uint8Array(16);
    for (let i = 0; i < 16; i++) id[i] = rnd() & 0xff;
    const spans = [];
    for (let s = 0; s < spansPerTrace; s++) {
      const spanId = new Uint8Array(8);
      for (let i = 0; i < 8; i++) spanId[i] = rnd() & 0xff;
      const attributes = [];
      for (let a = 0; a < perSpan; a++) {
        const value =
          a % 3 === 0
            ? { case: 'stringValue' as const, value: `value-${rnd() % 100_000}` }
            : a % 3 === 1
              ? { case: 'intValue' as const, value: BigInt(rnd()) }
              : { case: 'doubleValue' as const, value: rnd() / 7 };
        attributes.push(create(KeyValueSchema, { key: `attr.${a}`, value: create(AnyValueSchema, { value }) }));
      }
      const start = t0 + BigInt(s) * 1_000_000n;
      spans.push(create(SpanSchema, { traceId: id, spanId, name: `op-${s % 7}`, startTimeUnixNano: start, endTimeUnixNano: start + 500_000n, attributes }));
    }
    for (let s = 0; s < spans.length; s += 10) {
      const part = create(TracesDataSchema, {
        resourceSpans: [
          create(ResourceSpansSchema, {
            resource: create(ResourceSchema, {
              attributes: [create(KeyValueSchema, { key: 'service.name', value: create(AnyValueSchema, { value: { case: 'stringValue', value: 'wide' } }) })],
            }),
            scopeSpans: [create(ScopeSpansSchema, { spans: spans.slice(s, s + 10) })],
          }),
        ],
      });
      yield { id, bytes: toBinary(TracesDataSchema, part) };
    }
  }
}

/** Writes <dir>/seg.wal and <dir>/index.bin (per trace: 16-byte ID, u32 parts, then u64 offset + u32 length each). */
function prepare(dir: string, traces: number, seed: number, wideAttrs: number, workload: string, fragment: number): Prepared {
  const fd = openSync(path.join(dir, 'seg.wal'), 'w');
  const refs = new Map<string, number[]>();
  let off = 0;
  let parts = 0;
  let spans: number;
  const write = (batch: Iterable<{ id: Uint8Array; bytes: Uint8Array }>): void => {
    const recs: Buffer[] = [];
    for (const t of batch) {
      const rec = encodeRecord({ traceID: t.id, startSeconds: 0, endSeconds: 0, data: t.bytes });
      const key = Buffer.from(t.id).toString('hex');
      let list = refs.get(key);
      if (!list) refs.set(key, (list = []));
      list.push(off + RECORD_HEADER + 24, t.bytes.length);
      off += rec.length;
      parts++;
      recs.push(rec);
    }
    writeSync(fd, Buffer.concat(recs));
  };
  if (wideAttrs > 0) {
    for (const p of wideParts(traces, wideAttrs, seed)) write([p]);
    spans = traces * 50;
  } else {
    const pool = (workload === 'collector' ? generateCollectorPool : generatePool)({ seed, traces, batchSpans: 200, nowMs: Date.now() });
    const bodies = pool.bodies.filter((_, i) => i % fragment === 0);
    for (const body of bodies) write(splitByTrace(body.buf).traces);
    spans = bodies.reduce((n, b) => n + b.spans, 0);
  }
  closeSync(fd);
  const keys = [...refs.keys()].sort();
  const idx: Buffer[] = [];
  for (const k of keys) {
    const list = refs.get(k)!;
    const b = Buffer.alloc(20 + 5 * list.length);
    b.write(k, 0, 'hex');
    b.writeUInt32LE(list.length / 2, 16);
    for (let i = 0; i < list.length; i += 2) {
      b.writeUIntLE(list[i]!, 20 + 5 * i, 6);
      b.writeUInt32LE(list[i + 1]!, 26 + 5 * i);
    }
    idx.push(b);
  }
  writeFileSync(path.join(dir, 'index.bin'), Buffer.concat(idx));
  return { spans, traces: keys.length, parts, walBytes: off };
}

function readIndex(dir: string): Array<{ id: Uint8Array; refs: Array<{ offset: number; length: number }> }> {
  const b = readFileSync(path.join(dir, 'index.bin'));
  const out = [];
  for (let p = 0; p < b.length;) {
    const id = new Uint8Array(b.subarray(p, p + 16));
    const n = b.readUInt32LE(p + 16);
    p += 20;
    const refs = [];
    for (let i = 0; i < n; i++, p += 10) refs.push({ offset: b.readUIntLE(p, 6), length: b.readUInt32LE(p + 6) });
    out.push({ id, refs });
  }
  return out;
}

interface BuildResult {
  ms: number;
  peakRss: number;
  spans: number;
  blockBytes: number;
  cpuMs: number;
}

/** `builds` builds of the segment with one pool; one result per build (peak RSS: of the process so far). */
async function build(dir: string, workers: number, combineThreads: number, builds: number): Promise<BuildResult[]> {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  const traces = readIndex(dir);
  const pool = new BlockBuilderPool(workers, combineThreads);
  const out: BuildResult[] = [];
  for (let b = 0; b < builds; b++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const meta = await pool.build({
      segmentPath: path.join(dir, 'seg.wal'),
      parts: packParts(traces),
      storeRoot: path.join(dir, 'blocks'),
      tenant: TENANT,
      blockID: BLOCK_ID,
      bloomFalsePositive: 0.01,
      bloomShardSizeBytes: 100 * 1024,
      rowGroupSizeBytes: 100 * 1024 * 1024,
    });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, statusField(process.pid, 'VmHWM'));
    out.push({ ms, peakRss: peak, spans: meta.totalSpans, blockBytes: meta.size, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
  clearInterval(timer);
  await pool.close();
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    known: [
      'traces',
      'seed',
      'wide-attrs',
      'workload',
      'workers',
      'ingest-rate',
      'out',
      'note',
      'phase',
      'dir',
      'cpu-prof',
      'keep-data',
      'help',
      'combine-threads',
      'builds',
      'fragment',
    ],
    booleans: ['cpu-prof', 'keep-data', 'help'],
  });
  if (boolArg(args, 'help')) {
    console.log(USAGE);
    return;
  }
  const phase = args.get('phase');
  if (phase === 'build') {
    const r = await build(
      args.get('dir')!,
      intArg(args, 'workers', 1, 1),
      intArg(args, 'combine-threads', Math.max(1, os.availableParallelism() - 1), 0),
      intArg(args, 'builds', 1, 1),
    );
    console.log(JSON.stringify(r));
    return;
  }
  const traces = intArg(args, 'traces', 100_000, 1);
  const seed = intArg(args, 'seed', 1);
  const wideAttrs = intArg(args, 'wide-attrs', 0);
  const workload = args.get('workload') ?? 'project';
  if (workload !== 'project' && workload !== 'collector') throw new ArgError(`--workload: project or collector, not ${workload}`);
  const fragment = intArg(args, 'fragment', 1, 1);
  if (fragment > 1 && wideAttrs > 0) throw new ArgError('--fragment applies to the workloads, not to --wide-attrs');
  const workers = intArg(args, 'workers', 1, 1);
  const ingestRate = intArg(args, 'ingest-rate', 137_968, 1);
  const cpuProf = boolArg(args, 'cpu-prof');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-flush-'));
  try {
    const t0 = performance.now();
    const prep = JSON.parse(
      execFileSync(
        process.execPath,
        [
          __filename,
          '--phase',
          'prepare-child',
          '--dir',
          dir,
          '--traces',
          String(traces),
          '--seed',
          String(seed),
          '--wide-attrs',
          String(wideAttrs),
          '--workload',
          workload,
          '--fragment',
          String(fragment),
        ],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      ),
    ) as Prepared;
    console.log(
      `prepared ${fmtInt(prep.spans)} spans, ${fmtInt(prep.traces)} traces in ${fmtInt(prep.parts)} WAL parts (${fmtBytes(prep.walBytes)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const load0 = os.loadavg()[0]!;
    const nodeArgs = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(dir, 'prof')] : [];
    const combineThreads = intArg(args, 'combine-threads', Math.max(1, os.availableParallelism() - 1), 0);
    const builds = intArg(args, 'builds', 1, 1);
    const buildArgs = ['--phase', 'build', '--dir', dir, '--workers', String(workers), '--combine-threads', String(combineThreads), '--builds', String(builds)];
    const out = execFileSync(process.execPath, [...nodeArgs, __filename, ...buildArgs], { encoding: 'utf8' });
    const results = JSON.parse(out.trim().split('\n').pop()!) as BuildResult[];
    const load1 = os.loadavg()[0]!;
    const m = machineInfo(path.resolve(__dirname, '../../..'));
    const lines = [
      `## Flush (block building) — ${m.date}`,
      '',
      `Machine: ${describeMachine(m)}; load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after.`,
      `Workload: ${wideAttrs > 0 ? `${fmtInt(wideAttrs)} attributes over` : `bench/src/${workload === 'collector' ? 'collector-workload' : 'workload'}.ts seed ${seed}${fragment > 1 ? `, one request in ${fragment} (traces as fragments)` : ''},`} ${fmtInt(prep.traces)} traces, ${fmtInt(prep.spans)} spans in ${fmtInt(prep.parts)} WAL parts (${fmtBytes(prep.walBytes)} of OTLP); ${workers} builder thread(s), ${combineThreads > 0 ? `each with ${combineThreads} combine thread(s)` : 'combining on the same thread'}.`,
      ...(args.get('note') ? [`Note: ${args.get('note')}`] : []),
      '',
      '| build | spans | wall | spans/s | vs ingest (' + fmtInt(ingestRate) + ' spans/s) | CPU (all threads) | spans per CPU s | peak RSS | block |',
      '|---|---|---|---|---|---|---|---|---|',
      ...results.map((r, i) => {
        const rate = (r.spans / r.ms) * 1000;
        return `| ${i + 1} of ${results.length} | ${fmtInt(r.spans)} | ${(r.ms / 1000).toFixed(2)} s | ${fmtInt(Math.round(rate))} | ${(rate / ingestRate).toFixed(2)}x | ${(r.cpuMs / 1000).toFixed(2)} s | ${fmtInt(Math.round(r.spans / (r.cpuMs / 1000)))} | ${fmtBytes(r.peakRss)} | ${fmtBytes(r.blockBytes)} |`;
      }),
      '',
    ];
    console.log(lines.join('\n'));
    if (args.get('out')) appendFileSync(args.get('out')!, lines.join('\n') + '\n');
    if (cpuProf) console.log(`profiles in ${path.join(dir, 'prof')}`);
  } finally {
    if (!boolArg(args, 'keep-data') && !cpuProf) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('prepare-child')) {
  const a = process.argv;
  const get = (f: string) => a[a.indexOf(f) + 1]!;
  process.stdout.write(
    JSON.stringify(
      prepare(get('--dir'), Number(get('--traces')), Number(get('--seed')), Number(get('--wide-attrs')), get('--workload'), Number(get('--fragment'))),
    ),
  );
} else {
  main().catch((err: unknown) => {
    if (err instanceof ArgError) console.error(`${err.message}\n\n${USAGE}`);
    else console.error(err);
    process.exit(1);
  });
}
