// One CPU kept for the event loop (`server.reserve_event_loop_cpu`, Stave's own key, on by default where an
// ingester runs): every thread of the process but the main one (worker threads, libuv's pool, V8's helper
// threads) is moved off the first CPU the process may use, as it appears; the event loop itself may still
// run on any of them.
//
// Why: on a small machine a push's slowest moments are the event loop waiting for a core while a block's
// building threads and the metrics-generator's thread hold them all. Measured on 2 cores at a fixed rate
// (bench/results/metrics-generator.md, twelfth session): push p99 ~32 ms with the key, ~42 ms without.
// What it costs: the other threads never use that CPU, also when the event loop leaves it idle, so at
// saturation block building falls behind (collector-shaped ingest 87k → 70k spans/s, /flush 589k → 321k
// spans/s, bench/results/ingest.md). So the reservation is lifted (every thread on every CPU) while block
// building needs the whole machine: for `liftMs` after the ingester refuses a push because its WAL backlog
// is full (`lift`), and while a flush of every block runs (`hold`); then it is made again. Measured with the
// lifts, saturated ingest and /flush are as without the key (bench/results/ingest.md, fourteenth session).
// With one CPU it does nothing.
//
// Node.js has no thread affinity: threads are moved with util-linux's `taskset`, run once per new thread
// (threads start on their creator's CPUs, so the event loop's new workers start on all of them and are
// moved at the next look, at most `intervalMs` later), and once for the whole process (`-a`) to lift or
// make the reservation again. Linux only.

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { BasicService } from './lifecycle';
import type { Logger } from './log';
import { allowedCpus } from './thread-cpu';

export interface EventLoopCpuOptions {
  logger: Logger;
  /** How often new threads are looked for, and a lift's end (ms). */
  intervalMs?: number;
  /** How long the reservation stays lifted after the last `lift` (ms). */
  liftMs?: number;
  /** Seams for tests: the CPUs the process may use, its thread IDs, its PID, how a thread (or, with `wholeProcess`, every thread of `tid`'s process) is moved, and the clock. */
  cpus?: () => number[] | undefined;
  threads?: () => number[];
  pid?: number;
  move?: (tid: number, cpus: string, wholeProcess: boolean) => Promise<void>;
  now?: () => number;
}

const DEFAULT_INTERVAL_MS = 250;
/** Lifted this long after the last refused push: at saturation refusals come every few seconds, so it stays lifted. */
export const DEFAULT_LIFT_MS = 30_000;

function processThreads(): number[] {
  return readdirSync('/proc/self/task').map(Number);
}

/**
 * Moves thread `tid` (with `wholeProcess`, every thread of process `tid`) onto `cpus` with taskset; rejects
 * with code ENOENT (no taskset), ESRCH (the thread ended) or its message.
 */
function taskset(tid: number, cpus: string, wholeProcess: boolean): Promise<void> {
  const args = wholeProcess ? ['-a', '-pc', cpus, String(tid)] : ['-pc', cpus, String(tid)];
  return new Promise((resolve, reject) =>
    execFile('taskset', args, { timeout: 5000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if (/No such process/i.test(stderr)) return reject(Object.assign(new Error(stderr.trim()), { code: 'ESRCH' }));
      reject(err.code === 'ENOENT' ? err : new Error(stderr.trim() || err.message));
    }),
  );
}

/** How the rest of the process asks for every CPU: `lift` for a while, `hold` until released. */
export interface CpuReservation {
  /** Every thread may use every CPU for the next `liftMs` (from now, or longer if already lifted). */
  lift(reason: string): void;
  /** Every thread may use every CPU until the returned function is called. */
  hold(reason: string): () => void;
}

export class EventLoopCpu extends BasicService implements CpuReservation {
  private timer: NodeJS.Timeout | undefined;
  /** Threads moved (or being moved) onto the other CPUs, pruned of those that ended. */
  private moved = new Set<number>();
  private all = '';
  private others = '';
  private reserved = false;
  private liftedUntil = 0;
  private holds = 0;
  private lastReason = '';
  /** Every taskset, one after another: a thread's move never overtakes a lift. */
  private moves: Promise<void> = Promise.resolve();
  private readonly pid: number;
  private readonly now: () => number;

  constructor(private readonly opts: EventLoopCpuOptions) {
    super('event-loop-cpu');
    this.pid = opts.pid ?? process.pid;
    this.now = opts.now ?? Date.now;
  }

  /** The CPUs the other threads are kept on ('' while nothing is reserved, lifted or not). */
  get otherCpus(): string {
    return this.others;
  }

  /** Whether the other threads are kept off the event loop's CPU now (false while lifted). */
  get isReserved(): boolean {
    return this.reserved;
  }

  protected override async starting(): Promise<void> {
    const cpus = (this.opts.cpus ?? allowedCpus)();
    if (cpus === undefined || cpus.length < 2) {
      this.opts.logger.info('server.reserve_event_loop_cpu: no CPU reserved for the event loop', {
        reason: cpus === undefined ? 'the CPUs this process may use are unknown (not Linux)' : 'this process may use one CPU only',
      });
      return;
    }
    this.all = cpus.join(',');
    this.others = cpus.slice(1).join(',');
    this.reserved = true;
    this.opts.logger.info('CPU reserved for the event loop', { cpu: cpus[0], other_threads_on: this.others });
    this.sweep();
    this.timer = setInterval(() => this.sweep(), this.opts.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.timer.unref();
  }

  lift(reason: string): void {
    this.liftedUntil = Math.max(this.liftedUntil, this.now() + (this.opts.liftMs ?? DEFAULT_LIFT_MS));
    this.lastReason = reason;
    this.sweep();
  }

  hold(reason: string): () => void {
    this.holds++;
    this.lastReason = reason;
    this.sweep();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.sweep();
    };
  }

  /**
   * Lifts or makes the reservation as `lift` and `hold` ask, and while reserved moves every thread not seen
   * before, but the main one, onto the other CPUs.
   */
  sweep(): void {
    if (this.others === '') return;
    const lifted = this.holds > 0 || this.now() < this.liftedUntil;
    if (lifted) {
      if (!this.reserved) return;
      this.reserved = false;
      this.moved.clear();
      this.opts.logger.info('event loop CPU reservation lifted: every thread on every CPU', { reason: this.lastReason, cpus: this.all });
      this.enqueue(this.pid, this.all, true);
      return;
    }
    let threads: number[];
    try {
      threads = (this.opts.threads ?? processThreads)();
    } catch (err) {
      this.disable('the process threads cannot be listed', err);
      return;
    }
    if (!this.reserved) {
      // Every thread listed now is moved by one taskset -a (the main one too, then back); one that starts
      // after the listing is moved on its own at the next sweep.
      this.reserved = true;
      for (const tid of threads) if (tid !== this.pid) this.moved.add(tid);
      this.opts.logger.info('CPU reserved for the event loop again', { other_threads_on: this.others });
      this.enqueue(this.pid, this.others, true);
      this.enqueue(this.pid, this.all, false);
      return;
    }
    const live = new Set(threads);
    for (const tid of this.moved) if (!live.has(tid)) this.moved.delete(tid);
    for (const tid of threads) {
      if (tid === this.pid || this.moved.has(tid)) continue;
      this.moved.add(tid);
      this.enqueue(tid, this.others, false);
    }
  }

  private enqueue(tid: number, cpus: string, wholeProcess: boolean): void {
    const move = this.opts.move ?? taskset;
    const run = async (): Promise<void> => {
      // taskset -a stops at the first thread that ends while it goes through them: again, for the rest.
      for (let attempt = 1; ; attempt++) {
        if (this.others === '') return;
        try {
          return await move(tid, cpus, wholeProcess);
        } catch (err) {
          if (!wholeProcess || (err as NodeJS.ErrnoException).code !== 'ESRCH' || attempt === 3) throw err;
        }
      }
    };
    this.moves = this.moves.then(run).catch((err: NodeJS.ErrnoException) => {
      // A thread that ended before it was moved is nothing to report; anything else stops the moves.
      if (err.code === 'ESRCH') return;
      this.disable(err.code === 'ENOENT' ? 'taskset (util-linux) is not installed' : 'taskset failed', err);
    });
  }

  /** Settles once every taskset asked for so far has run (for tests). */
  settled(): Promise<void> {
    return this.moves;
  }

  private disable(reason: string, err: unknown): void {
    if (this.others === '') return;
    this.others = '';
    this.reserved = false;
    clearInterval(this.timer);
    this.opts.logger.warn('server.reserve_event_loop_cpu: threads are no longer kept off the event loop’s CPU', { reason, err: String(err) });
  }

  protected override async stopping(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
