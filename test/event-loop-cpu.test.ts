// server.reserve_event_loop_cpu on a real bin/stave -target=all: every thread but the main one ends up off
// the first CPU the process may use, read from /proc as the kernel applies it; the main thread keeps all of
// them. Without the key nothing is moved.

import { readdirSync } from 'node:fs';
import { allowedCpus } from '@stave/core';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

/** Each thread's CPUs, by thread ID (threads that end while being read are left out). */
function threadCpus(pid: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const cpus = allowedCpus(`/proc/${pid}/task/${tid}/status`);
    if (cpus) out.set(Number(tid), cpus);
  }
  return out;
}

const cpus = allowedCpus() ?? [];

async function started(args: string[]): Promise<StaveProcess> {
  const p = startStave({ args: ['-target=all', ...args] });
  await p.ready();
  return p;
}

describe('server.reserve_event_loop_cpu', () => {
  let p: StaveProcess | undefined;
  afterEach(async () => {
    await p?.stop();
    p?.cleanup();
    p = undefined;
  });

  it('keeps every thread but the event loop off the first CPU (with one CPU: says it reserves none)', async () => {
    p = await started(['-server.reserve-event-loop-cpu=true']);
    const pid = p.child.pid!;
    if (cpus.length < 2) {
      await poll('the warning', () => p!.logs.some((l) => l.msg === 'server.reserve_event_loop_cpu: no CPU reserved for the event loop'));
      return;
    }
    const others = cpus.slice(1);
    const threads = await poll('every other thread moved off the first CPU', () => {
      const t = threadCpus(pid);
      const moved = [...t].filter(([tid]) => tid !== pid);
      return moved.length >= 3 && moved.every(([, c]) => c.join() === others.join()) ? t : undefined;
    });
    expect(threads.get(pid)).toEqual(cpus);
    expect(p.logs.some((l) => l.msg === 'CPU reserved for the event loop' && l.cpu === cpus[0])).toBe(true);
  });

  it('moves nothing when it is off (the default)', async () => {
    p = await started([]);
    const pid = p.child.pid!;
    const threads = threadCpus(pid);
    expect(threads.size).toBeGreaterThan(3);
    for (const c of threads.values()) expect(c).toEqual(cpus);
    expect(p.logs.some((l) => l.msg === 'CPU reserved for the event loop')).toBe(false);
  });
});
