// Does remote write's syncing slow the ingester's? A WAL-shaped writer (append 32 KiB, fdatasync, again,
// as the ingester's group commit does under load) runs alone, then beside a writer shaped like remote
// write's queue (every `--every-ms`: append a 20 KiB record and fdatasync the segment, then replace two
// cursor files with write, fdatasync, rename, as a send's markInflight and ack do), then beside the same
// writer without any sync. Phases rotate so the machine's drift hits all three; the WAL writer's latency
// per append (write + fdatasync) is reported per mode. Files go to the OS temp dir (the disk the benches'
// WALs use).
//
//   node bench/metrics-generator/dist/sync-interplay.js [--every-ms 250] [--phase-ms 6000] [--rounds 3]

import { mkdtempSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ArgError, intArg, parseArgs } from '../../../bench/dist/args.js';

type Mode = 'alone' | 'beside, synced' | 'beside, not synced';
const MODES: Mode[] = ['alone', 'beside, synced', 'beside, not synced'];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function walWriter(dir: string, until: number, latencies: number[]): Promise<void> {
  const fh = await open(path.join(dir, 'wal'), 'a');
  const record = Buffer.alloc(32 * 1024, 1);
  try {
    while (Date.now() < until) {
      const t = process.hrtime.bigint();
      await fh.write(record);
      await fh.datasync();
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } finally {
    await fh.close();
  }
}

async function queueWriter(dir: string, until: number, everyMs: number, sync: boolean): Promise<void> {
  const seg = await open(path.join(dir, 'segment'), 'a');
  const record = Buffer.alloc(20 * 1024, 2);
  try {
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, everyMs));
      await seg.write(record);
      if (sync) await seg.datasync();
      for (let i = 0; i < 2; i++) {
        const tmp = path.join(dir, 'cursor.tmp');
        const fh = await open(tmp, 'w');
        try {
          await fh.writeFile('{"segment":1,"offset":123456,"inflight":null}');
          if (sync) await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path.join(dir, 'cursor'));
      }
    }
  } finally {
    await seg.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { known: ['every-ms', 'phase-ms', 'rounds'], booleans: [] });
  const everyMs = intArg(args, 'every-ms', 250, 1);
  const phaseMs = intArg(args, 'phase-ms', 6000, 100);
  const rounds = intArg(args, 'rounds', 3, 1);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-sync-interplay-'));
  const all = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const loads: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        const latencies: number[] = [];
        const until = Date.now() + phaseMs;
        loads.push(os.loadavg()[0]!);
        await Promise.all([walWriter(dir, until, latencies), mode === 'alone' ? undefined : queueWriter(dir, until, everyMs, mode === 'beside, synced')]);
        all.get(mode)!.push(...latencies);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `WAL-shaped append + fdatasync latency; queue-shaped writer every ${everyMs} ms; ${rounds} rounds of ${phaseMs} ms per mode; load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    '',
    '| queue writer | appends | p50 | p99 | p99.9 |',
    '|---|---|---|---|---|',
    ...MODES.map((m) => {
      const l = all.get(m)!;
      return `| ${m} | ${l.length} | ${quantile(l, 0.5).toFixed(2)} ms | ${quantile(l, 0.99).toFixed(2)} ms | ${quantile(l, 0.999).toFixed(2)} ms |`;
    }),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof ArgError ? 2 : 1;
  });
}
