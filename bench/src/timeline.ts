// A timeline of the Stave process over a bench run (`--timeline FILE`): every interval, its resident set,
// the ingester's backlog and the main isolate's heap (from /metrics), and the CPU of each thread since the last sample, tagged with the
// run's phase (ingest, by-ID reads, /flush). What makes the whole run's RSS peak, and which threads are
// busy while the WAL backlog fills, is read from it (bench/results/ingest.md, "ingest5").

import { appendFileSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { httpRequest, keepAliveAgent } from './http-client';
import { threadsCpuSeconds } from './machine';
import { fmtBytes } from './stats';
import { statusField } from './stave-process';
import { metricSum } from './sustained';

type Threads = Map<number, { name: string; seconds: number }>;

export class Timeline {
  private readonly timer: NodeJS.Timeout;
  private readonly agent: http.Agent = keepAliveAgent(1);
  private readonly start = Date.now();
  private last: Threads;
  private busy = false;
  /** The phase the next samples are tagged with. */
  phase = 'ingest';
  /** Largest VmRSS seen in each phase. */
  readonly peaks = new Map<string, number>();

  constructor(
    readonly pid: number,
    readonly metricsPort: number,
    readonly file: string,
    intervalMs = 1000,
  ) {
    this.last = threadsCpuSeconds(pid);
    writeFileSync(file, 't_s\tphase\trss\twal\tlive_traces\tblocks_pending\tmain_heap\tmain_external\tcpu_s\tthreads (tid:cpu s, busiest first)\n');
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const phase = this.phase;
      const rss = statusField(this.pid, 'VmRSS');
      this.peaks.set(phase, Math.max(this.peaks.get(phase) ?? 0, rss));
      let now: Threads;
      try {
        now = threadsCpuSeconds(this.pid);
      } catch {
        return; // the process ended
      }
      const deltas = [...now]
        .map(([tid, t]) => ({ tid, s: t.seconds - (this.last.get(tid)?.seconds ?? 0) }))
        .filter((d) => d.s >= 0.02)
        .sort((a, b) => b.s - a.s);
      this.last = now;
      const res = await httpRequest(this.agent, { host: '127.0.0.1', port: this.metricsPort, method: 'GET', path: '/metrics', timeoutMs: 5000 }).catch(
        () => undefined,
      );
      const text = res?.status === 200 ? res.body.toString('utf8') : '';
      const m = (name: string): string => (text ? fmtBytes(metricSum(text, name)) : '?');
      const cpu = deltas.reduce((a, d) => a + d.s, 0);
      appendFileSync(
        this.file,
        [
          ((Date.now() - this.start) / 1000).toFixed(1),
          phase,
          fmtBytes(rss),
          m('stave_ingester_wal_bytes'),
          text ? String(metricSum(text, 'tempo_ingester_live_traces')) : '?',
          text ? String(metricSum(text, 'tempo_ingester_flush_queue_length')) : '?',
          m('nodejs_heap_size_total_bytes'),
          m('nodejs_external_memory_bytes'),
          cpu.toFixed(2),
          deltas.map((d) => `${d.tid}:${d.s.toFixed(2)}`).join(' '),
        ].join('\t') + '\n',
      );
    } finally {
      this.busy = false;
    }
  }

  /** Stops sampling; the per-phase peaks as text ("ingest 480 MiB, flush 530 MiB"). */
  stop(): string {
    clearInterval(this.timer);
    this.agent.destroy();
    return [...this.peaks].map(([p, v]) => `${p} ${fmtBytes(v)}`).join(', ');
  }
}
