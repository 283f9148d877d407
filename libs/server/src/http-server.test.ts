import { HttpServer, Router, sendText, type HttpServerOptions } from './http-server';
import http from 'node:http';
import { Code, ConnectError, MAX_ERROR_MESSAGE_CHARS, nopLogger } from '@stave/core';

describe('Router', () => {
  const r = new Router();
  const h = () => undefined;
  r.handle('GET', '/api/traces/:traceID', h);
  r.handle('GET', '/api/v2/traces/:traceID', h);
  r.handle(['GET', 'POST'], '/flush', h);
  r.handle('*', '/any', h);

  it.each([
    ['GET', '/api/traces/abc', '/api/traces/:traceID', { traceID: 'abc' }],
    ['HEAD', '/api/traces/abc', '/api/traces/:traceID', { traceID: 'abc' }],
    ['GET', '/api/v2/traces/a%20b', '/api/v2/traces/:traceID', { traceID: 'a b' }],
    ['POST', '/flush', '/flush', {}],
    ['DELETE', '/any', '/any', {}],
  ])('%s %s matches %s', (method, path, pattern, params) => {
    const m = r.match(method, path);
    expect(m).not.toBe('method-not-allowed');
    expect(m && m !== 'method-not-allowed' ? { pattern: m.route.pattern, params: m.params } : m).toEqual({ pattern, params });
  });

  it.each([['/api/traces/'], ['/api/traces'], ['/api/traces/a/b'], ['/nope']])('%s does not match', (path) => {
    expect(r.match('GET', path)).toBeUndefined();
  });

  it('tells a wrong method from a missing path', () => {
    expect(r.match('DELETE', '/flush')).toBe('method-not-allowed');
  });
});

describe('HttpServer', () => {
  async function serve(opts: Partial<HttpServerOptions>, register: (r: Router) => void): Promise<{ base: string; stop: () => Promise<void> }> {
    const s = new HttpServer({ name: 'http', address: '127.0.0.1', port: 0, logger: nopLogger, ...opts });
    register(s.router);
    await s.start();
    return { base: `http://127.0.0.1:${s.address().port}`, stop: () => s.stop() };
  }

  it('serves every route under server.http_path_prefix, and nothing outside it', async () => {
    const { base, stop } = await serve({ pathPrefix: '/tempo/' }, (r) => {
      r.handle('GET', '/ready', (_req, res) => sendText(res, 200, 'ready\n'));
      r.handle('GET', '/', (_req, res) => sendText(res, 200, 'root\n'));
    });
    try {
      expect(await (await fetch(`${base}/tempo/ready`)).text()).toBe('ready\n');
      expect(await (await fetch(`${base}/tempo`)).text()).toBe('root\n');
      expect((await fetch(`${base}/ready`)).status).toBe(404);
      expect((await fetch(`${base}/temporary/ready`)).status).toBe(404);
    } finally {
      await stop();
    }
  });

  it('closes the connection of a response still unfinished after server.http_server_write_timeout', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { base, stop } = await serve({ writeTimeoutMs: 200 }, (r) => {
      r.handle('GET', '/slow', async (_req, res) => {
        await held;
        sendText(res, 200, 'late\n');
      });
      r.handle('GET', '/fast', (_req, res) => sendText(res, 200, 'fast\n'));
    });
    try {
      await expect(fetch(`${base}/slow`)).rejects.toThrow();
      expect(await (await fetch(`${base}/fast`)).text()).toBe('fast\n');
    } finally {
      release();
      await stop();
    }
  });

  it('answers a malformed percent-escape or request target with 400, and keeps serving (it used to stop the process)', async () => {
    const { base, stop } = await serve({}, (r) => {
      r.handle('GET', '/api/traces/:traceID', (_req, res, params) => sendText(res, 200, params.traceID!));
    });
    const raw = (target: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${base}/`, { path: target, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const bad = await raw('/api/traces/%E0%A4%A');
      expect(bad).toEqual({ status: 400, body: 'malformed percent-encoding in path segment "%E0%A4%A"\n' });
      expect((await raw('//[')).status).toBe(400);
      expect(await raw('/api/traces/abc')).toEqual({ status: 200, body: 'abc' });
    } finally {
      await stop();
    }
  });

  it('answers a handler error with a capped first line, and no file paths in a 5xx', async () => {
    const { base, stop } = await serve({}, (r) => {
      r.handle('GET', '/long', () => {
        throw new ConnectError(`bad query ${'x'.repeat(5000)}`, Code.InvalidArgument);
      });
      r.handle('GET', '/disk', () => {
        throw new ConnectError("cannot read '/var/lib/stave/blocks/t/meta.json'\n    at read (node:fs:1)", Code.Unavailable);
      });
      r.handle('GET', '/bug', () => {
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      });
    });
    try {
      const long = await (await fetch(`${base}/long`)).text();
      expect(long.trimEnd().length).toBe(MAX_ERROR_MESSAGE_CHARS);
      expect(long.trimEnd().endsWith('…')).toBe(true);
      expect(await (await fetch(`${base}/disk`)).text()).toBe("cannot read '<path>'\n");
      const bug = await fetch(`${base}/bug`);
      expect([bug.status, await bug.text()]).toEqual([500, 'internal error (details are in the server log)\n']);
    } finally {
      await stop();
    }
  });
});
