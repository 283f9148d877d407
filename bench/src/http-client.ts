// One HTTP exchange on a keep-alive agent, never rejecting: a network error or timeout comes back as
// status 0 with the error code, so callers count failures instead of unwinding.

import http from 'node:http';

export interface HttpResult {
  /** HTTP status, or 0 when no response arrived (see `error`). */
  status: number;
  contentType: string;
  body: Buffer;
  error?: string;
  /** The Retry-After header, when the answer had one. */
  retryAfter?: string;
}

export interface HttpRequest {
  host: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export function httpRequest(agent: http.Agent, r: HttpRequest): Promise<HttpResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (res: HttpResult): void => {
      if (!done) {
        done = true;
        resolve(res);
      }
    };
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body) headers['content-length'] = r.body.length;
    const req = http.request({ agent, host: r.host, port: r.port, method: r.method, path: r.path, headers, timeout: r.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const retryAfter = res.headers['retry-after'];
      res.on('end', () =>
        finish({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks),
          ...(retryAfter ? { retryAfter } : {}),
        }),
      );
      res.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, contentType: '', body: Buffer.alloc(0), error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, contentType: '', body: Buffer.alloc(0), error: err.code ?? err.message }));
    req.end(r.body);
  });
}
