// A thread's place on the CPU, on Linux: its own scheduling priority and CPU time. Linux schedules
// threads, not processes: setpriority(2) with a thread's ID (the TID in /proc/thread-self) applies to that
// thread alone, which is what os.setPriority does with it. Elsewhere both are unavailable (undefined) and
// the thread runs at the process's priority.
//
// The metrics-generator's thread lowers itself in `-target=all` (GENERATOR_THREAD_NICE), so that a push
// never waits for a core behind work that can wait. A thread starts at the priority of the thread that
// started it, so a lowered thread's own workers start lowered too. Block building stays at the process's
// priority: lowered (nice 10, tried on 2026-11-30), a build got a tenth of a core beside any busy
// normal-priority thread of the machine, and a fleet's /flush timed out under load (test/chaos/fleet.test.ts
// REL-11, 504) while push p99 showed no measurable gain.

import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

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
    return statCpuSeconds('/proc/thread-self/stat');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) in a /proc `stat` file of a process or thread (throws when it cannot be read: the task ended). */
export function statCpuSeconds(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
