// Jaeger's collector HTTP endpoint: POST /api/traces with a binary-protocol thrift `Batch` body, as
// jaeger-client's HTTPSender and OTel's Jaeger exporter (HTTP mode) send it. Answers as Jaeger's collector
// does: 202 Accepted on success; 400 malformed; 415 for another content type; 413 too large; 429/503
// with Retry-After when the distributor is over a limit or unavailable.

import type http from 'node:http';
import { decodeJaegerThriftBatch, jaegerThriftBatchToOtlp } from '@stave/model';
import { HttpReceiver, type HttpReceiverOptions } from './http-receiver';
import { countSpans, HttpError, mediaType, orgIdOf, pushRequest, readBoundedBody } from './receiver-common';

export const JAEGER_THRIFT_HTTP_DEFAULT_ENDPOINT = '0.0.0.0:14268';
export const JAEGER_THRIFT_HTTP_PATH = '/api/traces';
/** The media types Jaeger's collector accepts for a binary-protocol Batch. */
export const JAEGER_THRIFT_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/x-thrift', 'application/vnd.apache.thrift.binary']);

export type JaegerThriftHttpReceiverOptions = HttpReceiverOptions;

export class JaegerThriftHttpReceiver extends HttpReceiver {
  constructor(opts: JaegerThriftHttpReceiverOptions) {
    super('jaeger-thrift-http-receiver', 'jaeger_thrift_http', JAEGER_THRIFT_HTTP_DEFAULT_ENDPOINT, opts);
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    if (path !== JAEGER_THRIFT_HTTP_PATH) {
      throw new HttpError(404, `404 page not found: ${path}`);
    }
    this.requirePost(req);
    const type = mediaType(req);
    if (!JAEGER_THRIFT_CONTENT_TYPES.has(type)) {
      throw new HttpError(415, `unsupported content type ${JSON.stringify(type)}: want application/x-thrift or application/vnd.apache.thrift.binary`);
    }
    const body = await readBoundedBody(req, this.base.maxRequestBytes);
    // Decoding and conversion errors are ConnectError InvalidArgument: answered 400 with their message.
    const otlp = jaegerThriftBatchToOtlp(decodeJaegerThriftBatch(body, 'binary'));
    if (countSpans(otlp) > 0) {
      await pushRequest(this.pusher, { orgID: orgIdOf(req), protocol: 'jaeger_thrift_http' }, otlp, this.base.logger);
    }
    HttpReceiver.accepted(res);
  }
}
