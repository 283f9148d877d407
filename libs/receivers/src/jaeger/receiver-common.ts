// What the Jaeger and Zipkin receivers share: bounded (and gzip-aware) body reading and the one mapping
// from a push failure to an HTTP answer. Endpoint parsing, shared by every receiver, is in ../endpoint.ts
// and re-exported here for existing importers.

import type http from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, type ExportTraceServiceRequest } from '@stave/proto';
import { Code, ConnectError, codeOf, httpStatusOf, type Logger } from '@stave/server';
import type { PushContext, TracePusher } from '../pusher';

export { parseEndpoint, type Endpoint } from '../endpoint';

const gunzip = promisify(zlib.gunzip);

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
 * Reads a body of at most `maxBytes` (before and after decompression): a larger one is a 413 naming the
 * limit; a gzip body is inflated with the same cap; other encodings are a 415.
 */
export async function readBoundedBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== '') {
    req.resume();
    throw new HttpError(415, `unsupported content encoding ${JSON.stringify(encoding)} (gzip and identity are accepted)`);
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) {
    req.resume();
    throw new HttpError(413, `request body too large: ${declared} bytes is more than the ${maxBytes} byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      req.resume();
      throw new HttpError(413, `request body too large: more than the ${maxBytes} byte limit`);
    }
    chunks.push(chunk as Buffer);
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  if (encoding !== 'gzip') return raw;
  try {
    return await gunzip(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HttpError(413, `request body too large: more than the ${maxBytes} byte limit once decompressed`);
    }
    throw new HttpError(400, `invalid gzip body: ${(err as Error).message}`);
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
 * Answers a failed request. Codes map to statuses through the one table in @stave/server; overload
 * (429/503) carries Retry-After so that clients back off instead of hammering.
 */
export function sendFailure(res: http.ServerResponse, err: unknown, retryAfterSeconds: number, logger: Logger, receiver: string): void {
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
    message = ce.rawMessage;
    if (code === Code.ResourceExhausted || code === Code.Unavailable) {
      headers['retry-after'] = ce.metadata.get('retry-after') ?? String(retryAfterSeconds);
    }
  }
  if (status >= 500) logger.error('push failed', { receiver, status, err: message });
  else logger.debug('request refused', { receiver, status, err: message });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = message + '\n';
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
