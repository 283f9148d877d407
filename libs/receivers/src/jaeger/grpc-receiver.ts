// Jaeger's collector gRPC API, jaeger.api_v2.CollectorService/PostSpans, served by connect-node on HTTP/2
// cleartext so that gRPC clients (grpc-go in jaeger-agent and the OTel Collector, @grpc/grpc-js) talk to it
// directly. Conversion errors are INVALID_ARGUMENT; the pusher's ConnectError codes pass through unchanged
// (RESOURCE_EXHAUSTED, UNAVAILABLE, ...), which is what gRPC clients retry on.

import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { decodeProtobufStringsLeniently, jaegerProtoBatchToOtlp } from '@stave/model';
import { JaegerCollectorService, JaegerPostSpansResponseSchema, type JaegerPostSpansRequest, type JaegerPostSpansResponse } from '@stave/proto';
import { BasicService, closeHttp2Gracefully, Http2Sessions, publicErrorsInterceptor, type Logger } from '@stave/server';
import { listenReceiver, parseEndpoint } from '../endpoint';
import { createGrpcServer } from '../grpc-server';
import type { TracePusher } from '../pusher';
import { countSpans, pushRequest } from './receiver-common';

export const JAEGER_GRPC_DEFAULT_ENDPOINT = '0.0.0.0:14250';

export interface JaegerGrpcReceiverOptions {
  pusher: TracePusher;
  logger: Logger;
  /** Default 0.0.0.0:14250. */
  endpoint?: string;
  /** Largest accepted message; gRPC's customary default, 4 MiB. */
  maxRecvBytes?: number;
  /** Default 10 s. */
  shutdownTimeoutMs?: number;
}

export class JaegerGrpcReceiver extends BasicService {
  private server: http2.Http2Server | undefined;
  private readonly sessions = new Http2Sessions();
  private readonly endpoint: string;

  constructor(private readonly opts: JaegerGrpcReceiverOptions) {
    super('jaeger-grpc-receiver');
    this.endpoint = opts.endpoint ?? JAEGER_GRPC_DEFAULT_ENDPOINT;
  }

  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  /** The PostSpans handler, usable on another router (e.g. a shared gRPC port) too. */
  async postSpans(req: JaegerPostSpansRequest, ctx: HandlerContext): Promise<JaegerPostSpansResponse> {
    if (!req.batch) return create(JaegerPostSpansResponseSchema);
    const otlp = jaegerProtoBatchToOtlp(req.batch);
    if (countSpans(otlp) > 0) {
      const orgID = ctx.requestHeader.get('x-scope-orgid') ?? undefined;
      try {
        await pushRequest(this.opts.pusher, { orgID, protocol: 'jaeger_grpc' }, otlp, this.opts.logger);
      } catch (err) {
        throw ConnectError.from(err);
      }
    }
    return create(JaegerPostSpansResponseSchema);
  }

  protected override async starting(): Promise<void> {
    const endpoint = parseEndpoint(this.endpoint);
    // Connect decodes PostSpans with protobuf-es, whose string decoder is fatal: invalid UTF-8 would lose the
    // whole batch. Stave's rule for every receiver is U+FFFD instead (docs/limits.md); this makes the
    // process's protobuf decoding replace, which only widens what other decoders here accept.
    decodeProtobufStringsLeniently();
    const handler = connectNodeAdapter({
      routes: (router) => {
        router.service(JaegerCollectorService, { postSpans: (req, ctx) => this.postSpans(req, ctx) });
      },
      readMaxBytes: this.opts.maxRecvBytes ?? 4 << 20,
      // Only gRPC is on the menu for this port: Jaeger clients speak nothing else.
      grpcWeb: false,
      connect: false,
      // Errors keep their code; messages are capped and carry no paths (as every Stave port answers).
      interceptors: [publicErrorsInterceptor],
    });
    // Resets streams refused before their request was read whole (see createGrpcServer).
    const server = createGrpcServer(handler);
    this.sessions.track(server);
    this.server = server;
    await listenReceiver(server, endpoint, this.opts.logger, 'jaeger_grpc');
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await closeHttp2Gracefully(server, this.sessions, this.opts.shutdownTimeoutMs ?? 10_000);
  }
}
