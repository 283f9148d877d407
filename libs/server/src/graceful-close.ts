// Closing a server gracefully: stop accepting, let requests in flight finish, and cut whatever is still
// open once the grace period is over. One implementation for the HTTP/1 and HTTP/2 servers of every
// component, so that they all drain the same way.

import type http from 'node:http';
import type http2 from 'node:http2';

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
 * Stops `server`: idle keep-alive connections close at once, requests in flight finish, and the
 * connections still open after `graceMs` are cut.
 */
export async function closeHttpGracefully(server: http.Server, graceMs: number): Promise<void> {
  const closed = closedPromise(server);
  server.closeIdleConnections();
  if (!(await settlesWithin(closed, graceMs))) server.closeAllConnections();
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
