// The internal RPC server: Connect over HTTP/2 cleartext, which also speaks gRPC and gRPC-Web, so the
// same port serves Stave's own services and gRPC clients. Modules register services during init; the
// router is fixed when the server starts.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { closeHttp2Gracefully, Http2Sessions } from './graceful-close';
import { BasicService, toPublicConnectError, validateTenantID, type Logger } from '@stave/core';
import { isPlainGrpc, serveUnaryBytes, type UnaryBytesHandler } from './grpc-unary';
import { listen } from './listen';

/**
 * What every gRPC/Connect port answers with: errors with the same code and metadata but a public message
 * (capped, first line only, no file paths in server-side failures; see @stave/core publicErrorMessage).
 */
export const publicErrorsInterceptor: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    throw toPublicConnectError(err);
  }
};

/**
 * Stave's internal requests name their tenant in a `tenant` field (PushBytes, FindTraceByID, Search,
 * SearchTags). The internal port is reachable, and the tenant becomes a directory name in the WAL and the
 * object store: a unary request whose tenant is not a valid tenant ID ("../x", "") is INVALID_ARGUMENT.
 */
export const tenantFieldInterceptor: Interceptor = (next) => (req) => {
  if (!req.stream) {
    const tenant = (req.message as { tenant?: unknown }).tenant;
    if (typeof tenant === 'string') validateTenantID(tenant);
  }
  return next(req);
};

export interface ConnectServerOptions {
  name: string;
  address: string;
  port: number;
  maxRecvBytes: number;
  maxSendBytes: number;
  maxConcurrentStreams?: number;
  interceptors?: Interceptor[];
  logger: Logger;
}

/** Per-stream and per-connection HTTP/2 receive windows (see starting()). */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

export class ConnectServer extends BasicService {
  private readonly registrations: Array<(router: ConnectRouter) => void> = [];
  private readonly unaryBytes = new Map<string, UnaryBytesHandler>();
  private server: http2.Http2Server | undefined;
  private readonly sessions = new Http2Sessions();

  constructor(private readonly opts: ConnectServerOptions) {
    super(opts.name);
  }

  /** Adds services to the router; only before start. */
  register(fn: (router: ConnectRouter) => void): void {
    if (this.server) throw new Error(`${this.name}: services must be registered before the server starts`);
    this.registrations.push(fn);
  }

  /**
   * Answers plain gRPC requests to `path` (`/package.Service/Method`) with `handler` on the message bytes,
   * without connect-es (grpc-unary.ts); the same path's Connect, gRPC-Web and compressed requests still
   * go to the service registered with `register`. Only before start.
   */
  registerUnaryBytes(path: string, handler: UnaryBytesHandler): void {
    if (this.server) throw new Error(`${this.name}: services must be registered before the server starts`);
    this.unaryBytes.set(path, handler);
  }

  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  protected override async starting(): Promise<void> {
    const handler = connectNodeAdapter({
      routes: (router) => {
        for (const r of this.registrations) r(router);
      },
      readMaxBytes: this.opts.maxRecvBytes,
      writeMaxBytes: this.opts.maxSendBytes,
      interceptors: [publicErrorsInterceptor, tenantFieldInterceptor, ...(this.opts.interceptors ?? [])],
    });
    // HTTP/2's default 64 KiB windows make a client stop every 64 KiB of a push until this process's event
    // loop reads and acknowledges it: a 200-span push of many traces (~150 KiB) took several round trips
    // through a busy loop. Windows of a few pushes let a request arrive in one go; the memory a client may
    // send ahead stays bounded by the window and by readMaxBytes.
    const unary = this.unaryBytes;
    const maxRecv = this.opts.maxRecvBytes;
    const server = http2.createServer(
      { settings: { maxConcurrentStreams: this.opts.maxConcurrentStreams ?? 100, initialWindowSize: STREAM_WINDOW_BYTES } },
      (req, res) => {
        const raw = unary.size > 0 && req.method === 'POST' ? unary.get(req.url) : undefined;
        if (raw && isPlainGrpc(req.headers)) serveUnaryBytes(req, res, raw, maxRecv);
        else handler(req, res);
      },
    );
    server.on('session', (session: http2.ServerHttp2Session) => {
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    this.sessions.track(server);
    this.server = server;
    const a = await listen(server, this.opts.port, this.opts.address);
    this.opts.logger.info('grpc server listening', { server: this.name, address: `${a.address}:${a.port}`, port: a.port });
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    // No grace timer here: App.shutdown owns the graceful period and calls destroySessions() when it ends.
    await closeHttp2Gracefully(server, this.sessions);
  }

  /** Ends every session now (after the graceful period). */
  destroySessions(): void {
    this.sessions.destroy();
  }
}
