// Runs the fleet launcher (`make fleet`: scripts/fleet) as a child process on free ports in a temp
// directory, the way a user runs it, and reads where each member listens from <dir>/fleet.json, which the
// launcher writes once the fleet is ready.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FleetState } from '../../scripts/fleet/src/fleet';
import { poll } from './poll';
import { REPO } from './stave-process';

export type { FleetState };
export type FleetMember = FleetState['members'][number];

export interface FleetLauncher {
  readonly dir: string;
  /** Everything the launcher printed so far. */
  output(): string;
  /** Resolves once the fleet is ready (fails if the launcher exits first). */
  ready(timeoutMs?: number): Promise<FleetState>;
  /** Sends `signal` to the launcher and resolves with its exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Kills the launcher and any member still running (after a failed test), and removes the directory. */
  cleanup(): void;
}

export function startFleet(args: string[] = []): FleetLauncher {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-make-fleet-'));
  const child = spawn(process.execPath, [path.join(REPO, 'scripts', 'fleet', 'dist', 'main.js'), '--free-ports', `--dir=${dir}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stateFile = path.join(dir, 'fleet.json');
  const state = () => (existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as FleetState) : undefined);
  return {
    dir,
    output: () => out,
    ready: (timeoutMs = 120_000) =>
      poll(
        'the fleet launcher to report the fleet ready',
        () => {
          if (child.exitCode !== null) throw new Error(`the launcher exited with ${child.exitCode}:\n${out}`);
          return state();
        },
        { timeoutMs, intervalMs: 200 },
      ),
    async stop(signal = 'SIGTERM', timeoutMs = 90_000) {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup() {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const m of state()?.members ?? []) {
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
