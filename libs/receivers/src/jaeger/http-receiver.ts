// The HTTP listener both the Jaeger thrift-HTTP and the Zipkin receivers run on: binds in `starting`,
// drains in `stopping` (in-flight requests finish; idle keep-alive connections close at once; whatever is
// still open after the grace period is cut), and answers handler failures with sendFailure's mapping.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BasicService, closeHttpGracefully, type Logger } from '@stave/server';
import { listenReceiver, parseEndpoint } from '../endpoint';
import type { TracePusher } from '../pusher';
import { HttpError, sendFailure } from './receiver-common';

export interface HttpReceiverBaseOptions {
  /** "host:port"; port 0 picks a free port (see address()). */
  endpoint: string;
  logger: Logger;
  /** Largest accepted body, compressed or not. */
  maxRequestBytes: number;
  /** Retry-After (seconds) on 429/503 when the pusher's error does not carry one. */
  retryAfterSeconds: number;
  /** How long `stopping` waits for in-flight requests before cutting connections. */
  shutdownTimeoutMs: number;
}

/** What a Jaeger thrift-HTTP or Zipkin receiver is given; unset limits take the defaults below. */
export interface HttpReceiverOptions {
  pusher: TracePusher;
  logger: Logger;
  /** Default: the receiver's own port on 0.0.0.0. */
  endpoint?: string;
  /** Default 20 MiB. */
  maxRequestBytes?: number;
  /** Default 1. */
  retryAfterSeconds?: number;
  /** Default 10 s. */
  shutdownTimeoutMs?: number;
}

export abstract class HttpReceiver extends BasicService {
  private server: http.Server | undefined;
  protected readonly base: HttpReceiverBaseOptions;
  protected readonly pusher: TracePusher;

  protected constructor(
    name: string,
    protected readonly receiver: string,
    defaultEndpoint: string,
    opts: HttpReceiverOptions,
  ) {
    super(name);
    this.pusher = opts.pusher;
    this.base = {
      endpoint: opts.endpoint ?? defaultEndpoint,
      logger: opts.logger,
      maxRequestBytes: opts.maxRequestBytes ?? 20 << 20,
      retryAfterSeconds: opts.retryAfterSeconds ?? 1,
      shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 10_000,
    };
  }

  /** Serves one request; a throw is answered by sendFailure (HttpError status, or the ConnectError code's). */
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void>;

  /** The bound address once running (the real port when configured with port 0). */
  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  protected override async starting(): Promise<void> {
    const endpoint = parseEndpoint(this.base.endpoint);
    const server = http.createServer({ requestTimeout: 60_000 }, (req, res) => {
      // dispatch() answers every failure itself; this catches only a failure to answer (a bug).
      this.dispatch(req, res).catch((err: unknown) => {
        this.base.logger.error('request handler failed', { receiver: this.receiver, err });
        res.destroy();
      });
    });
    this.server = server;
    await listenReceiver(server, endpoint, this.base.logger, this.receiver);
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await closeHttpGracefully(server, this.base.shutdownTimeoutMs);
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      await this.handle(req, res, path);
    } catch (err) {
      await sendFailure(req, res, err, this.base.retryAfterSeconds, this.base.logger, this.receiver);
    }
  }

  /** 405 for a known path with the wrong method. */
  protected requirePost(req: http.IncomingMessage): void {
    if (req.method !== 'POST') {
      throw new HttpError(405, `method ${req.method ?? ''} not allowed: use POST`, { allow: 'POST' });
    }
  }

  protected static accepted(res: http.ServerResponse): void {
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  }
}
