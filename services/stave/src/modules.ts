// Stave's module graph: which modules exist, what each depends on, and which are valid -target values.
// Component modules are wired here from their libraries; this file holds no business logic.

import { BasicService, ModuleManager, ServerService, type AppContext } from '@stave/server';

/** The components a fleet scales separately; each is also its own deployable under services/. */
export const COMPONENTS = ['distributor', 'ingester', 'querier', 'query-frontend', 'compactor', 'metrics-generator'] as const;
export type Component = (typeof COMPONENTS)[number];

/**
 * A component whose behaviour has not landed yet: it starts, reports ready and stops like any other, so
 * targets and deployments can be exercised end to end before the component's issue is done.
 */
function placeholder(name: Component) {
  return (ctx: AppContext) => {
    const log = ctx.logger.child({ component: name });
    return new BasicService(name, {
      starting: async () => log.info('module running; no behaviour yet'),
    });
  };
}

export function staveModules(): ModuleManager<AppContext> {
  const m = new ModuleManager<AppContext>();
  m.register({ name: 'server', deps: [], init: (ctx) => new ServerService(ctx.http, ctx.grpc) });
  for (const name of COMPONENTS) m.register({ name, deps: ['server'], init: placeholder(name), userVisible: true });
  m.register({ name: 'all', deps: [...COMPONENTS], userVisible: true });
  return m;
}
