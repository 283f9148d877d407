import { Router } from './http-server';

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
