// Request bodies of every HTTP receiver (OTLP/HTTP, Zipkin, Jaeger thrift-HTTP), read one way:
// - capped as received (`maxBytes`) and again once decompressed (`maxDecompressedBytes`), inflating streamed
//   so that a compression bomb costs at most the cap plus one chunk of memory;
// - a refusal is answered only after the rest of the body has been read and dropped, up to MAX_DRAIN_BYTES
//   more. Answering while the client still uploads and then closing makes clients see EPIPE/ECONNRESET
//   instead of the 413, and OTLP exporters retry connection errors where they drop a 413. Past the drain
//   allowance the answer goes out with `connection: close` and the socket is closed: the only case in which
//   a client may miss it, and it costs us at most MAX_DRAIN_BYTES of reading, never memory.

import type http from 'node:http';
import zlib from 'node:zlib';

/** How much of a refused body is read and dropped before answering (beyond what was read already). */
export const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

export type ContentCoding = 'gzip' | 'deflate';

/** The body (compressed or not) is larger than its cap: 413. */
export class BodyTooLargeError extends Error {
  constructor(
    readonly limit: number,
    readonly decompressed: boolean,
    /** For decompression: how many compressed bytes had been consumed when inflating stopped. */
    readonly consumedBytes = 0,
  ) {
    super(`request body too large: more than the ${limit} byte limit${decompressed ? ' once decompressed' : ''}`);
  }
}

/** The body could not be decompressed: 400. */
export class BadEncodingError extends Error {}

/** A Content-Encoding the receiver does not speak: 415. */
export class UnsupportedEncodingError extends Error {
  constructor(
    readonly coding: string,
    accepted: readonly ContentCoding[],
  ) {
    super(`unsupported content encoding ${JSON.stringify(coding)}: ${accepted.join(', ')} and identity are accepted`);
  }
}

/** The client went away before sending its whole body: nobody to answer. */
export class ClientGoneError extends Error {}

export interface BodyLimits {
  /** Largest body as received (compressed or not). */
  readonly maxBytes: number;
  /** Largest body once decompressed. */
  readonly maxDecompressedBytes: number;
  /** Content-Encodings accepted besides identity. */
  readonly codings: readonly ContentCoding[];
}

/** The request's Content-Encoding; undefined for identity; UnsupportedEncodingError for one not accepted. */
export function contentCodingOf(req: http.IncomingMessage, accepted: readonly ContentCoding[]): ContentCoding | undefined {
  const coding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return undefined;
  const c: string = coding === 'x-gzip' ? 'gzip' : coding;
  if ((accepted as readonly string[]).includes(c)) return c as ContentCoding;
  throw new UnsupportedEncodingError(coding, accepted);
}

/** Reads, caps and decompresses a request body (see the file comment for the errors it throws). */
export async function readRequestBody(req: http.IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const coding = contentCodingOf(req, limits.codings);
  const raw = await readCapped(req, limits.maxBytes);
  return coding === undefined ? raw : inflateBounded(raw, coding, limits.maxDecompressedBytes);
}

/**
 * Reads a body of at most `limit` bytes. Events rather than `for await`: leaving an async iterator early
 * destroys the request and its socket, and the answer could not be sent.
 */
function readCapped(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(new BodyTooLargeError(limit, false));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        reject(new BodyTooLargeError(limit, false));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const onClose = (): void => {
      done();
      reject(new ClientGoneError('client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and drops what is left of a request body, at most `maxBytes` of it. Resolves true once the body has
 * ended (the connection can be kept), false when it was longer or the client went away (close it).
 */
export function drainRequest(req: http.IncomingMessage, maxBytes = MAX_DRAIN_BYTES): Promise<boolean> {
  if (req.complete || req.readableEnded) return Promise.resolve(true);
  if (req.destroyed) return Promise.resolve(false);
  // A declared length past the allowance: close at once rather than read 64 MiB for nothing.
  if (Number(req.headers['content-length']) > maxBytes) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    let size = 0;
    const finish = (drained: boolean): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      resolve(drained);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        finish(false);
      }
    };
    const onEnd = (): void => finish(true);
    const onGone = (): void => finish(false);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
    req.resume();
  });
}

/**
 * Sends an error answer once the request body has been drained (see the file comment); with
 * `connection: close` when it could not be.
 */
export async function answerAfterDrain(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  headers: Readonly<Record<string, string | number>>,
  body: Uint8Array | string,
): Promise<void> {
  const drained = await drainRequest(req);
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { ...headers, ...(drained ? {} : { connection: 'close' }), 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Inflates `body` and refuses output past `limit` bytes. Inflating is streamed and stops at the limit, so a
 * gzip bomb costs at most `limit` plus one chunk of memory, not its full inflated size.
 */
export function inflateBounded(body: Uint8Array, coding: ContentCoding, limit: number): Promise<Buffer> {
  const z = coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        const consumed = z.bytesWritten;
        z.destroy();
        reject(new BodyTooLargeError(limit, true, consumed));
        return;
      }
      chunks.push(chunk);
    });
    z.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    z.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new BadEncodingError(`invalid ${coding} body: ${err.message}`));
    });
    z.end(body);
  });
}
