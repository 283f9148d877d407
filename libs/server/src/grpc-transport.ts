// The gRPC client transport every component uses to call another (distributor → ingesters, querier →
// frontend and ingesters, distributor → metrics-generators). It is connect-node's, with one guard: a
// session that receives GOAWAY with no open stream is destroyed with an error that Node raises only once
// the socket has closed; if the session manager has moved on by then, nothing listens for it and the
// process dies of an unhandled 'error' event (connect-es issue 1768). REL-07 (rolling restart) crashed a
// distributor that way when an ingester restarted. Every session gets a listener of its own, so such a
// late error is dropped (the streams it concerned have failed with their own errors already).

import type http2 from 'node:http2';
import { createGrpcTransport, Http2SessionManager, type GrpcTransportOptions } from '@connectrpc/connect-node';
import type { Transport } from '@connectrpc/connect';

type Ping = Pick<GrpcTransportOptions, 'pingIntervalMs' | 'pingTimeoutMs' | 'pingIdleConnection' | 'idleConnectionTimeoutMs'>;

/** An Http2SessionManager whose sessions never raise an unhandled 'error'. */
export class GuardedSessionManager extends Http2SessionManager {
  private readonly guarded = new WeakSet<http2.Http2Session>();

  override async request(...args: Parameters<Http2SessionManager['request']>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const session = stream.session;
    if (session && !this.guarded.has(session)) {
      this.guarded.add(session);
      session.on('error', () => undefined);
    }
    return stream;
  }
}

/** connect-node's gRPC transport on a GuardedSessionManager (the ping options go to the manager). */
export function grpcTransport(options: Omit<GrpcTransportOptions, 'sessionManager' | 'httpVersion'>): Transport {
  const ping: Ping = {};
  if (options.pingIntervalMs !== undefined) ping.pingIntervalMs = options.pingIntervalMs;
  if (options.pingTimeoutMs !== undefined) ping.pingTimeoutMs = options.pingTimeoutMs;
  if (options.pingIdleConnection !== undefined) ping.pingIdleConnection = options.pingIdleConnection;
  if (options.idleConnectionTimeoutMs !== undefined) ping.idleConnectionTimeoutMs = options.idleConnectionTimeoutMs;
  return createGrpcTransport({ ...options, sessionManager: new GuardedSessionManager(options.baseUrl, ping, options.nodeOptions) });
}
