import { EventLoopCpu } from './event-loop-cpu';
import { Logger } from './log';

const PID = 100;

function setup(cpus: number[] | undefined, opts: { failWith?: string; failWholeProcess?: string[] } = {}) {
  const lines: string[] = [];
  const logger = new Logger('info', 'json', {}, { write: (s: string) => void lines.push(s) });
  let threads = [PID, 101, 102];
  let now = 1_000_000;
  /** Each taskset asked for: [thread, CPUs], and 'all threads' for a move of the whole process. */
  const moves: Array<[number, string] | [number, string, 'all threads']> = [];
  const failWholeProcess = [...(opts.failWholeProcess ?? [])];
  const svc = new EventLoopCpu({
    logger,
    pid: PID,
    intervalMs: 60_000,
    liftMs: 30_000,
    now: () => now,
    cpus: () => cpus,
    threads: () => threads,
    move: (tid, to, wholeProcess) => {
      moves.push(wholeProcess ? [tid, to, 'all threads'] : [tid, to]);
      const code = wholeProcess && failWholeProcess.length > 0 ? failWholeProcess.shift() : opts.failWith;
      return code ? Promise.reject(Object.assign(new Error('spawn taskset'), { code })) : Promise.resolve();
    },
  });
  return { svc, moves, lines, setThreads: (t: number[]) => (threads = t), advance: (ms: number) => (now += ms) };
}

describe('EventLoopCpu', () => {
  it('moves every thread but the main one off the first CPU, each once, as it appears', async () => {
    const { svc, moves, setThreads } = setup([0, 1, 2]);
    await svc.start();
    await svc.settled();
    expect(svc.otherCpus).toBe('1,2');
    expect(moves).toEqual([
      [101, '1,2'],
      [102, '1,2'],
    ]);
    setThreads([PID, 101, 102, 103]);
    svc.sweep();
    await svc.settled();
    expect(moves.slice(2)).toEqual([[103, '1,2']]);
    // 102 ended; a new thread that gets its ID later is a new thread.
    setThreads([PID, 101, 103]);
    svc.sweep();
    setThreads([PID, 101, 102, 103]);
    svc.sweep();
    await svc.settled();
    expect(moves.slice(3)).toEqual([[102, '1,2']]);
    await svc.stop();
  });

  it('reserves nothing with one CPU, and says so', async () => {
    const { svc, moves, lines } = setup([3]);
    await svc.start();
    svc.sweep();
    expect(moves).toEqual([]);
    expect(svc.otherCpus).toBe('');
    expect(lines.join('\n')).toContain('this process may use one CPU only');
    await svc.stop();
  });

  /** Started on two CPUs with every move failing with `code`, the failures handled. */
  async function startedFailing(code: string): Promise<ReturnType<typeof setup>> {
    const s = setup([0, 1], { failWith: code });
    await s.svc.start();
    await s.svc.settled();
    return s;
  }

  it('a thread that ended before it was moved is not an error', async () => {
    const gone = await startedFailing('ESRCH');
    expect(gone.svc.otherCpus).toBe('1');
    expect(gone.lines.join('\n')).not.toContain('no longer kept off');
    await gone.svc.stop();
  });

  it('stops for good, with a warning, when taskset is missing or fails', async () => {
    const missing = await startedFailing('ENOENT');
    expect(missing.svc.otherCpus).toBe('');
    expect(missing.lines.join('\n')).toContain('taskset (util-linux) is not installed');
    // The moves queued behind the failed one are not tried, and no sweep tries another.
    missing.setThreads([PID, 101, 102, 103]);
    missing.svc.sweep();
    await missing.svc.settled();
    expect(missing.moves.map(([tid]) => tid)).toEqual([101]);
    await missing.svc.stop();

    const refused = await startedFailing('EPERM');
    expect(refused.svc.otherCpus).toBe('');
    expect(refused.lines.join('\n')).toContain('taskset failed');
    await refused.svc.stop();
  });

  it('lifts the reservation for liftMs after the last lift, moving the whole process at once each way', async () => {
    const { svc, moves, lines, setThreads, advance } = setup([0, 1]);
    await svc.start();
    await svc.settled();
    expect(moves).toEqual([
      [101, '1'],
      [102, '1'],
    ]);
    moves.length = 0;

    svc.lift('a push was refused');
    await svc.settled();
    expect(svc.isReserved).toBe(false);
    expect(moves).toEqual([[PID, '0,1', 'all threads']]);
    expect(lines.join('\n')).toContain('a push was refused');
    // While lifted a new thread stays where it started (on every CPU); a second lift extends the first.
    setThreads([PID, 101, 102, 103]);
    advance(20_000);
    svc.lift('another push was refused');
    advance(20_000);
    svc.sweep();
    await svc.settled();
    expect(moves).toEqual([[PID, '0,1', 'all threads']]);
    expect(svc.isReserved).toBe(false);

    // 30 s after the last lift: every thread back off CPU 0 by one taskset -a, the main thread back onto all.
    advance(10_000);
    svc.sweep();
    await svc.settled();
    expect(svc.isReserved).toBe(true);
    expect(moves.slice(1)).toEqual([
      [PID, '1', 'all threads'],
      [PID, '0,1'],
    ]);
    // The threads that taskset -a moved are not moved again; one that starts later is.
    setThreads([PID, 101, 102, 103, 104]);
    svc.sweep();
    await svc.settled();
    expect(moves.slice(3)).toEqual([[104, '1']]);
    await svc.stop();
  });

  it('stays lifted while held, past liftMs, and reserves again once every hold is released', async () => {
    const { svc, moves, advance } = setup([0, 1, 2]);
    await svc.start();
    const releaseA = svc.hold('flush');
    const releaseB = svc.hold('flush before shutdown');
    await svc.settled();
    expect(svc.isReserved).toBe(false);
    advance(120_000);
    svc.sweep();
    releaseA();
    releaseA(); // twice is once
    expect(svc.isReserved).toBe(false);
    releaseB();
    await svc.settled();
    expect(svc.isReserved).toBe(true);
    expect(moves.filter((m) => m.length === 3)).toEqual([
      [PID, '0,1,2', 'all threads'],
      [PID, '1,2', 'all threads'],
    ]);
    await svc.stop();
  });

  it('a thread that ends while taskset -a goes through them does not stop the lift: it runs again', async () => {
    const { svc, moves, lines } = setup([0, 1], { failWholeProcess: ['ESRCH', 'ESRCH'] });
    await svc.start();
    svc.lift('refused');
    await svc.settled();
    expect(moves.filter((m) => m.length === 3)).toHaveLength(3);
    expect(svc.otherCpus).toBe('1');
    expect(lines.join('\n')).not.toContain('no longer kept off');
    await svc.stop();
  });
});
