// Closing a server gracefully: stop accepting, let requests in flight finish, and cut whatever is still
// open once the grace period is over. One implementation for the HTTP/1 and HTTP/2 servers of every
// component, so that they all drain the same way.

import http from 'node:http';
import type http2 from 'node:http2';

/**
 * How long a closing HTTP/1 server keeps its idle keep-alive connections open. A client may be writing a
 * request on one of them right now: closing it under that request resets it (ECONNRESET), while a request
 * that arrives within the linger is answered with `connection: close`. Connections told to close end the
 * linger early; those still idle after it are closed.
 */
export const HTTP_CLOSE_LINGER_MS = 1000;

/** What a closing HTTP/1 server needs to answer its last requests with `connection: close`. */
interface HttpDrain {
  closing: boolean;
  /** Responses in flight (tracked since `trackHttpRequests`). */
  readonly inFlight: Set<http.ServerResponse>;
}

const drains = new WeakMap<http.Server, HttpDrain>();

function drainOf(server: http.Server): HttpDrain {
  const known = drains.get(server);
  if (known) return known;
  const drain: HttpDrain = { closing: false, inFlight: new Set() };
  drains.set(server, drain);
  // Before the server's own handler, so even a response written at once carries the header.
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (drain.closing) {
      res.shouldKeepAlive = false;
      return;
    }
    drain.inFlight.add(res);
    res.once('close', () => drain.inFlight.delete(res));
  });
  return drain;
}

/**
 * Tracks the requests in flight on `server` so that `closeHttpGracefully` can mark their responses
 * `connection: close` (`listen` calls it for every HTTP/1 server).
 */
export function trackHttpRequests(server: http.Server): void {
  drainOf(server);
}

/** The open sessions of an HTTP/2 server: net.Server tracks sockets, but GOAWAY is sent per session. */
export class Http2Sessions {
  private readonly open = new Set<http2.Http2Session>();

  /** Tracks every session `server` accepts, until it closes. */
  track(server: http2.Http2Server): void {
    server.on('session', (s) => {
      this.open.add(s);
      s.once('close', () => this.open.delete(s));
    });
  }

  /** GOAWAY: streams in flight finish, new ones go elsewhere. */
  goAway(): void {
    for (const s of this.open) s.close();
  }

  /** Ends every session now (after the graceful period). */
  destroy(): void {
    for (const s of this.open) s.destroy();
  }
}

/**
 * Stops `server` and sends GOAWAY on every session; after `graceMs` the sessions still open are destroyed.
 * Without `graceMs` it waits for the streams in flight however long they take (the caller cuts them with
 * `sessions.destroy()`).
 */
export async function closeHttp2Gracefully(server: http2.Http2Server, sessions: Http2Sessions, graceMs?: number): Promise<void> {
  const closed = closedPromise(server);
  sessions.goAway();
  if (graceMs !== undefined && !(await settlesWithin(closed, graceMs))) sessions.destroy();
  await closed;
}

/**
 * Stops `server` without resetting a request: the listener closes (new connections go elsewhere), responses
 * in flight that have not started and every request arriving on an open keep-alive connection are answered
 * with `connection: close`, and the connection ends after that answer. Idle connections stay open for
 * `lingerMs` (a request may be on its way on one), then close; whatever is still open after `graceMs` is cut.
 * Without `graceMs` it waits for the requests in flight however long they take (the caller cuts them with
 * `server.closeAllConnections()`).
 */
export async function closeHttpGracefully(server: http.Server, graceMs?: number, lingerMs = HTTP_CLOSE_LINGER_MS): Promise<void> {
  const drain = drainOf(server);
  drain.closing = true;
  for (const res of drain.inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
  // http.Server#close() also closes every idle connection at once, which is the reset this avoids: shadow
  // that step for the one call (the prototype's method is back right after).
  let closed!: Promise<void>;
  server.closeIdleConnections = () => undefined;
  try {
    closed = closedPromise(server);
  } finally {
    Reflect.deleteProperty(server, 'closeIdleConnections');
  }
  const linger = graceMs === undefined ? lingerMs : Math.min(lingerMs, graceMs);
  if (await settlesWithin(closed, linger)) return;
  server.closeIdleConnections();
  if (graceMs !== undefined && !(await settlesWithin(closed, Math.max(0, graceMs - linger)))) server.closeAllConnections();
  await closed;
}

function closedPromise(server: http.Server | http2.Http2Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/** True when `p` settles within `ms`; the timer does not outlive the wait. */
async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), grace]);
  } finally {
    clearTimeout(timer);
  }
}
