// The process runtime as the entry point sees it: a module that fails while running stops the process
// with exit 1 (also from inside a group), an unhandled promise rejection does too, and a module's
// shutdown request (`/shutdown`) stops it cleanly with exit 0.

import { BasicService, ModuleManager, State, type AppContext, type Service } from '@stave/server';
import { runCli } from './cli';
import { group } from './modules';

/** A service that fails on its own once running, as a module hitting an unrecoverable error does. */
class FailsWhileRunning extends BasicService {
  constructor(private readonly afterMs: number) {
    super('fragile');
  }
  protected override async starting(): Promise<void> {
    setTimeout(() => this.fail(new Error('disk on fire')), this.afterMs).unref();
  }
}

function graph(build: (ctx: AppContext) => Service): ModuleManager<AppContext> {
  return new ModuleManager<AppContext>().register({ name: 'mod', deps: [], userVisible: true, init: build });
}

const quiet = { stdout: () => undefined, stderr: () => undefined };
const ARGS = ['-target=mod', '-server.log-level=error'];

describe('group', () => {
  it('fails when a child fails while running, with the cause, and stops the other children', async () => {
    const steady = new BasicService('steady');
    const fragile = new FailsWhileRunning(10);
    const g = group('pair', [steady, fragile]);
    const failed = new Promise<Error>((resolve) => g.onFailure(resolve));
    await g.start();
    expect(g.state).toBe(State.Running);
    const err = await failed;
    expect(err.message).toBe('fragile failed: disk on fire');
    expect(g.state).toBe(State.Failed);
    expect(steady.state).toBe(State.Terminated);
  });
});

describe('runCli', () => {
  it('exits 1 when a module fails while running (from inside a group)', async () => {
    const code = await runCli(ARGS, { ...quiet, modules: graph(() => group('mod', [new BasicService('steady'), new FailsWhileRunning(20)])) });
    expect(code).toBe(1);
  });

  it('exits 1 when a module fails while a later one is still starting', async () => {
    const modules = new ModuleManager<AppContext>().register({ name: 'first', deps: [], init: () => new FailsWhileRunning(5) }).register({
      name: 'mod',
      deps: ['first'],
      userVisible: true,
      init: () => new BasicService('slow', { starting: () => new Promise((r) => setTimeout(r, 100)) }),
    });
    expect(await runCli(ARGS, { ...quiet, modules })).toBe(1);
  });

  it('exits 0 when a module asks for a shutdown (/shutdown)', async () => {
    let stopped = false;
    const modules = graph((ctx) => {
      setTimeout(() => ctx.requestShutdown('test'), 20).unref();
      return new BasicService('mod', { stopping: async () => void (stopped = true) });
    });
    expect(await runCli(ARGS, { ...quiet, modules })).toBe(0);
    expect(stopped).toBe(true);
  });

  it('exits 1 on an unhandled promise rejection, and removes its process handlers', async () => {
    const before = process.listenerCount('unhandledRejection');
    const modules = graph(
      () =>
        new BasicService('mod', {
          starting: async () => void setTimeout(() => process.emit('unhandledRejection', new Error('forgotten'), Promise.resolve()), 20),
        }),
    );
    expect(await runCli(ARGS, { ...quiet, modules })).toBe(1);
    expect(process.listenerCount('unhandledRejection')).toBe(before);
  });
});
