import { nopLogger, type PageRequest } from '@stave/core';
import { HttpServer } from './http-server';
import { pageHandler } from './status-page';

describe('pageHandler on a real HTTP server', () => {
  let server: HttpServer;
  let base: string;
  const seen: PageRequest[] = [];

  beforeAll(async () => {
    server = new HttpServer({ name: 'http', address: '127.0.0.1', port: 0, logger: nopLogger });
    server.router.handle(
      ['GET', 'POST'],
      '/page',
      pageHandler((req) => {
        seen.push(req);
        if (req.method === 'POST') return { status: 302, contentType: 'text/plain; charset=utf-8', body: '', location: '#' };
        return { status: 200, contentType: 'application/json', body: JSON.stringify({ tokens: req.query.get('tokens') }) };
      }),
    );
    await server.start();
    base = `http://127.0.0.1:${server.address().port}`;
  });
  afterAll(() => server.stop());

  test('GET: the page reads the Accept header and the query; its body and content type are answered, not cached', async () => {
    const res = await fetch(`${base}/page?tokens=true`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ tokens: 'true' });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', accept: 'application/json' });
  });

  test('POST: the form fields reach the page; a redirect carries its location', async () => {
    const res = await fetch(`${base}/page`, { method: 'POST', body: new URLSearchParams({ forget: 'ingester-1' }), redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('#');
    expect(seen.at(-1)!.form.get('forget')).toBe('ingester-1');
  });

  test('a form over 64 KiB is refused with 400 naming the limit', async () => {
    const res = await fetch(`${base}/page`, { method: 'POST', body: new URLSearchParams({ forget: 'x'.repeat(70 * 1024) }) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/more than 65536 bytes/);
  });
});
