// Zipkin's collector HTTP API: POST /api/v2/spans (JSON or proto3 ListOfSpans) and POST /api/v1/spans
// (JSON), gzip accepted. Answers as Zipkin does: 202 Accepted on success; 400 malformed (the message names
// the span and field); 415 for an unsupported content type or encoding; 413 too large; 429/503 with
// Retry-After when the distributor is over a limit or unavailable. A missing Content-Type is read as JSON,
// as Zipkin's server does.

import type http from 'node:http';
import { zipkinProtoToOtlp, zipkinV1JsonToOtlp, zipkinV2JsonToOtlp } from '@stave/model';
import type { ExportTraceServiceRequest } from '@stave/proto';
import { HttpReceiver, type HttpReceiverOptions } from '../jaeger/http-receiver';
import { countSpans, HttpError, mediaType, orgIdOf, pushRequest, readBoundedBody } from '../jaeger/receiver-common';
import type { ReceiverProtocol } from '../pusher';

export const ZIPKIN_DEFAULT_ENDPOINT = '0.0.0.0:9411';
export const ZIPKIN_V2_PATH = '/api/v2/spans';
export const ZIPKIN_V1_PATH = '/api/v1/spans';

export type ZipkinReceiverOptions = HttpReceiverOptions;

const JSON_TYPES = new Set(['', 'application/json']);
const PROTO_TYPES = new Set(['application/x-protobuf', 'application/protobuf']);

export class ZipkinReceiver extends HttpReceiver {
  constructor(opts: ZipkinReceiverOptions) {
    super('zipkin-receiver', 'zipkin', ZIPKIN_DEFAULT_ENDPOINT, opts);
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    if (path !== ZIPKIN_V2_PATH && path !== ZIPKIN_V1_PATH) {
      throw new HttpError(404, `404 page not found: ${path}`);
    }
    this.requirePost(req);
    const type = mediaType(req);
    let convert: (body: Buffer) => ExportTraceServiceRequest;
    let protocol: ReceiverProtocol;
    if (JSON_TYPES.has(type)) {
      convert = path === ZIPKIN_V2_PATH ? zipkinV2JsonToOtlp : zipkinV1JsonToOtlp;
      protocol = 'zipkin_json';
    } else if (PROTO_TYPES.has(type) && path === ZIPKIN_V2_PATH) {
      convert = zipkinProtoToOtlp;
      protocol = 'zipkin_proto';
    } else {
      const want = path === ZIPKIN_V2_PATH ? 'application/json or application/x-protobuf' : 'application/json';
      throw new HttpError(415, `unsupported content type ${JSON.stringify(type)} on ${path}: want ${want}`);
    }
    const body = await readBoundedBody(req, this.base.maxRequestBytes);
    const otlp = convert(body);
    if (countSpans(otlp) > 0) await pushRequest(this.pusher, { orgID: orgIdOf(req), protocol }, otlp, this.base.logger);
    HttpReceiver.accepted(res);
  }
}
