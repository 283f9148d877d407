// Runs Debian's Prometheus (scripts/debian-packages.txt; `make system-deps` installs it) as a remote write
// receiver for tests: loopback only, a free port, a temporary data directory, no scrapes, exemplar storage
// on. `restart()` brings it back on the same port and data directory, as an operator's restart would.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { poll } from './poll';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PrometheusProcess {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly remoteWriteUrl: string;
  readonly dataDir: string;
  /** PromQL instant query at `timeMs` (now when absent): every series with its value as a number. */
  query(promql: string, timeMs?: number): Promise<PromSample[]>;
  /** The value of a query that returns exactly one series, or undefined when it returns none. */
  queryOne(promql: string, timeMs?: number): Promise<number | undefined>;
  /** Exemplars of the series `selector` selects in [startMs, endMs]. */
  exemplars(selector: string, startMs: number, endMs: number): Promise<Array<{ labels: Record<string, string>; value: number; timestampMs: number }>>;
  /** SIGTERM and wait for the exit (Prometheus writes its WAL on the way out). */
  stop(): Promise<void>;
  /** Starts again on the same port and data directory and waits until ready. */
  restart(): Promise<void>;
  /** Output so far, for failure messages. */
  output(): string;
  /** Stops (if running) and removes the data directory. */
  cleanup(): Promise<void>;
}

/** A port that was free a moment ago (Prometheus cannot report a port it chose itself). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startPrometheus(opts: { readyTimeoutMs?: number } = {}): Promise<PrometheusProcess> {
  if (!existsSync(PROMETHEUS_BIN)) throw new Error(`${PROMETHEUS_BIN} is missing: run \`make system-deps\` (it installs Debian's prometheus)`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-prometheus-'));
  const configFile = path.join(dataDir, 'prometheus.yml');
  // No scrape jobs: everything in this Prometheus arrives by remote write.
  writeFileSync(configFile, 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const launch = async (): Promise<void> => {
    const c = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dataDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
        '--enable-feature=exemplar-storage',
        '--storage.tsdb.retention.time=1d',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    const collect = (b: Buffer): void => void (out = (out + b.toString()).slice(-20_000));
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    await poll(
      `Prometheus ready on ${url}`,
      async () => {
        if (gone) throw new Error(`prometheus exited: ${out.slice(-2000)}`);
        const res = await fetch(`${url}/-/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 100 },
    );
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const killer = setTimeout(() => c.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
    child = undefined;
  };

  const api = async (pathname: string, params: Record<string, string>): Promise<unknown> => {
    const res = await fetch(`${url}${pathname}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data?: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${pathname} ${JSON.stringify(params)}: ${res.status} ${body.error ?? ''}`);
    return body.data;
  };

  const query = async (promql: string, timeMs?: number): Promise<PromSample[]> => {
    const params: Record<string, string> = { query: promql };
    if (timeMs !== undefined) params.time = (timeMs / 1000).toFixed(3);
    const data = (await api('/api/v1/query', params)) as { resultType: string; result: unknown };
    if (data.resultType === 'scalar') return [{ metric: {}, value: Number((data.result as [number, string])[1]) }];
    if (data.resultType !== 'vector') throw new Error(`query ${promql}: expected a vector, got ${data.resultType}`);
    return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };

  await launch();
  return {
    url,
    port,
    remoteWriteUrl: `${url}/api/v1/write`,
    dataDir,
    query,
    async queryOne(promql, timeMs) {
      const r = await query(promql, timeMs);
      if (r.length > 1) throw new Error(`query ${promql}: ${r.length} series, expected at most one`);
      return r[0]?.value;
    },
    async exemplars(selector, startMs, endMs) {
      const data = (await api('/api/v1/query_exemplars', { query: selector, start: (startMs / 1000).toFixed(3), end: (endMs / 1000).toFixed(3) })) as Array<{
        exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }>;
      }>;
      return data.flatMap((s) => s.exemplars.map((e) => ({ labels: e.labels, value: Number(e.value), timestampMs: Math.round(e.timestamp * 1000) })));
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
    output: () => out,
    async cleanup() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
