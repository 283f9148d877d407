import { EventLoopCpu } from './event-loop-cpu';
import { Logger } from './log';

const PID = 100;

function setup(cpus: number[] | undefined, opts: { failWith?: string } = {}) {
  const lines: string[] = [];
  const logger = new Logger('info', 'json', {}, { write: (s: string) => void lines.push(s) });
  let threads = [PID, 101, 102];
  const moves: Array<[number, string]> = [];
  const svc = new EventLoopCpu({
    logger,
    pid: PID,
    intervalMs: 60_000,
    cpus: () => cpus,
    threads: () => threads,
    move: (tid, to) => {
      moves.push([tid, to]);
      return opts.failWith ? Promise.reject(Object.assign(new Error('spawn taskset'), { code: opts.failWith })) : Promise.resolve();
    },
  });
  return { svc, moves, lines, setThreads: (t: number[]) => (threads = t) };
}

describe('EventLoopCpu', () => {
  it('moves every thread but the main one off the first CPU, each once, as it appears', async () => {
    const { svc, moves, setThreads } = setup([0, 1, 2]);
    await svc.start();
    expect(svc.otherCpus).toBe('1,2');
    expect(moves).toEqual([
      [101, '1,2'],
      [102, '1,2'],
    ]);
    setThreads([PID, 101, 102, 103]);
    svc.sweep();
    expect(moves.slice(2)).toEqual([[103, '1,2']]);
    // 102 ended; a new thread that gets its ID later is a new thread.
    setThreads([PID, 101, 103]);
    svc.sweep();
    setThreads([PID, 101, 102, 103]);
    svc.sweep();
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
    await new Promise((r) => setImmediate(r));
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
    missing.setThreads([PID, 101, 102, 103]);
    missing.svc.sweep();
    expect(missing.moves.map(([tid]) => tid)).toEqual([101, 102]);
    await missing.svc.stop();

    const refused = await startedFailing('EPERM');
    expect(refused.svc.otherCpus).toBe('');
    expect(refused.lines.join('\n')).toContain('taskset failed');
    await refused.svc.stop();
  });
});
