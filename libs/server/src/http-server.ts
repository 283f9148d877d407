// The HTTP server: a small router (exact segments and `:param` segments), Tempo's request-duration
// metric, and errors answered as plain text with the status their code maps to.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Histogram, type Registry } from 'prom-client';
import { BasicService, Code, codeOf, ConnectError, httpStatusOf, publicErrorMessage, truncateMessage, type Logger } from '@stave/core';
import { closeHttpGracefully } from './graceful-close';
import { listen } from './listen';

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse, params: Readonly<Record<string, string>>, url: URL) => void | Promise<void>;

interface Route {
  method: string; // '*' for any
  pattern: string;
  segments: string[];
  handler: HttpHandler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** Registers a handler; `method` may be '*' for any method. Later exact routes do not shadow earlier ones. */
  handle(method: string | readonly string[], pattern: string, handler: HttpHandler): void {
    for (const m of typeof method === 'string' ? [method] : method) {
      this.routes.push({ method: m.toUpperCase(), pattern, segments: pattern.split('/'), handler });
    }
  }

  match(method: string, path: string): { route: Route; params: Record<string, string> } | 'method-not-allowed' | undefined {
    const parts = path.split('/');
    let pathMatched = false;
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const seg = route.segments[i]!;
        if (seg.startsWith(':')) {
          if (parts[i] === '') {
            ok = false;
            break;
          }
          params[seg.slice(1)] = decodePathSegment(parts[i]!);
        } else if (seg !== parts[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathMatched = true;
      if (route.method === '*' || route.method === method || (route.method === 'GET' && method === 'HEAD')) return { route, params };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

/** decodeURIComponent, with a malformed escape ("%E0%A4%A") a 400 naming it rather than a URIError. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ConnectError(`malformed percent-encoding in path segment ${JSON.stringify(segment)}`, Code.InvalidArgument);
  }
}

export interface HttpServerOptions {
  name: string;
  address: string;
  port: number;
  readTimeoutMs?: number;
  /**
   * Go's WriteTimeout (server.http_server_write_timeout): a response not finished this long after the
   * request arrived has its connection closed. 0 or absent: no limit.
   */
  writeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** dskit's server.http_path_prefix: every route is served under this prefix; other paths answer 404. */
  pathPrefix?: string;
  registry?: Registry;
  logger: Logger;
}

export function sendText(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Histograms are shared per registry: several servers in one process report into one metric. */
const durationMetrics = new WeakMap<Registry, Histogram<'method' | 'route' | 'status_code' | 'ws'>>();

function requestDuration(registry: Registry): Histogram<'method' | 'route' | 'status_code' | 'ws'> {
  let h = durationMetrics.get(registry);
  if (!h) {
    // Tempo's name and labels, which Grafana's Tempo dashboards query.
    h = new Histogram({
      name: 'tempo_request_duration_seconds',
      help: 'Time (in seconds) spent serving HTTP requests.',
      labelNames: ['method', 'route', 'status_code', 'ws'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100],
      registers: [registry],
    });
    durationMetrics.set(registry, h);
  }
  return h;
}

export class HttpServer extends BasicService {
  readonly router = new Router();
  private server: http.Server | undefined;
  private readonly duration: Histogram<'method' | 'route' | 'status_code' | 'ws'> | undefined;

  constructor(private readonly opts: HttpServerOptions) {
    super(opts.name);
    this.duration = opts.registry ? requestDuration(opts.registry) : undefined;
  }

  /** The bound address once Running (the real port when configured with port 0). */
  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  protected override async starting(): Promise<void> {
    const server = http.createServer({ requestTimeout: this.opts.readTimeoutMs ?? 30_000 }, (req, res) => {
      // dispatch() answers every failure itself; this catches only a failure to answer (a bug), which must
      // cost that request its connection, never the process.
      this.dispatch(req, res).catch((err: unknown) => {
        this.opts.logger.error('request handler failed', { server: this.name, err });
        res.destroy();
      });
    });
    server.keepAliveTimeout = this.opts.idleTimeoutMs ?? 120_000;
    this.server = server;
    const a = await listen(server, this.opts.port, this.opts.address);
    this.opts.logger.info('http server listening', { server: this.name, address: `${a.address}:${a.port}`, port: a.port });
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    // The app cuts what is still open when its grace period is over (closeAllConnections).
    await closeHttpGracefully(server);
  }

  /** Closes connections still open (called when the graceful period is over). */
  closeAllConnections(): void {
    this.server?.closeAllConnections();
  }

  /** The path the router sees: `pathname` without the path prefix; undefined when outside the prefix. */
  private routedPath(pathname: string): string | undefined {
    const prefix = (this.opts.pathPrefix ?? '').replace(/\/+$/, '');
    if (prefix === '') return pathname;
    if (pathname === prefix) return '/';
    return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : undefined;
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const start = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const writeTimeout = this.opts.writeTimeoutMs ? setTimeout(() => res.destroy(), this.opts.writeTimeoutMs) : undefined;
    if (writeTimeout) res.once('close', () => clearTimeout(writeTimeout));
    let route = 'other';
    try {
      const url = parseRequestURL(req.url);
      const pathname = this.routedPath(url.pathname);
      const m = pathname === undefined ? undefined : this.router.match(method, pathname);
      if (m === undefined) {
        sendText(res, 404, '404 page not found\n');
      } else if (m === 'method-not-allowed') {
        sendText(res, 405, truncateMessage(`method ${method} not allowed on ${url.pathname}`) + '\n');
      } else {
        route = m.route.pattern;
        await m.route.handler(req, res, m.params, url);
      }
    } catch (err) {
      const status = httpStatusOf(codeOf(err));
      if (status >= 500) this.opts.logger.error('request failed', { route, err });
      // Capped, first line only, no paths of this machine in a 5xx (publicErrorMessage).
      if (!res.headersSent) sendText(res, status, publicErrorMessage(err, status) + '\n');
      else res.destroy();
    } finally {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.duration?.observe({ method, route, status_code: String(res.statusCode), ws: 'false' }, seconds);
    }
  }
}

/** The request's URL; one that does not parse ("//[") is a 400. */
function parseRequestURL(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://localhost');
  } catch {
    throw new ConnectError(`malformed request target ${JSON.stringify(truncateMessage(raw ?? ''))}`, Code.InvalidArgument);
  }
}

/** How much of an over-size body readBody reads and drops before answering, so the client sees the answer. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Reads a request body up to `limit` bytes; a larger body is an InvalidArgument naming the limit, thrown
 * once the rest of it has been read and dropped (up to MAX_DRAIN_BYTES), so that the client, still
 * uploading, is not cut off (EPIPE) before the answer. Events, not `for await`: leaving the iterator early
 * would destroy the socket.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () => new ConnectError(`request body too large: more than ${limit} bytes`, Code.InvalidArgument);
    const finish = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit + MAX_DRAIN_BYTES) {
        finish();
        req.destroy();
        reject(tooLarge());
      } else if (size <= limit) chunks.push(chunk);
    };
    const onEnd = (): void => {
      finish();
      if (size > limit) reject(tooLarge());
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      finish();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
