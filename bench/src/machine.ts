// The machine a result was measured on: numbers mean nothing without it.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statCpuSeconds } from '../../libs/core/dist/index.js';
import { fmtBytes } from './stats';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  totalMemBytes: number;
  /** cgroup v2 memory limit, when one is set. */
  cgroupMemBytes?: number;
  node: string;
  platform: string;
  date: string;
  git?: string;
}

function tryRead(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(repoRoot = path.resolve(__dirname, '../..')): MachineInfo {
  let git: string | undefined;
  try {
    const head = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    git = dirty ? `${head} (uncommitted changes)` : head;
  } catch {
    git = undefined;
  }
  const cg = tryRead('/sys/fs/cgroup/memory.max');
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    totalMemBytes: os.totalmem(),
    cgroupMemBytes: cg && /^\d+$/.test(cg) ? Number(cg) : undefined,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    git,
  };
}

/** The machine in one line, as every bench's result prints it: cores, memory, Node.js, OS, commit. */
export function describeMachine(m: MachineInfo): string {
  const cgroup = m.cgroupMemBytes ? ` (cgroup limit ${fmtBytes(m.cgroupMemBytes)})` : '';
  return `${m.nproc} CPUs (${m.cpuModel}), ${fmtBytes(m.totalMemBytes)} RAM${cgroup}, node ${m.node}, ${m.platform}, commit ${m.git ?? 'unknown'}`;
}

/** utime + stime of a process (all its threads: event loop and workers), in seconds, from /proc. */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds (utime + stime) of one thread of a process; `tid` = `pid` is its main thread (for Node, the
 * event loop: the thread whose time bounds a single process's throughput).
 */
export function threadCpuSeconds(pid: number, tid = pid): number {
  return statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
}

/** CPU seconds of every live thread of a process, by thread ID (threads that ended are not listed). */
export function threadsCpuSeconds(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.set(Number(tid), { name, seconds: statCpuSeconds(`/proc/${pid}/task/${tid}/stat`) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** Per-thread CPU between two snapshots, largest first: "name/tid 1.23 s" (threads started since count from 0). */
export function describeThreadsCpu(before: Map<number, { name: string; seconds: number }>, after: Map<number, { name: string; seconds: number }>): string {
  return [...after]
    .map(([tid, t]) => ({ label: `${t.name}/${tid}`, s: t.seconds - (before.get(tid)?.seconds ?? 0) }))
    .filter((t) => t.s >= 0.05)
    .sort((a, b) => b.s - a.s)
    .map((t) => `${t.label} ${t.s.toFixed(2)} s`)
    .join(', ');
}
