// The fault proxy against a real echo server on loopback: each mode does what the scenarios rely on, and
// switching to `refuse` completes while a keep-alive connection is open (it once waited for it forever).

import net from 'node:net';
import { FaultProxy } from './support/fault-proxy';

function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => s.pipe(s));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Connects, writes `msg`, and resolves with what came back (or the error code) within `ms`. */
function exchange(port: number, msg: string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (v: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done('no answer'), ms);
    let got = '';
    s.on('connect', () => s.write(msg));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) done(got);
    });
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

describe('FaultProxy', () => {
  let echo: net.Server;
  let proxy: FaultProxy;
  beforeEach(async () => {
    echo = await echoServer();
    proxy = new FaultProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
    await proxy.start();
  });
  afterEach(async () => {
    await proxy.close();
    await new Promise((r) => echo.close(r));
  });

  it('passes bytes both ways, with added latency when asked', async () => {
    expect(await exchange(proxy.port, 'hello')).toBe('hello');
    await proxy.set('pass', { latencyMs: 150 });
    const t0 = Date.now();
    expect(await exchange(proxy.port, 'slow')).toBe('slow');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('holds the answers back when slow draws under its chance, and only the answers', async () => {
    let draws = 0;
    await proxy.set('pass', { slow: { chance: 0.5, ms: 400, draw: () => (draws++ % 2 === 0 ? 0.9 : 0.1) } });
    const t0 = Date.now();
    expect(await exchange(proxy.port, 'a')).toBe('a');
    expect(Date.now() - t0).toBeLessThan(400);
    expect(await exchange(proxy.port, 'b')).toBe('b');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(draws).toBe(2);
    await proxy.set('pass', { slow: null });
    expect(proxy.slow).toBeUndefined();
  });

  it('refuses on the same port, resetting open connections, and passes again after', async () => {
    const port = proxy.port;
    const open = net.connect(port, '127.0.0.1');
    await new Promise((r) => open.once('connect', r));
    const reset = new Promise<string>((r) => open.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? '')).once('close', () => r('closed')));
    open.on('error', () => undefined);
    await proxy.set('refuse');
    expect(['ECONNRESET', 'closed']).toContain(await reset);
    expect(await exchange(port, 'x')).toBe('ECONNREFUSED');
    await proxy.set('pass');
    expect(proxy.port).toBe(port);
    expect(await exchange(port, 'back')).toBe('back');
  });

  it('resets new connections in reset mode and holds them silently in blackhole mode', async () => {
    await proxy.set('reset');
    expect(await exchange(proxy.port, 'x')).toBe('ECONNRESET');
    await proxy.set('blackhole');
    expect(await exchange(proxy.port, 'x', 300)).toBe('no answer');
    expect(proxy.stats.held).toBe(1);
  });
});
