import { BasicService, State } from '@stave/core';
import { ModuleManager, UnknownTargetError } from './modules';

function recorder() {
  const events: string[] = [];
  const svc = (name: string, failStart = false) =>
    new BasicService(name, {
      starting: async () => {
        if (failStart) throw new Error(`${name} broke`);
        events.push(`start ${name}`);
      },
      stopping: async () => void events.push(`stop ${name}`),
    });
  return { events, svc };
}

describe('ModuleManager', () => {
  const graph = (failing?: string) => {
    const { events, svc } = recorder();
    const m = new ModuleManager<null>()
      .register({ name: 'server', deps: [], init: () => svc('server') })
      .register({ name: 'store', deps: ['server'], init: () => svc('store', failing === 'store') })
      .register({ name: 'ring', deps: ['server'], init: () => svc('ring') })
      .register({ name: 'ingester', deps: ['store', 'ring'], init: () => svc('ingester', failing === 'ingester'), userVisible: true })
      .register({ name: 'querier', deps: ['store', 'ring'], init: () => svc('querier'), userVisible: true })
      .register({ name: 'all', deps: ['ingester', 'querier'], userVisible: true });
    return { m, events };
  };

  it('orders every module after its dependencies', () => {
    const { m } = graph();
    expect(m.resolve(['all'])).toEqual(['server', 'store', 'ring', 'ingester', 'querier', 'all']);
    expect(m.resolve(['querier'])).toEqual(['server', 'store', 'ring', 'querier']);
  });

  it('starts in dependency order and stops in reverse', async () => {
    const { m, events } = graph();
    const running = await m.init(['ingester'], null);
    await running.start();
    expect(running.notRunning()).toEqual([]);
    await running.stop();
    expect(events).toEqual(['start server', 'start store', 'start ring', 'start ingester', 'stop ingester', 'stop ring', 'stop store', 'stop server']);
  });

  it('stops what started when a module fails to start', async () => {
    const { m, events } = graph('ingester');
    const running = await m.init(['all'], null);
    await expect(running.start()).rejects.toThrow('ingester broke');
    // The failed module releases what its start acquired; the ones before it stop in reverse.
    expect(events).toEqual(['start server', 'start store', 'start ring', 'stop ingester', 'stop ring', 'stop store', 'stop server']);
    expect(running.states().find((s) => s.name === 'ingester')).toMatchObject({ state: State.Failed, failure: 'ingester broke' });
  });

  it('rejects an unknown or internal target, listing the user targets', () => {
    const { m } = graph();
    for (const t of ['nonsense', 'store']) {
      const err = (() => {
        try {
          m.resolve([t]);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(UnknownTargetError);
      expect((err as Error).message).toBe(`unknown target "${t}"; valid targets: all, ingester, querier`);
    }
  });

  it('names a dependency cycle', () => {
    const m = new ModuleManager<null>().register({ name: 'a', deps: ['b'], userVisible: true }).register({ name: 'b', deps: ['a'] });
    expect(() => m.resolve(['a'])).toThrow('module dependency cycle: a → b → a');
  });
});
