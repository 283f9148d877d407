// A diagnostic probe preloaded into a Stave process (`NODE_OPTIONS=--require .../probe.js`, by
// timeline.ts): it records, with wall-clock times (ms since the epoch, fractional), what can stall a
// push, and appends it as JSON lines to $STAVE_PROBE_OUT once per 200 ms. Not part of Stave.
//   - every thread (the event loop and each worker, which preloads it too): its Linux TID and thread ID,
//     its garbage-collection pauses (start, duration, kind), and its file syncs and slow file operations
//     through FileHandle (datasync/sync always; write/read/writev over 2 ms), with the file's path;
//   - the event loop: its delay (monitorEventLoopDelay, 1 ms resolution; max and p99 per 100 ms) and
//     utilization per 100 ms; each Worker it starts, by script and thread ID.
// Records: {k:'thread'|'gc'|'io'|'eld'|'worker', ...}.

import { appendFileSync, readlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import wt from 'node:worker_threads';

const out = process.env.STAVE_PROBE_OUT;
if (out) start(out);

function start(file: string): void {
  const lines: string[] = [];
  const now = (): number => performance.timeOrigin + performance.now();
  const at = (perfMs: number): number => performance.timeOrigin + perfMs;
  const rec = (o: Record<string, unknown>): void => void lines.push(JSON.stringify({ th: wt.threadId, ...o }));
  const flush = (): void => {
    if (lines.length) appendFileSync(file, lines.splice(0).join('\n') + '\n');
  };
  setInterval(flush, 200).unref();
  process.on('exit', flush);

  let tid = 0;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    // not Linux
  }
  rec({ k: 'thread', tid, main: wt.isMainThread, t: now() });

  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rec({ k: 'gc', t: at(e.startTime), d: e.duration, kind: (e.detail as { kind?: number } | undefined)?.kind });
  }).observe({ entryTypes: ['gc'] });

  // File operations through FileHandle (fs/promises): they run on libuv's pool, shared by every thread.
  // By handle, not by fd: a closed handle's fd is reused by the next file opened.
  const paths = new WeakMap<FileHandle, string>();
  const pathOf = (fh: FileHandle): string => {
    let p = paths.get(fh);
    if (p === undefined) {
      try {
        p = readlinkSync(`/proc/self/fd/${fh.fd}`);
      } catch {
        p = `fd ${fh.fd}`;
      }
      paths.set(fh, p);
    }
    return p;
  };
  void open('/proc/self/stat', 'r').then(async (fh) => {
    const proto = Object.getPrototypeOf(fh) as Record<string, unknown>;
    await fh.close();
    for (const [name, always] of [
      ['datasync', true],
      ['sync', true],
      ['write', false],
      ['writev', false],
      ['read', false],
    ] as const) {
      const orig = proto[name] as (this: FileHandle, ...args: unknown[]) => Promise<unknown>;
      if (typeof orig !== 'function') continue;
      proto[name] = function (this: FileHandle, ...args: unknown[]): Promise<unknown> {
        const t0 = now();
        const p = pathOf(this);
        return orig.apply(this, args).finally(() => {
          const d = now() - t0;
          if (always || d > 2) rec({ k: 'io', op: name, t: t0, d, path: p });
        });
      };
    }
  });

  if (!wt.isMainThread) return;
  const Orig = wt.Worker;
  (wt as { Worker: typeof wt.Worker }).Worker = class extends Orig {
    constructor(filename: string | URL, options?: wt.WorkerOptions) {
      super(filename, options);
      rec({ k: 'worker', th: this.threadId, script: String(filename), t: now() });
    }
  };
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  setInterval(() => {
    const e = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    rec({ k: 'eld', t: now(), max: h.max / 1e6, p99: h.percentile(99) / 1e6, elu: e.utilization });
    h.reset();
  }, 100).unref();
}
