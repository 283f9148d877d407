// The OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export over HTTP/2 cleartext
// (default port 4317), served by Connect's Node adapter with only the gRPC protocol enabled, so that
// @grpc/grpc-js clients (the OpenTelemetry gRPC exporters) and grpc-go clients (the Collector) work,
// gzip-compressed requests included.
//
// Raw bytes without a decode: the service is registered with a stand-in request message,
//   RawExportTraceServiceRequest { repeated bytes resource_spans = 1; }
// which is wire-identical to ExportTraceServiceRequest (field 1 is length-delimited either way). Decoding it
// only slices out each ResourceSpans (views, no copies) and re-encoding it re-frames them, so no object is
// built per span; the distributor's wire scan validates the content. The response is likewise
//   RawExportTraceServiceResponse { bytes partial_success = 1; }
// carrying an encoded ExportTracePartialSuccess. The stand-ins are described in code, under the real
// service's name, so the route is /opentelemetry.proto.collector.trace.v1.TraceService/Export.
//
// Consequences: a request whose top-level framing is malformed fails while Connect parses it ("parse
// binary: ..."); grpc-go servers (Tempo, the Collector) answer that INTERNAL, Stave INVALID_ARGUMENT like any
// malformed input (see createGrpcServer); malformed content inside is INVALID_ARGUMENT from the pusher. The gRPC+JSON codec is not meaningful with the
// stand-ins; OTLP clients never use it.
//
// The pusher's ConnectError codes become the gRPC status (RESOURCE_EXHAUSTED, UNAVAILABLE, ...). The
// receive cap applies to each message after decompression (RESOURCE_EXHAUSTED past it).

import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { create, createFileRegistry, toBinary, type DescMessage, type DescMethod, type Message } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { Compression } from '@connectrpc/connect/protocol';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { ExportTracePartialSuccessSchema } from '@stave/proto';
import { BasicService, closeHttp2Gracefully, Http2Sessions, publicErrorsInterceptor, type Logger } from '@stave/server';
import { listenReceiver } from '../endpoint';
import { createGrpcServer } from '../grpc-server';
import type { TracePusher } from '../pusher';
import { BodyTooLargeError, inflateBounded, parseOtlpEndpoint, type ContentCoding } from './common';
import { OTLP_DEFAULT_MAX_REQUEST_BYTES } from './http-receiver';

export const OTLP_GRPC_DEFAULT_ENDPOINT = '0.0.0.0:4317';

export interface OtlpGrpcReceiverOptions {
  readonly pusher: TracePusher;
  readonly logger: Logger;
  /** "host:port"; default 0.0.0.0:4317. Port 0 picks a free port (see address()). */
  readonly endpoint?: string;
  /** Largest request message, after decompression. Default 16 MiB. */
  readonly maxRecvBytes?: number;
  /** HTTP/2 streams per connection. Default 100. */
  readonly maxConcurrentStreams?: number;
  /** How long `stopping` waits for calls in flight before cutting sessions. Default 10 s. */
  readonly shutdownTimeoutMs?: number;
}

type Settings = Readonly<Required<OtlpGrpcReceiverOptions>>;

const PACKAGE = 'opentelemetry.proto.collector.trace.v1';

/** The stand-in descriptors (see the file comment). */
const raw = (() => {
  const bytesField = (name: string, jsonName: string, label: FieldDescriptorProto_Label) => ({
    name,
    jsonName,
    number: 1,
    type: FieldDescriptorProto_Type.BYTES,
    label,
  });
  const file = create(FileDescriptorProtoSchema, {
    name: 'stave/receivers/otlp_raw_trace_service.proto',
    package: PACKAGE,
    syntax: 'proto3',
    messageType: [
      { name: 'RawExportTraceServiceRequest', field: [bytesField('resource_spans', 'resourceSpans', FieldDescriptorProto_Label.REPEATED)] },
      { name: 'RawExportTraceServiceResponse', field: [bytesField('partial_success', 'partialSuccess', FieldDescriptorProto_Label.OPTIONAL)] },
    ],
    service: [
      {
        name: 'TraceService',
        method: [{ name: 'Export', inputType: `.${PACKAGE}.RawExportTraceServiceRequest`, outputType: `.${PACKAGE}.RawExportTraceServiceResponse` }],
      },
    ],
  });
  const registry = createFileRegistry(file, () => undefined);
  const service = registry.getService(`${PACKAGE}.TraceService`)!;
  return {
    request: registry.getMessage(`${PACKAGE}.RawExportTraceServiceRequest`)!,
    response: registry.getMessage(`${PACKAGE}.RawExportTraceServiceResponse`)!,
    export: service.methods[0]!,
  };
})();

type RawRequest = Message & { resourceSpans: Uint8Array[] };

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);

/**
 * grpc-encoding gzip and deflate with the same streamed, capped inflating as the HTTP receiver: a gzip bomb
 * stops at the receive cap (RESOURCE_EXHAUSTED naming it) instead of being inflated whole.
 */
function cappedCompression(name: ContentCoding): Compression {
  return {
    name,
    compress: async (bytes) => new Uint8Array(await (name === 'gzip' ? gzip(bytes) : deflate(bytes))),
    decompress: async (bytes, readMaxBytes) => {
      if (bytes.length === 0) return new Uint8Array(0);
      try {
        return new Uint8Array(await inflateBounded(bytes, name, readMaxBytes));
      } catch (err) {
        if (err instanceof BodyTooLargeError)
          throw new ConnectError(`message is larger than the ${readMaxBytes} byte limit once decompressed`, Code.ResourceExhausted);
        throw new ConnectError((err as Error).message, Code.InvalidArgument);
      }
    },
  };
}

export class OtlpGrpcReceiver extends BasicService {
  private readonly s: Settings;
  private server: http2.Http2Server | undefined;
  private readonly sessions = new Http2Sessions();

  constructor(options: OtlpGrpcReceiverOptions) {
    super('otlp-grpc-receiver');
    this.s = Object.freeze({
      pusher: options.pusher,
      logger: options.logger,
      endpoint: options.endpoint ?? OTLP_GRPC_DEFAULT_ENDPOINT,
      maxRecvBytes: options.maxRecvBytes ?? OTLP_DEFAULT_MAX_REQUEST_BYTES,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 100,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
    });
    parseOtlpEndpoint(this.s.endpoint);
    if (!(this.s.maxRecvBytes > 0)) throw new Error(`OTLP gRPC receiver: maxRecvBytes must be positive, got ${this.s.maxRecvBytes}`);
  }

  /** The bound address once running (the real port when configured with port 0). */
  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  protected override async starting(): Promise<void> {
    const endpoint = parseOtlpEndpoint(this.s.endpoint);
    const handler = connectNodeAdapter({
      routes: (router) => {
        router.rpc(raw.export as DescMethod & { methodKind: 'unary'; input: DescMessage; output: DescMessage }, (req: Message, ctx: HandlerContext) =>
          this.export(req as RawRequest, ctx),
        );
      },
      grpc: true,
      grpcWeb: false,
      connect: false,
      readMaxBytes: this.s.maxRecvBytes,
      acceptCompression: [cappedCompression('gzip'), cappedCompression('deflate')],
      // Errors keep their code; messages are capped and carry no paths (as every Stave port answers).
      interceptors: [publicErrorsInterceptor],
    });
    // Resets streams refused before their request was read whole (see createGrpcServer).
    const server = createGrpcServer(handler, { maxConcurrentStreams: this.s.maxConcurrentStreams });
    this.sessions.track(server);
    this.server = server;
    await listenReceiver(server, endpoint, this.s.logger, 'otlp_grpc');
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await closeHttp2Gracefully(server, this.sessions, this.s.shutdownTimeoutMs);
  }

  private async export(req: RawRequest, ctx: HandlerContext): Promise<Message> {
    // Re-encoding the stand-in re-frames the ResourceSpans slices (and keeps unknown top-level fields).
    const bytes = toBinary(raw.request, req);
    const outcome = await this.s.pusher.pushOtlp({ orgID: ctx.requestHeader.get('x-scope-orgid') ?? undefined, protocol: 'otlp_grpc' }, bytes);
    const partial = outcome.rejectedSpans > 0 || outcome.errorMessage !== '';
    return create(raw.response, {
      partialSuccess: partial
        ? toBinary(
            ExportTracePartialSuccessSchema,
            create(ExportTracePartialSuccessSchema, { rejectedSpans: BigInt(outcome.rejectedSpans), errorMessage: outcome.errorMessage }),
          )
        : new Uint8Array(0),
    } as never);
  }
}
