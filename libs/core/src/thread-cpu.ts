// A thread's own CPU time, on Linux: /proc/thread-self/stat counts the calling thread alone (Linux
// schedules threads, not processes); and the CPUs this process may run on. Elsewhere both are
// unavailable (undefined).

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

/** A Linux CPU list ("0-3,6", as /proc and taskset print it) as CPU numbers; throws on anything else. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list: ${JSON.stringify(list)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`not a CPU list: ${JSON.stringify(list)}`);
    for (let cpu = lo; cpu <= hi; cpu++) out.push(cpu);
  }
  return out;
}

/**
 * The CPUs this process may run on (its `Cpus_allowed_list`), or those of the task whose /proc `status`
 * file is `statusPath` (a thread: /proc/<pid>/task/<tid>/status); undefined where there is none (not
 * Linux, or the task ended).
 */
export function allowedCpus(statusPath = '/proc/self/status'): number[] | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(statusPath, 'utf8'));
    return m ? parseCpuList(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}
