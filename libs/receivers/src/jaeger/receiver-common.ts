// What the Jaeger and Zipkin receivers share: bounded (and gzip-aware) body reading and the one mapping
// from a push failure to an HTTP answer. Endpoint parsing, shared by every receiver, is in ../endpoint.ts
// and re-exported here for existing importers.

import type http from 'node:http';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, type ExportTraceServiceRequest } from '@stave/proto';
import { Code, ConnectError, codeOf, httpStatusOf, publicErrorMessage, publicMessage, type Logger } from '@stave/server';
import { answerAfterDrain, BadEncodingError, BodyTooLargeError, ClientGoneError, readRequestBody, UnsupportedEncodingError } from '../http-body';
import type { PushContext, TracePusher } from '../pusher';

export { parseEndpoint, type Endpoint } from '../endpoint';

/** An HTTP failure with the status to answer it with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The request's media type, lowercased and without parameters; '' when absent. */
export function mediaType(req: http.IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function orgIdOf(req: http.IncomingMessage): string | undefined {
  const v = req.headers['x-scope-orgid'];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Reads a body of at most `maxBytes` (before and after decompression; gzip is the one encoding Jaeger's and
 * Zipkin's collectors accept): a larger one is a 413 naming the limit, another encoding a 415, a corrupt
 * gzip stream a 400. The answer is sent after the rest of the body is drained (see ../http-body).
 */
export async function readBoundedBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  try {
    return await readRequestBody(req, { maxBytes, maxDecompressedBytes: maxBytes, codings: ['gzip'] });
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new HttpError(413, err.message);
    if (err instanceof UnsupportedEncodingError) throw new HttpError(415, err.message);
    if (err instanceof BadEncodingError) throw new HttpError(400, err.message);
    throw err;
  }
}

export function countSpans(req: ExportTraceServiceRequest): number {
  let n = 0;
  for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** Encodes the request once and hands it to the distributor. Rejects with the pusher's ConnectError. */
export async function pushRequest(pusher: TracePusher, ctx: PushContext, req: ExportTraceServiceRequest, logger: Logger): Promise<void> {
  const outcome = await pusher.pushOtlp(ctx, toBinary(ExportTraceServiceRequestSchema, req));
  if (outcome.rejectedSpans > 0) {
    // Jaeger and Zipkin have no partial-success answer: the rest was accepted, so say so in the log.
    logger.warn('spans rejected', { protocol: ctx.protocol, tenant: ctx.orgID, rejected_spans: outcome.rejectedSpans, err: outcome.errorMessage });
  }
}

export const emptyRequest = (): ExportTraceServiceRequest => create(ExportTraceServiceRequestSchema);

/**
 * Answers a failed request, once its body is drained (see ../http-body). Codes map to statuses through the
 * one table in @stave/server; overload (429/503) carries Retry-After so that clients back off instead of
 * hammering. Messages are capped and, for 5xx, cleaned of paths (publicMessage).
 */
export async function sendFailure(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  err: unknown,
  retryAfterSeconds: number,
  logger: Logger,
  receiver: string,
): Promise<void> {
  if (err instanceof ClientGoneError || res.destroyed) {
    logger.debug('request abandoned by the client', { receiver });
    res.destroy();
    return;
  }
  let status: number;
  let message: string;
  const headers: Record<string, string> = {};
  if (err instanceof HttpError) {
    status = err.status;
    message = err.message;
    Object.assign(headers, err.headers);
  } else {
    const code = codeOf(err);
    const ce = ConnectError.from(err);
    status = httpStatusOf(code);
    message = publicErrorMessage(err, status);
    if (code === Code.ResourceExhausted || code === Code.Unavailable) {
      headers['retry-after'] = ce.metadata.get('retry-after') ?? String(retryAfterSeconds);
    }
  }
  if (status >= 500) logger.error('push failed', { receiver, status, err });
  else logger.debug('request refused', { receiver, status, err: message });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  await answerAfterDrain(req, res, status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }, publicMessage(message, status) + '\n');
}
