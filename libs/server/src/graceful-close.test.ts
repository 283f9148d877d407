// Closing an HTTP/1 server under keep-alive load: no request is reset (REL-20 saw ECONNRESET when a
// distributor got SIGTERM, because http.Server#close() closed idle keep-alive connections while a client was
// writing its next request on one), the last answers carry `connection: close`, and requests in flight finish.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeHttpGracefully } from './graceful-close';
import { listen } from './listen';

interface Tally {
  ok: number;
  closeHeaders: number;
  errors: Record<string, number>;
}

/** Keep-alive clients posting in a loop until the server refuses them. */
function hammer(port: number, clients: number, tally: Tally): { stop: () => Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  let running = true;
  const one = (): Promise<string | undefined> =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-length': 512 } }, (res) => {
        if (res.headers.connection === 'close') tally.closeHeaders++;
        res.resume();
        res.on('end', () => {
          tally.ok++;
          resolve(undefined);
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? e.message;
        tally.errors[code] = (tally.errors[code] ?? 0) + 1;
        resolve(code);
      });
      req.end(Buffer.alloc(512));
    });
  const workers = Array.from({ length: clients }, async () => {
    for (let i = 0; running && i < 100_000; i++) {
      if ((await one()) === 'ECONNREFUSED') return;
      await new Promise((r) => setTimeout(r, i % 3));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
    },
  };
}

async function server(handlerDelayMs: number): Promise<{ server: http.Server; port: number }> {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok'), handlerDelayMs));
  });
  const a: AddressInfo = await listen(s, 0, '127.0.0.1');
  return { server: s, port: a.port };
}

describe('closeHttpGracefully', () => {
  it('resets no keep-alive request: 20 shutdowns under 4 busy clients, only refusals after the listener closed', async () => {
    const tally: Tally = { ok: 0, closeHeaders: 0, errors: {} };
    for (let round = 0; round < 20; round++) {
      const { server: s, port } = await server(round % 4);
      const load = hammer(port, 4, tally);
      const before = tally.ok;
      for (let i = 0; i < 200 && tally.ok < before + 20; i++) await new Promise((r) => setTimeout(r, 10));
      await closeHttpGracefully(s, 5000);
      await load.stop();
    }
    expect(Object.keys(tally.errors).filter((k) => k !== 'ECONNREFUSED')).toEqual([]);
    expect(tally.closeHeaders).toBeGreaterThan(0);
  });

  it('finishes a request in flight and answers it with connection: close', async () => {
    let answer: (() => void) | undefined;
    const s = http.createServer((req, res) => {
      req.resume();
      answer = () => res.writeHead(200, { 'content-length': 2 }).end('ok');
    });
    const { port } = await listen(s, 0, '127.0.0.1');
    const agent = new http.Agent({ keepAlive: true });
    const got = new Promise<{ status: number; connection?: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
        })
        .on('error', reject);
    });
    for (let i = 0; i < 500 && !answer; i++) await new Promise((r) => setTimeout(r, 10));
    const closing = closeHttpGracefully(s, 5000);
    answer!();
    expect(await got).toEqual({ status: 200, connection: 'close' });
    await closing;
    agent.destroy();
  });
});
