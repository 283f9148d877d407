// A thread's place on the CPU, on Linux: its own scheduling priority and CPU time. Linux schedules
// threads, not processes: setpriority(2) with a thread's ID (the TID in /proc/thread-self) applies to that
// thread alone, which is what os.setPriority does with it. Elsewhere both are unavailable (undefined) and
// the thread runs at the process's priority.
//
// Background threads that share a process with the write path lower themselves, so that a push never
// waits for a core behind work that can wait: block building (BUILD_THREAD_NICE) and the metrics-generator
// (GENERATOR_THREAD_NICE) in `-target=all`. A thread starts at the priority of the thread that started
// it, so a lowered thread's own workers start lowered too.

import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Block building's threads: below the event loop and the split workers that answer pushes, above the
 * metrics-generator. With a core short, a build gets about a tenth of it beside a thread at normal
 * priority (the kernel's weights: 110 against 1024), and all of an idle one.
 */
export const BUILD_THREAD_NICE = 10;

/** The metrics-generator's thread when the write path shares its process: the lowest priority. */
export const GENERATOR_THREAD_NICE = 19;

/** The calling thread's Linux TID; undefined where /proc/thread-self does not exist. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers the calling thread's priority to `nice` (never raises it: a thread already lower stays so);
 * returns the nice value it has now, or undefined when it could not.
 */
export function lowerThreadPriority(nice: number): number | undefined {
  const tid = currentThreadId();
  if (tid === undefined) return undefined;
  try {
    if (os.getPriority(tid) < nice) os.setPriority(tid, nice);
    return os.getPriority(tid);
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) the calling thread has used; undefined where /proc/thread-self/stat does not exist. */
export function threadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
