// The guard against connect-es issue 1768: an error Node raises on a client session after the session
// manager has taken its listeners off (it does so when it leaves the session's state) must not escape as an
// unhandled 'error' event, which kills the process (REL-07 lost a distributor to it).

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Http2SessionManager } from '@connectrpc/connect-node';
import { GuardedSessionManager } from './grpc-transport';

describe('GuardedSessionManager', () => {
  let server: http2.Http2Server;
  let url: string;
  const sessions = new Set<http2.ServerHttp2Session>();
  beforeAll(async () => {
    server = http2.createServer();
    server.on('session', (s) => sessions.add(s));
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** A request through `mgr`; resolves with its session once the answer has been read. */
  async function sessionOf(mgr: Http2SessionManager): Promise<http2.ClientHttp2Session> {
    const stream = await mgr.request('POST', '/x', {}, {});
    // Taken now: a closed stream no longer names its session.
    const session = stream.session as http2.ClientHttp2Session;
    stream.end();
    stream.resume();
    await new Promise((r) => stream.once('close', r));
    return session;
  }

  it('keeps a listener of its own on every session, so a late session error is dropped, not thrown', async () => {
    const plain = new Http2SessionManager(url, {});
    const plainSession = await sessionOf(plain);
    // What the manager does when it leaves the session's state: its listener goes.
    for (const l of plainSession.listeners('error')) plainSession.off('error', l as (err: Error) => void);
    expect(plainSession.listenerCount('error')).toBe(0);
    plain.abort();

    const guarded = new GuardedSessionManager(url, {});
    const session = await sessionOf(guarded);
    // The manager's listener came first, the guard after the first request.
    const [managers] = session.listeners('error');
    session.off('error', managers as (err: Error) => void);
    expect(session.listenerCount('error')).toBe(1);
    const closed = new Promise((r) => session.once('close', r));
    session.destroy(new Error('received GOAWAY without any open streams'));
    await closed;
    // A second request on the same manager opens a new, guarded session.
    const next = await sessionOf(guarded);
    expect(next).not.toBe(session);
    expect(next.listenerCount('error')).toBeGreaterThanOrEqual(2);
    guarded.abort();
  });
});
