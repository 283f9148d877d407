import os from 'node:os';
import { currentThreadId, lowerThreadPriority, threadCpuSeconds } from './thread-priority';

describe('thread priority (Linux)', () => {
  it('lowers the calling thread one step and never raises it back', () => {
    const tid = currentThreadId()!;
    expect(tid).toBeGreaterThan(0);
    const before = os.getPriority(tid);
    // Already at the asked value or lower: nothing changes.
    expect(lowerThreadPriority(before)).toBe(before);
    // One step lower (at the lowest, 19, there is none: the thread stays there).
    const lower = Math.min(19, before + 1);
    expect(lowerThreadPriority(lower)).toBe(lower);
    expect(os.getPriority(tid)).toBe(lower);
    // A higher priority is not taken back (an unprivileged thread could not, and a lowered one must not).
    expect(lowerThreadPriority(lower - 1)).toBe(lower);
  });

  it("reads the calling thread's CPU time", () => {
    const t0 = threadCpuSeconds()!;
    const end = Date.now() + 50;
    while (Date.now() < end);
    expect(threadCpuSeconds()!).toBeGreaterThanOrEqual(t0);
  });
});
