// The OTLP/HTTP receiver: `POST /v1/traces` on its own port (default 4318), per the OTLP specification
// (opentelemetry-proto docs/specification.md, "OTLP/HTTP").
//
// - application/x-protobuf bodies go to the pusher as they came (after decompression): this is the hot path
//   and nothing here decodes them; the distributor's wire scan validates them.
// - application/json bodies are parsed as OTLP/JSON and encoded to protobuf once.
// - Content-Encoding gzip (and deflate) is accepted. The body is capped as received and again once
//   inflated; over a cap is 413 Content Too Large, as the specification asks, naming the limit.
// - Success is 200 with an ExportTraceServiceResponse in the request's encoding, with partial_success set
//   when the pusher refused some spans. Failures carry a google.rpc.Status in the request's encoding
//   (JSON when the request's type is not one we speak); pusher errors map by code through the one table in
//   @stave/server (ResourceExhausted 429, Unavailable 503, Unauthenticated 401, ...), and 429/503 carry
//   Retry-After so that OpenTelemetry exporters back off.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, toBinary, toJsonString } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { parseOtlpJson } from '@stave/model';
import { ExportTraceServiceRequestSchema, ExportTraceServiceResponseSchema } from '@stave/proto';
import { BasicService, closeHttpGracefully, Code, ConnectError, httpStatusOf, publicErrorMessage, publicMessage, type Logger } from '@stave/server';
import { listenReceiver } from '../endpoint';
import {
  answerAfterDrain,
  BadEncodingError,
  BodyTooLargeError,
  ClientGoneError,
  readRequestBody,
  UnsupportedEncodingError,
  type ContentCoding,
} from '../http-body';
import type { PushOutcome, TracePusher } from '../pusher';
import { parseOtlpEndpoint } from './common';

export const OTLP_HTTP_DEFAULT_ENDPOINT = '0.0.0.0:4318';
export const OTLP_HTTP_TRACES_PATH = '/v1/traces';
/** Default cap of a request body, as received and once decompressed. */
export const OTLP_DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export interface OtlpHttpReceiverOptions {
  readonly pusher: TracePusher;
  readonly logger: Logger;
  /** "host:port"; default 0.0.0.0:4318. Port 0 picks a free port (see address()). */
  readonly endpoint?: string;
  /** Largest body as received (compressed or not). Default 16 MiB. */
  readonly maxRequestBytes?: number;
  /** Largest body once decompressed. Default 16 MiB. */
  readonly maxDecompressedBytes?: number;
  /** Retry-After (seconds) on 429/503 when the pusher's error does not carry a `retry-after`. Default 5. */
  readonly retryAfterSeconds?: number;
  /** Time allowed to receive a whole request. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** How long `stopping` waits for requests in flight before cutting connections. Default 10 s. */
  readonly shutdownTimeoutMs?: number;
}

type Settings = Readonly<Required<OtlpHttpReceiverOptions>>;

function settle(o: OtlpHttpReceiverOptions): Settings {
  const s: Settings = Object.freeze({
    pusher: o.pusher,
    logger: o.logger,
    endpoint: o.endpoint ?? OTLP_HTTP_DEFAULT_ENDPOINT,
    maxRequestBytes: o.maxRequestBytes ?? OTLP_DEFAULT_MAX_REQUEST_BYTES,
    maxDecompressedBytes: o.maxDecompressedBytes ?? OTLP_DEFAULT_MAX_REQUEST_BYTES,
    retryAfterSeconds: o.retryAfterSeconds ?? 5,
    requestTimeoutMs: o.requestTimeoutMs ?? 60_000,
    shutdownTimeoutMs: o.shutdownTimeoutMs ?? 10_000,
  });
  parseOtlpEndpoint(s.endpoint); // fail at construction, not at start
  for (const key of ['maxRequestBytes', 'maxDecompressedBytes', 'requestTimeoutMs', 'shutdownTimeoutMs'] as const) {
    if (!(s[key] > 0)) throw new Error(`OTLP HTTP receiver: ${key} must be positive, got ${s[key]}`);
  }
  return s;
}

type Encoding = 'proto' | 'json';

/** Content-Encodings accepted besides identity. */
const CODINGS: readonly ContentCoding[] = ['gzip', 'deflate'];

/** A refusal decided here (not by the pusher): an HTTP status, a gRPC code for the Status body, a message. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: Code,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export class OtlpHttpReceiver extends BasicService {
  private readonly s: Settings;
  private server: http.Server | undefined;

  constructor(options: OtlpHttpReceiverOptions) {
    super('otlp-http-receiver');
    this.s = settle(options);
  }

  /** The bound address once running (the real port when configured with port 0). */
  address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`${this.name} is not listening`);
    return a;
  }

  protected override async starting(): Promise<void> {
    const endpoint = parseOtlpEndpoint(this.s.endpoint);
    const server = http.createServer({ requestTimeout: this.s.requestTimeoutMs }, (req, res) => {
      // serve() answers every failure itself; this catches only a failure to answer (a bug): the
      // connection is dropped so the client retries, and it is logged.
      this.serve(req, res).catch((err: unknown) => {
        this.s.logger.error('OTLP/HTTP request handler failed', { receiver: 'otlp_http', err });
        res.destroy();
      });
    });
    this.server = server;
    await listenReceiver(server, endpoint, this.s.logger, 'otlp_http');
  }

  protected override async stopping(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await closeHttpGracefully(server, this.s.shutdownTimeoutMs);
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requested = encodingOf(req);
    // Refusals answer in the request's encoding; JSON (readable by people with curl) when it has none we speak.
    const encoding: Encoding = requested ?? 'json';
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== OTLP_HTTP_TRACES_PATH) throw new Refusal(404, Code.NotFound, `no such path ${path}: OTLP traces are accepted on ${OTLP_HTTP_TRACES_PATH}`);
      if (req.method !== 'POST')
        throw new Refusal(405, Code.Unimplemented, `method ${req.method} not allowed on ${OTLP_HTTP_TRACES_PATH}: use POST`, { allow: 'POST' });
      if (requested === undefined) {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        throw new Refusal(
          415,
          Code.InvalidArgument,
          `unsupported content type ${JSON.stringify(type)}: OTLP/HTTP accepts application/x-protobuf and application/json`,
        );
      }
      const body = await this.readBody(req);
      const payload = encoding === 'proto' ? body : jsonToProtobuf(body);
      const outcome = await this.s.pusher.pushOtlp(
        { orgID: headerValue(req, 'x-scope-orgid'), protocol: encoding === 'proto' ? 'otlp_http_proto' : 'otlp_http_json', bodyDisposable: true },
        payload,
      );
      sendSuccess(res, encoding, outcome);
    } catch (err) {
      await this.sendFailure(req, res, encoding, err);
    }
  }

  private readBody(req: http.IncomingMessage): Promise<Uint8Array> {
    return readRequestBody(req, { maxBytes: this.s.maxRequestBytes, maxDecompressedBytes: this.s.maxDecompressedBytes, codings: CODINGS });
  }

  private async sendFailure(req: http.IncomingMessage, res: http.ServerResponse, encoding: Encoding, err: unknown): Promise<void> {
    if (err instanceof ClientGoneError || res.destroyed) {
      this.s.logger.debug('otlp request abandoned by the client', { receiver: 'otlp_http', err });
      res.destroy();
      return;
    }
    let status: number;
    let code: Code;
    let message: string;
    const headers: Record<string, string> = {};
    if (err instanceof Refusal) {
      ({ status, code, message } = err);
      Object.assign(headers, err.headers);
    } else if (err instanceof BodyTooLargeError) {
      [status, code, message] = [413, Code.ResourceExhausted, err.message];
    } else if (err instanceof UnsupportedEncodingError) {
      [status, code, message] = [415, Code.InvalidArgument, err.message];
    } else if (err instanceof BadEncodingError) {
      [status, code, message] = [400, Code.InvalidArgument, err.message];
    } else {
      const ce = ConnectError.from(err);
      [status, code, message] = [httpStatusOf(ce.code), ce.code, publicErrorMessage(err, httpStatusOf(ce.code))];
      if (ce.code === Code.ResourceExhausted || ce.code === Code.Unavailable) {
        headers['retry-after'] = ce.metadata.get('retry-after') ?? String(this.s.retryAfterSeconds);
      }
    }
    if (status >= 500) this.s.logger.error('otlp push failed', { receiver: 'otlp_http', status, tenant: headerValue(req, 'x-scope-orgid'), err });
    else this.s.logger.debug('otlp request refused', { receiver: 'otlp_http', status, err: message });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    message = publicMessage(message, status);
    const body = encoding === 'proto' ? statusProto(code, message) : Buffer.from(JSON.stringify({ code, message }));
    // Answered once the rest of the body is read (bounded): see ../http-body.
    await answerAfterDrain(req, res, status, { ...headers, 'content-type': encoding === 'proto' ? 'application/x-protobuf' : 'application/json' }, body);
  }
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request's encoding from its Content-Type; undefined for any other type. */
function encodingOf(req: http.IncomingMessage): Encoding | undefined {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // application/protobuf is not in the specification but is what some clients send; it is unambiguous.
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'proto';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** Invalid UTF-8 sequences become U+FFFD, as in every receiver (docs/limits.md): one bad byte costs one character, not the batch. */
const utf8 = new TextDecoder('utf-8');

function jsonToProtobuf(body: Uint8Array): Uint8Array {
  return toBinary(ExportTraceServiceRequestSchema, parseOtlpJson(utf8.decode(body)));
}

/** The answer to a fully accepted protobuf push (every push, normally): encoded once. */
const FULL_SUCCESS_PROTO = toBinary(ExportTraceServiceResponseSchema, create(ExportTraceServiceResponseSchema));

function sendSuccess(res: http.ServerResponse, encoding: Encoding, outcome: PushOutcome): void {
  const partial = outcome.rejectedSpans > 0 || outcome.errorMessage !== '';
  if (!partial && encoding === 'proto') {
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': FULL_SUCCESS_PROTO.length });
    res.end(FULL_SUCCESS_PROTO);
    return;
  }
  const response = create(ExportTraceServiceResponseSchema, {
    partialSuccess: partial ? { rejectedSpans: BigInt(outcome.rejectedSpans), errorMessage: outcome.errorMessage } : undefined,
  });
  const body =
    encoding === 'proto' ? toBinary(ExportTraceServiceResponseSchema, response) : Buffer.from(toJsonString(ExportTraceServiceResponseSchema, response));
  res.writeHead(200, { 'content-type': encoding === 'proto' ? 'application/x-protobuf' : 'application/json', 'content-length': body.length });
  res.end(body);
}

/** google.rpc.Status { int32 code = 1; string message = 2; } on the wire (details are not sent). */
function statusProto(code: Code, message: string): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(code);
  if (message) w.tag(2, WireType.LengthDelimited).string(message);
  return w.finish();
}
