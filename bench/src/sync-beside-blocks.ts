// Does writing a block slow the WAL's syncs, and does syncing the block as it is written help? A WAL-shaped
// writer (append 32 KiB, fdatasync, again: the ingester's group commit under load) runs beside a
// block-shaped writer (files of --block-mib MiB in 1 MiB writes, as a block build or a flush to the local
// backend writes them), the block file synced once at the end (what the local store did before) or every
// N bytes with one sync in flight (what it does now: LOCAL_SYNC_EVERY_BYTES in libs/backend/src/local.ts; the bench calls the store's own
// loop, `writeSyncedAsWritten`, with each mode's interval).
// Modes rotate so the machine's drift hits all of them; reported per mode: the WAL writer's sync latency
// and the time to write the blocks. Files go to --dir (default: the OS temp dir, the disk the benches'
// WALs use). A measurement of the mechanism, not of Stave.
//
//   node bench/dist/sync-beside-blocks.js [--rounds 8] [--block-mib 128] [--dir /tmp]

import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSyncedAsWritten } from '../../libs/backend/dist/index.js';
import { ArgError, intArg, parseArgs } from './args';
import { describeMachine, machineInfo } from './machine';

const MiB = 1 << 20;
const MODES: Array<{ name: string; every: number }> = [
  { name: 'block synced at the end', every: 0 },
  { name: 'block synced every 4 MiB', every: 4 * MiB },
  { name: 'block synced every 2 MiB', every: 2 * MiB },
  { name: 'block synced every 1 MiB', every: MiB },
];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function writeBlock(file: string, mib: number, every: number): Promise<void> {
  const fh = await open(file, 'w');
  function* chunks(): Generator<Uint8Array> {
    const chunk = Buffer.alloc(MiB, 7);
    for (let k = 0; k < mib; k++) {
      chunk[0] = k & 0xff;
      yield chunk;
    }
  }
  try {
    await writeSyncedAsWritten(fh, chunks(), every > 0 ? every : Infinity);
  } finally {
    await fh.close();
  }
  await rm(file);
}

async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { known: ['rounds', 'block-mib', 'dir'] });
  const rounds = intArg(a, 'rounds', 8, 1);
  const blockMiB = intArg(a, 'block-mib', 128, 1);
  const dir = mkdtempSync(path.join(a.get('dir') ?? os.tmpdir(), 'stave-sync-beside-blocks-'));
  const latencies = new Map(MODES.map((m) => [m.name, [] as number[]]));
  const blockSeconds = new Map(MODES.map((m) => [m.name, [] as number[]]));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        let stop = false;
        const lat = latencies.get(mode.name)!;
        const wal = (async () => {
          const fh = await open(path.join(dir, 'wal'), 'a');
          const record = Buffer.alloc(32 * 1024, 1);
          try {
            while (!stop) {
              const t = performance.now();
              await fh.write(record);
              await fh.datasync();
              lat.push(performance.now() - t);
            }
          } finally {
            await fh.close();
          }
        })();
        const t0 = performance.now();
        for (let b = 0; b < 2; b++) await writeBlock(path.join(dir, `block-${b}`), blockMiB, mode.every);
        blockSeconds.get(mode.name)!.push((performance.now() - t0) / 1000);
        stop = true;
        await wal;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = machineInfo();
  process.stdout.write(`- machine: ${describeMachine(m)}, ${m.date}\n`);
  process.stdout.write(`- ${rounds} rounds; each mode writes 2 files of ${blockMiB} MiB beside the WAL-shaped writer\n\n`);
  process.stdout.write('| block writer | WAL syncs | WAL sync p50 | p99 | max | 2 blocks written in (median) |\n|---|---|---|---|---|---|\n');
  for (const mode of MODES) {
    const l = latencies.get(mode.name)!;
    const s = blockSeconds.get(mode.name)!;
    process.stdout.write(
      `| ${mode.name} | ${l.length} | ${quantile(l, 0.5).toFixed(1)} ms | ${quantile(l, 0.99).toFixed(1)} ms | ${Math.max(...l).toFixed(1)} ms | ${quantile(s, 0.5).toFixed(2)} s |\n`,
    );
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof ArgError ? err.message : String(err)}\n`);
  process.exit(err instanceof ArgError ? 2 : 1);
});
