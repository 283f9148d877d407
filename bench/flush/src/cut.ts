// The event loop's share of a head block's cut: HeadBlock.pack, which orders the block's traces by ID and
// lays their parts out for the building threads, on the thread that answers pushes. Measured against the
// way pack worked before (the baseline, rebuilt here on the bench's own copy of the part chains): a sort
// with a JavaScript comparator over the IDs' four 32-bit words, then each trace's chain of parts followed
// in that order; the two alternate in one run. The parts of the traces interleave as in a collector-shaped
// load (part p belongs to trace p mod N); the IDs are random (as OpenTelemetry SDKs make them) or share a
// prefix of `--prefix-bytes` (X-Ray IDs begin with a timestamp).
//
//   node_modules/.bin/tsc -b bench/flush && node bench/flush/dist/cut.js [--traces 100000] [--parts 3.5] [--rounds 7] [--prefix-bytes 0]

import { randomBytes } from 'node:crypto';
import { intArg, parseArgs } from '../../../bench/dist/args.js';
import { describeMachine, machineInfo } from '../../../bench/dist/machine.js';
import { summarize } from '../../../bench/dist/stats.js';
import { HeadBlock } from '../../../libs/ingester/dist/head-block.js';
import type { WalSegment } from '../../../libs/ingester/dist/wal.js';
import { allocPackedParts, type PackedParts } from '../../../libs/ingester/dist/combined-traces.js';

/** The previous pack: comparator sort, then the chains (`next`, -1 ends) followed trace by trace. */
function previousPack(
  entries: ReadonlyArray<{ readonly id: Uint8Array; readonly firstPart: number; readonly parts: number }>,
  chains: ChainTable,
): PackedParts {
  const words = new Uint32Array(4 * entries.length);
  entries.forEach((e, i) => {
    const id = e.id;
    for (let w = 0; w < 4; w++) words[4 * i + w] = ((id[4 * w]! << 24) | (id[4 * w + 1]! << 16) | (id[4 * w + 2]! << 8) | id[4 * w + 3]!) >>> 0;
  });
  const order = new Uint32Array(entries.length).map((_, i) => i);
  order.sort(
    (a, b) =>
      words[4 * a]! - words[4 * b]! || words[4 * a + 1]! - words[4 * b + 1]! || words[4 * a + 2]! - words[4 * b + 2]! || words[4 * a + 3]! - words[4 * b + 3]!,
  );
  let n = 0;
  for (const e of entries) n += e.parts;
  const { ids, counts, offsets, lengths } = allocPackedParts(entries.length, n);
  let k = 0;
  order.forEach((t, i) => {
    const e = entries[t]!;
    ids.set(e.id, 16 * i);
    counts[i] = e.parts;
    for (let p = e.firstPart; p >= 0; p = chains.next[p]!) {
      offsets[k] = chains.offsets[p]!;
      lengths[k++] = chains.lengths[p]!;
    }
  });
  return { ids, counts, offsets, lengths };
}

interface ChainTable {
  offsets: Float64Array;
  lengths: Uint32Array;
  next: Int32Array;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), { known: ['traces', 'parts', 'rounds', 'prefix-bytes'] });
  const traces = intArg(args, 'traces', 100_000);
  const partsPerTrace = Number(args.get('parts') ?? '3.5');
  const rounds = intArg(args, 'rounds', 7);
  const prefix = intArg(args, 'prefix-bytes', 0);
  const head = new HeadBlock('t', 'b', {} as WalSegment, 0);
  const common = randomBytes(16);
  const entries = [];
  for (let i = 0; i < traces; i++) {
    const id = randomBytes(16);
    common.copy(id, 0, 0, prefix);
    const e = head.newEntry(id, 1);
    head.traces.add(e);
    entries.push(e);
  }
  const totalParts = Math.round(traces * partsPerTrace);
  const chains: ChainTable = { offsets: new Float64Array(totalParts), lengths: new Uint32Array(totalParts), next: new Int32Array(totalParts).fill(-1) };
  for (let p = 0; p < totalParts; p++) {
    const e = entries[p % traces]!;
    if (e.lastPart >= 0) chains.next[e.lastPart] = p;
    chains.offsets[p] = p * 500;
    chains.lengths[p] = 500;
    head.addPart(e, { offset: p * 500, length: 500 });
  }
  // Both give the same table, or the comparison means nothing.
  if (
    JSON.stringify(Object.values(head.pack()).map((a) => Array.from(a as Uint8Array))) !==
    JSON.stringify(Object.values(previousPack(entries, chains)).map((a) => Array.from(a as Uint8Array)))
  )
    throw new Error('pack and the previous pack disagree');

  const packMs: number[] = [];
  const baselineMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = process.hrtime.bigint();
    head.pack();
    packMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    previousPack(entries, chains);
    baselineMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const m = machineInfo();
  console.log(`machine: ${describeMachine(m)}; ${m.date}`);
  console.log(`${traces} traces, ${totalParts} parts, IDs sharing ${prefix} leading bytes, ${rounds} rounds (median):`);
  console.log(`  HeadBlock.pack: ${summarize(packMs).p50.toFixed(1)} ms`);
  console.log(`  baseline, the previous pack (comparator sort, chains followed): ${summarize(baselineMs).p50.toFixed(1)} ms`);
  console.log(`  pack ÷ baseline: ${(summarize(packMs).p50 / summarize(baselineMs).p50).toFixed(2)}`);
}

main();
