import os from 'node:os';
import { allowedCpus, parseCpuList, threadCpuSeconds } from './thread-cpu';

describe('thread CPU time (Linux)', () => {
  it("reads the calling thread's CPU time, which grows while it computes", () => {
    const t0 = threadCpuSeconds()!;
    expect(t0).toBeGreaterThan(0);
    // Busy until it has grown by a clock tick (10 ms), for at most 5 s of wall time.
    const deadline = Date.now() + 5000;
    let t = t0;
    while (t <= t0 && Date.now() < deadline) t = threadCpuSeconds()!;
    expect(t).toBeGreaterThan(t0);
  });
});

describe('CPU lists', () => {
  it('reads ranges and single CPUs as /proc and taskset print them', () => {
    expect(parseCpuList('0-3,6')).toEqual([0, 1, 2, 3, 6]);
    expect(parseCpuList('5\n')).toEqual([5]);
    expect(parseCpuList('0,2-3')).toEqual([0, 2, 3]);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'a', '3-1', '1,,2', '-1', '0-']) expect(() => parseCpuList(bad)).toThrow('not a CPU list');
  });

  it('knows the CPUs this process may use (Linux)', () => {
    const cpus = allowedCpus()!;
    expect(cpus.length).toBeGreaterThan(0);
    expect(cpus.length).toBeLessThanOrEqual(os.cpus().length);
  });
});
