import { threadCpuSeconds } from './thread-cpu';

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
