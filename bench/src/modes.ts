// The bench's other modes (run.ts holds the default ingest + trace-by-ID run):
//  - sustained: a fixed offered rate for minutes against one Stave (see sustained.ts);
//  - fleet: three `-target=scalable-single-binary` processes on loopback joined by memberlist with
//    replication factor 3, load through one member, every acknowledged trace read back from another.
// Each reports its ratio against the no-op server measured on the same pool in the same run.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateCollectorPool } from './collector-workload';
import { httpRequest, keepAliveAgent } from './http-client';
import { describeLoad, runLoad, type LoadResult } from './loadgen';
import { describeMachine, machineInfo, processCpuSeconds, type MachineInfo } from './machine';
import { startNoopServer } from './noop-server';
import { describeQueries, readBackAll, type QueryResult } from './query';
import { commandArgs, type BenchOptions } from './run';
import { fmtBytes, fmtInt, fmtMs, sleep } from './stats';
import { RssSampler, configFileFor, profiledBin, startStave, staveBinNote, type StaveProcess } from './stave-process';
import { fmtUs, runSustained, sustainedPeak, windowsTable, type SustainedPeak, type SustainedResult } from './sustained';
import { generatePool, type Pool } from './workload';

export interface ModeOptions extends BenchOptions {
  /** Sustained: offered spans/s; when absent, `rateFraction` of the peak measured first. */
  rate?: number;
  rateFraction: number;
  durationMs: number;
  windowMs: number;
  /** Sustained: how long the closed loop that measures the peak runs (its second half is the peak). */
  peakDurationMs: number;
}

const WARMUP_REQUESTS = 300;

function makePool(o: ModeOptions): Pool {
  const generate = o.workload === 'collector' ? generateCollectorPool : generatePool;
  o.log(`generating ${fmtInt(o.traces)} traces (${o.workload}-shaped, seed ${o.seed}, ${o.batchSpans} spans per request)...`);
  const pool = generate({ seed: o.seed, traces: o.traces, batchSpans: o.batchSpans, nowMs: Date.now() });
  o.log(`generated ${fmtInt(pool.spanCount)} spans in ${pool.bodies.length} requests, ${fmtBytes(pool.bytes)}, in ${(pool.generateMs / 1000).toFixed(1)} s`);
  return pool;
}

async function noopPeak(pool: Pool, o: ModeOptions, order: 'rounds' | 'interleaved', rounds = 1): Promise<LoadResult> {
  const noop = await startNoopServer();
  try {
    await runLoad(pool, { host: '127.0.0.1', port: noop.port, concurrency: o.concurrency, rounds: 1, limit: WARMUP_REQUESTS, progress: false, order });
    const r = await runLoad(pool, { host: '127.0.0.1', port: noop.port, concurrency: o.concurrency, rounds, label: 'no-op', progress: o.progress, order });
    o.log(describeLoad(r));
    return r;
  } finally {
    await noop.stop();
  }
}

const countsText = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, v]) => `${v}× ${k}`)
    .join(', ') || 'none';

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');

function header(title: string, m: MachineInfo, o: ModeOptions, pool: Pool): string[] {
  return [
    `### ${title} — ${m.date}`,
    '',
    `- machine: ${describeMachine(m)}`,
    `- workload: ${o.workload}-shaped, seed ${o.seed}, pool of ${fmtInt(pool.traceCount)} traces / ${fmtInt(pool.spanCount)} spans in ${fmtInt(pool.bodies.length)} requests of ≤ ${o.batchSpans} spans (${fmtBytes(pool.bytes)}), concurrency ${o.concurrency}`,
    `- config: ${o.tempoConfig ? `${path.relative(process.cwd(), o.tempoConfig)} (Tempo-style, listeners on loopback)` : o.staveConfig ? path.relative(process.cwd(), o.staveConfig) : 'generated (limits raised)'}${o.profileDir ? '; Stave under --cpu-prof' : ''}`,
    `- command: \`make bench ARGS="${commandArgs()}"\``,
    ...staveBinNote(o.staveBin),
    ...(o.note ? [`- note: ${o.note}`] : []),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Sustained

export async function runSustainedBench(o: ModeOptions): Promise<string> {
  const machine = machineInfo();
  const pool = makePool(o);
  const loadAvg: string[] = [`start ${os.loadavg()[0]!.toFixed(2)}`];
  const noop = await noopPeak(pool, o, 'rounds');
  const root = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-sustained-'));
  const start = async (name: string): Promise<StaveProcess> => {
    const dataDir = path.join(root, name);
    mkdirSync(dataDir);
    return startStave({ dataDir, bin: profiledBin(o.profileDir, o.staveBin), configFile: configFileFor(o, dataDir) });
  };
  let peak: SustainedPeak | undefined;
  let sustained: SustainedResult;
  let rate = o.rate;
  const runOn = (s: StaveProcess, r: number, durationMs: number, windowMs: number): Promise<SustainedResult> =>
    runSustained(pool, {
      host: '127.0.0.1',
      port: s.otlpHttpPort,
      metricsPort: s.httpPort,
      pid: s.pid,
      rate: r,
      durationMs,
      windowMs,
      concurrency: o.concurrency,
      tenant: o.tenant,
      progress: o.progress,
      log: o.log,
    });
  try {
    if (rate === undefined) {
      loadAvg.push(`peak ${os.loadavg()[0]!.toFixed(2)}`);
      const s = await start('peak');
      try {
        o.log(`peak: closed loop for ${(o.peakDurationMs / 1000).toFixed(0)} s; the peak is the rate over its second half`);
        peak = await sustainedPeak(pool, {
          host: '127.0.0.1',
          port: s.otlpHttpPort,
          metricsPort: s.httpPort,
          pid: s.pid,
          durationMs: o.peakDurationMs,
          concurrency: o.concurrency,
          tenant: o.tenant,
          progress: o.progress,
          log: o.log,
        });
        o.log(`peak: ${fmtInt(peak.spansPerSec)} spans/s over ${peak.fromS.toFixed(0)}–${peak.toS.toFixed(0)} s`);
      } finally {
        await s.stop();
      }
      if (!Number.isFinite(peak.spansPerSec) || peak.spansPerSec <= 0)
        throw new Error('the closed loop acknowledged nothing in its second half: no peak to run at');
      rate = Math.max(1, Math.round(peak.spansPerSec * o.rateFraction));
    }
    o.log(`sustained: ${fmtInt(rate)} spans/s for ${(o.durationMs / 1000).toFixed(0)} s, a row every ${(o.windowMs / 1000).toFixed(0)} s`);
    loadAvg.push(`sustained ${os.loadavg()[0]!.toFixed(2)}`);
    const s = await start('sustained');
    try {
      sustained = await runOn(s, rate, o.durationMs, o.windowMs);
    } finally {
      await s.stop();
    }
  } finally {
    if (!o.keepData) rmSync(root, { recursive: true, force: true });
  }
  return [
    ...header('Sustained ingest', machine, o, pool),
    `- load average (1 min): ${loadAvg.join(', ')}`,
    ...(peak
      ? [
          `- peak: what Stave sustains, measured on a fresh Stave by a closed loop of ${o.concurrency} pushers for ${(o.peakDurationMs / 1000).toFixed(0)} s (429/503 retried after Retry-After, as exporters do); the peak is the rate acknowledged over the second half, after head blocks are cut and built (bench/README.md, *Modes*). The no-op baseline is one closed-loop pass of the pool.`,
        ]
      : []),
    '',
    `| metric | Stave | no-op baseline |`,
    `|---|---|---|`,
    ...(peak
      ? [
          `| peak: closed loop for ${(o.peakDurationMs / 1000).toFixed(0)} s, spans/s acknowledged over ${peak.fromS.toFixed(0)}–${peak.toS.toFixed(0)} s | ${fmtInt(peak.spansPerSec)} (${pct(peak.spansPerSec / noop.spansPerSec)} of no-op) | ${fmtInt(noop.spansPerSec)} |`,
          `| … its first ${peak.run.windows[0]?.atS.toFixed(0) ?? '?'} s (into an empty WAL) | ${fmtInt(peak.run.windows[0]?.achievedSpansPerSec ?? NaN)} spans/s | |`,
          `| … retried refusals, CPU per span over the closed loop | ${countsText(peak.run.retried)}; ${fmtUs((peak.run.cpuSeconds * 1e6) / peak.run.ackedSpans)} | |`,
        ]
      : []),
    `| offered rate | ${fmtInt(rate)} spans/s${peak ? ` (${o.rateFraction * 100}% of the peak)` : ''} for ${(o.durationMs / 60_000).toFixed(1)} min | |`,
    `| achieved spans/s | ${fmtInt(sustained.achievedSpansPerSec)} (${pct(sustained.achievedSpansPerSec / noop.spansPerSec)} of the no-op peak) | ${fmtInt(noop.spansPerSec)} |`,
    `| acknowledged / offered spans | ${fmtInt(sustained.ackedSpans)} / ${fmtInt(sustained.offeredSpans)} | |`,
    `| push latency p50 / p99 | ${fmtMs(sustained.latency.p50)} / ${fmtMs(sustained.latency.p99)} | ${fmtMs(noop.latency.p50)} / ${fmtMs(noop.latency.p99)} |`,
    `| push errors | ${countsText(sustained.errors)} | |`,
    `| CPU per acknowledged span (all threads) | ${fmtUs((sustained.cpuSeconds * 1e6) / sustained.ackedSpans)} | |`,
    `| peak RSS | ${fmtBytes(sustained.peakRssBytes)}${peak ? ` (closed loop: ${fmtBytes(peak.run.peakRssBytes)})` : ''} | |`,
    '',
    ...(peak ? ['The closed loop that measured the peak:', '', windowsTable(peak.run.windows), '', `At ${fmtInt(rate)} spans/s:`, ''] : []),
    windowsTable(sustained.windows),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Fleet

const FLEET_MEMBERS = 3;

interface RingShard {
  id: string;
  state: string;
}

async function ringStates(port: number): Promise<RingShard[]> {
  const agent = keepAliveAgent(1);
  try {
    const res = await httpRequest(agent, {
      host: '127.0.0.1',
      port,
      method: 'GET',
      path: '/ingester/ring',
      headers: { accept: 'application/json' },
      timeoutMs: 5000,
    });
    if (res.status !== 200) return [];
    return (JSON.parse(res.body.toString('utf8')) as { shards?: RingShard[] }).shards ?? [];
  } catch {
    return [];
  } finally {
    agent.destroy();
  }
}

export async function runFleetBench(o: ModeOptions): Promise<string> {
  const machine = machineInfo();
  const pool = makePool(o);
  const order = o.workload === 'collector' ? 'interleaved' : 'rounds';
  const loadAvg: string[] = o.skipNoop ? [] : [`no-op ${os.loadavg()[0]!.toFixed(2)}`];
  const noop = o.skipNoop ? undefined : await noopPeak(pool, o, order);
  const root = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-fleet-'));
  const blocks = path.join(root, 'blocks');
  const members: StaveProcess[] = [];
  const samplers: RssSampler[] = [];
  let load: LoadResult;
  let readBack: QueryResult | undefined;
  let cpuSeconds: number[];
  try {
    for (let i = 0; i < FLEET_MEMBERS; i++) {
      const dataDir = path.join(root, `member-${i}`);
      mkdirSync(dataDir);
      const p = await startStave({
        dataDir,
        bin: profiledBin(o.profileDir, o.staveBin),
        configFile: configFileFor(o, dataDir),
        extraArgs: [
          '-target=scalable-single-binary',
          `-ingester.lifecycler.id=member-${i}`,
          '-ingester.lifecycler.address=127.0.0.1',
          '-ingester.lifecycler.min-ready-duration=0s',
          '-ingester.lifecycler.ring.replication-factor=3',
          '-memberlist.bind-addr=127.0.0.1',
          '-memberlist.bind-port=0',
          `-storage.trace.local.path=${blocks}`,
          ...(i > 0 ? [`-memberlist.join-members=127.0.0.1:${members[0]!.memberlistPort}`] : []),
        ],
      });
      members.push(p);
      o.log(`member-${i} pid ${p.pid}: http :${p.httpPort}, otlp http :${p.otlpHttpPort}`);
    }
    const deadline = Date.now() + 60_000;
    for (const m of members) {
      for (;;) {
        const shards = await ringStates(m.httpPort);
        if (shards.length === FLEET_MEMBERS && shards.every((s) => s.state === 'ACTIVE')) break;
        if (Date.now() > deadline) throw new Error(`member on :${m.httpPort} never saw ${FLEET_MEMBERS} ACTIVE ingesters (${JSON.stringify(shards)})`);
        await sleep(200);
      }
    }
    for (const m of members) samplers.push(new RssSampler(m.pid));
    loadAvg.push(`fleet ${os.loadavg()[0]!.toFixed(2)}`);
    const cpuBefore = members.map((m) => processCpuSeconds(m.pid));
    load = await runLoad(pool, {
      host: '127.0.0.1',
      port: members[0]!.otlpHttpPort,
      concurrency: o.concurrency,
      rounds: 1,
      label: 'fleet (through member-0)',
      progress: o.progress,
      tenant: o.tenant,
      order,
    });
    cpuSeconds = members.map((m, i) => processCpuSeconds(m.pid) - cpuBefore[i]!);
    o.log(describeLoad(load));
    await sleep(Math.max(0, load.lastAckAt + 1000 - Date.now()));
    // `--read-back none` (profiling runs): the ingest numbers only.
    if (o.readBackAll) {
      readBack = await readBackAll(members[1]!.httpPort, load.ledger.exactTraces(), o.seed + 2, 'every acknowledged trace, from member-1', o.tenant);
      o.log(describeQueries(readBack));
    }
  } finally {
    await Promise.all(members.map((m) => m.stop(10_000)));
    if (!o.keepData) rmSync(root, { recursive: true, force: true });
  }
  const peaks = samplers.map((s) => s.stop().peakBytes);
  const errs =
    Object.entries(load.errors)
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ') || 'none';
  const bad = readBack ? readBack.queries - readBack.exact : 0;
  return [
    ...header('Fleet ingest: 3 × scalable-single-binary, RF 3', machine, o, pool),
    `- setup: ${FLEET_MEMBERS} \`bin/stave -target=scalable-single-binary\` processes on loopback joined by memberlist, replication factor 3 (write quorum 2), one WAL each on the same disk; load through member-0, read back through member-1's query path`,
    `- load average (1 min): ${loadAvg.join(', ')}`,
    '',
    `| metric | fleet | no-op baseline | target |`,
    `|---|---|---|---|`,
    `| ingest spans/s | ${fmtInt(load.spansPerSec)} | ${noop ? fmtInt(noop.spansPerSec) : 'not measured'} | ≥ 48,000 |`,
    `| fleet ÷ no-op | ${noop ? pct(load.spansPerSec / noop.spansPerSec) : 'n/a'} | | |`,
    `| acknowledged spans | ${fmtInt(load.ackedSpans)} / ${fmtInt(load.sentSpans)} | ${noop ? `${fmtInt(noop.ackedSpans)} / ${fmtInt(noop.sentSpans)}` : ''} | all |`,
    `| push latency p50 / p99 | ${fmtMs(load.latency.p50)} / ${fmtMs(load.latency.p99)} | ${noop ? `${fmtMs(noop.latency.p50)} / ${fmtMs(noop.latency.p99)}` : ''} | |`,
    `| push errors | ${errs} | | none |`,
    `| CPU per span during ingest, members 0 / 1 / 2 (all threads) | ${cpuSeconds.map((c) => `${((c * 1e6) / Math.max(1, load.ackedSpans)).toFixed(1)} µs`).join(' / ')} (total ${((cpuSeconds.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, load.ackedSpans)).toFixed(1)} µs) | | |`,
    ...(readBack
      ? [
          `| every acknowledged trace read back from member-1 | ${readBack.exact}/${readBack.queries} exact${bad ? ` (${readBack.notFound} not found, ${readBack.short} short, ${readBack.long} long, ${readBack.duplicateSpans} dup, errors ${JSON.stringify(readBack.errors)})` : ''} | | all exact |`,
          `| read-back latency p50 / p99 (8 in flight) | ${fmtMs(readBack.latency.p50)} / ${fmtMs(readBack.latency.p99)} | | |`,
        ]
      : [`| every acknowledged trace read back from member-1 | not read back (\`--read-back none\`) | | all exact |`]),
    `| peak RSS per member | ${peaks.map(fmtBytes).join(' / ')} | | |`,
    '',
  ].join('\n');
}
