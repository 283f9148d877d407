import { BasicService, State } from './lifecycle';

describe('BasicService', () => {
  it('goes New → Starting → Running → Stopping → Terminated', async () => {
    const seen: State[] = [];
    let release!: () => void;
    const svc: BasicService = new BasicService('t', {
      starting: async () => {
        seen.push(svc.state);
        await new Promise<void>((r) => (release = r));
      },
      stopping: async () => {
        seen.push(svc.state);
      },
    });
    expect(svc.state).toBe(State.New);
    const started = svc.start();
    expect(svc.state).toBe(State.Starting);
    release();
    await started;
    expect(svc.state).toBe(State.Running);
    await svc.stop();
    expect(seen).toEqual([State.Starting, State.Stopping]);
    expect(svc.state).toBe(State.Terminated);
  });

  it('is Failed, with the cause, when starting throws, and releases what it acquired', async () => {
    let released = false;
    const svc = new BasicService('wal', {
      starting: async () => {
        throw new Error('replay failed');
      },
      stopping: async () => {
        released = true;
      },
    });
    await expect(svc.start()).rejects.toThrow('service wal failed to start: replay failed');
    expect(svc.state).toBe(State.Failed);
    expect(svc.failureCase?.message).toBe('replay failed');
    expect(released).toBe(true);
  });

  it('stop is safe to call twice and before start', async () => {
    let stops = 0;
    const svc = new BasicService('t', { stopping: async () => void stops++ });
    await svc.start();
    await Promise.all([svc.stop(), svc.stop()]);
    await svc.stop();
    expect(stops).toBe(1);
    const never = new BasicService('n');
    await never.stop();
    expect(never.state).toBe(State.Terminated);
    await never.terminated();
  });

  it('stopping while starting aborts the start signal', async () => {
    let aborted = false;
    const svc = new BasicService('t', {
      starting: (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    const started = svc.start();
    await svc.stop();
    await started;
    expect(aborted).toBe(true);
    expect(svc.state).toBe(State.Terminated);
  });

  it('a running service that fails stops and tells its listeners', async () => {
    class Worker extends BasicService {
      crash(): void {
        this.fail(new Error('disk gone'));
      }
    }
    const w = new Worker('w');
    await w.start();
    const failed = new Promise<Error>((resolve) => w.onFailure(resolve));
    w.crash();
    expect((await failed).message).toBe('disk gone');
    expect(w.state).toBe(State.Failed);
  });
});
