// A thread's own CPU time, on Linux: /proc/thread-self/stat counts the calling thread alone (Linux
// schedules threads, not processes). Elsewhere it is unavailable (undefined).

import { readFileSync } from 'node:fs';

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
