// Runs the built `bin/stave` (or a component's deployable) as a child process, the way a user or a
// supervisor would, on free ports (port 0): the ports it bound are read from its structured logs.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { poll } from './poll';

export const REPO = path.resolve(__dirname, '..', '..');
export const STAVE_BIN = path.join(REPO, 'bin', 'stave');

export interface StaveProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** Structured log lines seen so far. */
  readonly logs: Array<Record<string, unknown>>;
  readonly stderrText: () => string;
  /** Resolves when the process exits by itself or by a signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  httpPort(): Promise<number>;
  /** The port a receiver bound, matched by its log name (e.g. /otlp.*http/). */
  receiverPort(name: RegExp): Promise<number>;
  url(pathname: string): Promise<string>;
  /** Resolves once `/ready` answers 200; fails at once, with the process's stderr, if it exits first. */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  cleanup(): void;
}

export interface StartOptions {
  /** Extra flags; ports default to 0 (free ports). */
  args?: string[];
  /** Config file contents (YAML). Tests always pass a file, so no receiver binds a fixed default port. */
  configYaml?: string;
  /** Reuse a data directory (restart in place); a new temp dir otherwise. */
  dataDir?: string;
  /** Run a component's deployable (services/<name>/dist/main.js) instead of bin/stave. */
  deployable?: string;
  /** Run this `stave` executable instead of bin/stave (e.g. the container image's folder's bin/stave). */
  bin?: string;
  env?: Record<string, string>;
}

export function startStave(opts: StartOptions = {}): StaveProcess {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'stave-test-'));
  const configFile = path.join(dataDir, 'stave.yaml');
  writeFileSync(configFile, opts.configYaml ?? '{}\n');
  const args = [
    `-config.file=${configFile}`,
    '-server.http-listen-address=127.0.0.1',
    '-server.http-listen-port=0',
    '-server.grpc-listen-address=127.0.0.1',
    '-server.grpc-listen-port=0',
    `-storage.trace.wal.path=${path.join(dataDir, 'wal')}`,
    `-storage.trace.local.path=${path.join(dataDir, 'blocks')}`,
    `-metrics-generator.storage.path=${path.join(dataDir, 'generator')}`,
    // Gossip and ring entries on loopback and a free port, and no start-up settle time, so suites can run
    // side by side and quickly.
    '-memberlist.bind-addr=127.0.0.1',
    '-memberlist.bind-port=0',
    '-ingester.lifecycler.address=127.0.0.1',
    '-ingester.lifecycler.min-ready-duration=0s',
    ...(opts.args ?? []),
  ];
  const cmd = opts.deployable ? ['node', [path.join(REPO, 'services', opts.deployable, 'dist', 'main.js'), ...args]] : [opts.bin ?? STAVE_BIN, args];
  const child = spawn(cmd[0] as string, cmd[1] as string[], {
    cwd: dataDir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  /** The process has exited (by itself or by a signal). */
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  /** Its output streams have ended too, so `stderr` holds all it wrote. */
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const httpPort = async (): Promise<number> => {
    const port = await poll(
      'the http server to log its port',
      () => {
        const l = logs.find((x) => x.msg === 'http server listening' && x.server === 'http');
        if (l) return l.port as number;
        // Died before listening, by an exit code or by a signal: fail now, not at the poll's timeout.
        return gone() ? -1 : undefined;
      },
      { timeoutMs: 30_000 },
    );
    if (port >= 0) return port;
    await closed;
    throw new Error(`stave exited (${child.exitCode ?? child.signalCode}) before its http server listened: ${stderr}`);
  };
  return {
    child,
    exited,
    dataDir,
    logs,
    stderrText: () => stderr,
    httpPort,
    receiverPort: (name) =>
      poll(`the ${String(name)} receiver to listen`, () => {
        const l = logs.find((x) => x.msg === 'receiver listening' && name.test(String(x.receiver)));
        return l ? (l.port as number) : undefined;
      }),
    url: async (p) => `http://127.0.0.1:${await httpPort()}${p}`,
    async ready(timeoutMs = 30_000) {
      const url = `http://127.0.0.1:${await httpPort()}/ready`;
      const r = await poll('/ready to answer 200', async () => (gone() ? 'exited' : (await fetch(url)).status === 200), { timeoutMs, intervalMs: 100 });
      if (r === 'exited') throw new Error(`stave exited (${child.exitCode ?? child.signalCode}) before /ready answered 200: ${stderr.slice(-2000)}`);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      const t0 = Date.now();
      if (!gone()) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      return { ...r, ms: Date.now() - t0 };
    },
    cleanup() {
      if (!gone()) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs bin/stave to completion (for -config.verify and friends). */
export function runStave(args: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(STAVE_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The memberlist port a process advertises (the seed other members join through). */
export function gossipPort(p: StaveProcess): Promise<number> {
  return poll('memberlist to listen', () => {
    const l = p.logs.find((x) => x.msg === 'memberlist listening');
    return l ? Number(String(l.advertise).split(':').pop()) : undefined;
  });
}
