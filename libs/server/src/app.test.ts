import { App, ServerService, type AppContext } from './app';
import { parseConfig } from './config/load';
import { staveConfigSchema } from './config/stave-config';
import { BasicService, nopLogger } from '@stave/core';
import { ModuleManager } from './modules';

const buildInfo = { version: '1.2.3', revision: 'abc', branch: 'main', buildUser: 'ci', buildDate: 'today' };
const config = parseConfig(staveConfigSchema, {
  server: { http_listen_address: '127.0.0.1', http_listen_port: 0, grpc_listen_address: '127.0.0.1', grpc_listen_port: 0 },
}).config;

function appWithGate() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const m = new ModuleManager<AppContext>()
    .register({ name: 'server', deps: [], init: (ctx) => new ServerService(ctx.http, ctx.grpc) })
    .register({ name: 'slow', deps: ['server'], init: () => new BasicService('slow', { starting: () => gate }), userVisible: true });
  const app = new App(m, { config, target: 'slow', buildInfo, logger: nopLogger });
  return { app, open };
}

describe('App', () => {
  it('is not ready until every module runs, and not ready once shutdown begins', async () => {
    const { app, open } = appWithGate();
    const started = app.start();
    const base = await waitForPort(app);
    const starting = await fetch(`${base}/ready`);
    expect(starting.status).toBe(503);
    expect(await starting.text()).toContain('slow: Starting');
    open();
    await started;
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    const stopping = app.shutdown(5000);
    expect(app.isReady().ready).toBe(false);
    expect(await stopping).toBe(true);
  });

  it('serves the standard endpoints', async () => {
    const { app, open } = appWithGate();
    open();
    await app.start();
    const base = `http://127.0.0.1:${app.ctx.http.address().port}`;
    try {
      expect(await (await fetch(`${base}/api/echo`)).text()).toBe('echo');
      expect(await (await fetch(`${base}/api/status/buildinfo`)).json()).toMatchObject({ version: '1.2.3', revision: 'abc' });
      expect((await fetch(`${base}/api/echo`, { method: 'POST' })).status).toBe(405);
      expect(await (await fetch(`${base}/status/services`)).text()).toBe('server: Running\nslow: Running\n');
      expect((await fetch(`${base}/status/config?mode=bogus`)).status).toBe(400);
      expect(await (await fetch(`${base}/status/config?mode=defaults`)).text()).toContain('http_listen_port: 3200');
    } finally {
      await app.shutdown(5000);
    }
  });
});

async function waitForPort(app: App): Promise<string> {
  for (let i = 0; i < 200; i++) {
    try {
      return `http://127.0.0.1:${app.ctx.http.address().port}`;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error('http server never listened');
}
