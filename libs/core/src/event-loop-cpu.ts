// One CPU kept for the event loop (`server.reserve_event_loop_cpu`, Stave's own key, off by default): every
// thread of the process but the main one (worker threads, libuv's pool, V8's helper threads) is moved off
// the first CPU the process may use, as it appears; the event loop itself may still run on any of them.
//
// Why: on a small machine a push's slowest moments are the event loop waiting for a core while a block's
// building threads and the metrics-generator's thread hold them all. Measured on 2 cores at a fixed rate
// (bench/results/metrics-generator.md, twelfth session): push p99 ~32 ms with the key, ~42 ms without.
// What it costs: the other threads never use that CPU, also when the event loop leaves it idle, so at
// saturation block building falls behind (collector-shaped ingest 87k → 70k spans/s, /flush 589k → 321k
// spans/s, bench/results/ingest.md). Meant for machines (or containers with a cpuset) that Stave has to
// itself and runs below saturation; with one CPU it does nothing.
//
// Node.js has no thread affinity: each thread is moved with util-linux's `taskset`, run once per new
// thread (threads start on their creator's CPUs, so the event loop's new workers start on all of them and
// are moved at the next look, at most `intervalMs` later). Linux only.

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { BasicService } from './lifecycle';
import type { Logger } from './log';
import { allowedCpus } from './thread-cpu';

export interface EventLoopCpuOptions {
  logger: Logger;
  /** How often new threads are looked for (ms). */
  intervalMs?: number;
  /** Seams for tests: the CPUs the process may use, its thread IDs, its PID, and how a thread is moved. */
  cpus?: () => number[] | undefined;
  threads?: () => number[];
  pid?: number;
  move?: (tid: number, cpus: string) => Promise<void>;
}

const DEFAULT_INTERVAL_MS = 250;

function processThreads(): number[] {
  return readdirSync('/proc/self/task').map(Number);
}

/** Moves thread `tid` onto `cpus` with taskset; rejects with code ENOENT (no taskset), ESRCH (the thread ended) or its message. */
function taskset(tid: number, cpus: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('taskset', ['-pc', cpus, String(tid)], { timeout: 5000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if (/No such process/i.test(stderr)) return reject(Object.assign(new Error(stderr.trim()), { code: 'ESRCH' }));
      reject(err.code === 'ENOENT' ? err : new Error(stderr.trim() || err.message));
    }),
  );
}

export class EventLoopCpu extends BasicService {
  private timer: NodeJS.Timeout | undefined;
  /** Threads moved (or being moved), pruned of those that ended. */
  private moved = new Set<number>();
  private others = '';
  private readonly pid: number;

  constructor(private readonly opts: EventLoopCpuOptions) {
    super('event-loop-cpu');
    this.pid = opts.pid ?? process.pid;
  }

  /** The CPUs the other threads are kept on ('' while nothing is reserved). */
  get otherCpus(): string {
    return this.others;
  }

  protected override async starting(): Promise<void> {
    const cpus = (this.opts.cpus ?? allowedCpus)();
    if (cpus === undefined || cpus.length < 2) {
      this.opts.logger.warn('server.reserve_event_loop_cpu: no CPU reserved for the event loop', {
        reason: cpus === undefined ? 'the CPUs this process may use are unknown (not Linux)' : 'this process may use one CPU only',
      });
      return;
    }
    this.others = cpus.slice(1).join(',');
    this.opts.logger.info('CPU reserved for the event loop', { cpu: cpus[0], other_threads_on: this.others });
    this.sweep();
    this.timer = setInterval(() => this.sweep(), this.opts.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Moves every thread not seen before, but the main one, onto the other CPUs. */
  sweep(): void {
    if (this.others === '') return;
    let threads: number[];
    try {
      threads = (this.opts.threads ?? processThreads)();
    } catch (err) {
      this.disable('the process threads cannot be listed', err);
      return;
    }
    const live = new Set(threads);
    for (const tid of this.moved) if (!live.has(tid)) this.moved.delete(tid);
    const move = this.opts.move ?? taskset;
    for (const tid of threads) {
      if (tid === this.pid || this.moved.has(tid)) continue;
      this.moved.add(tid);
      move(tid, this.others).catch((err: NodeJS.ErrnoException) => {
        // A thread that ended before it was moved is nothing to report; anything else stops the moves.
        if (err.code === 'ESRCH') return;
        this.disable(err.code === 'ENOENT' ? 'taskset (util-linux) is not installed' : 'taskset failed', err);
      });
    }
  }

  private disable(reason: string, err: unknown): void {
    if (this.others === '') return;
    this.others = '';
    clearInterval(this.timer);
    this.opts.logger.warn('server.reserve_event_loop_cpu: threads are no longer kept off the event loop’s CPU', { reason, err: String(err) });
  }

  protected override async stopping(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
