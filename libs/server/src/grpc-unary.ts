// A unary gRPC call on bare HTTP/2, for the one internal call that carries every span: the distributor's
// push to each replica. connect-es runs a unary call through its streaming machinery (async iterables,
// linked abort controllers, envelope transforms, a copy of the message into a growing writer): the fleet's
// profile showed that machinery costing as much as the receiving ingester's own work. Here a call is one
// HTTP/2 stream: the caller hands over the message already framed (`grpcFrame`), the answer is read in
// chunks, and gRPC's status travels in trailers exactly as connect-es and grpc-go send and read it, so
// either side interoperates with an ordinary gRPC peer (the server answers Connect and gRPC-Web on the
// same path through connect-es; see ConnectServer.registerUnaryBytes).
//
// Bounded: every call has a deadline (sent as grpc-timeout and enforced here), a response larger than
// `maxResponseBytes` is cancelled, a request larger than the server's max message size is refused before
// it is buffered.

import http2 from 'node:http2';
import { codeFromHttpStatus } from '@connectrpc/connect/protocol-grpc';
import { Code, ConnectError, toPublicConnectError } from '@stave/core';

/** gRPC's message prefix: a compressed flag byte and a 4-byte big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/** A buffer of `GRPC_PREFIX_BYTES + size` bytes whose prefix frames an uncompressed message of `size` bytes. */
export function grpcFrame(size: number): Buffer {
  const out = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + size);
  out[0] = 0;
  out.writeUInt32BE(size, 1);
  return out;
}

const CONTENT_TYPE = 'application/grpc+proto';
/** Sessions without a stream for this long are closed (they are reopened on the next call). */
const IDLE_SESSION_MS = 60_000;

function decodeMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(',') : (v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function statusError(trailers: http2.IncomingHttpHeaders): ConnectError | undefined {
  const raw = trailers['grpc-status'];
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  if (n === 0) return undefined;
  const code = Number.isInteger(n) && n >= 1 && n <= 16 ? (n as Code) : Code.Unknown;
  return new ConnectError(decodeMessage(trailers['grpc-message']), code);
}

export interface GrpcUnaryClientOptions {
  /** host:port of the server (cleartext HTTP/2). */
  address: string;
  /** Deadline of a call (its grpc-timeout). */
  timeoutMs: number;
  /** Largest response message accepted. */
  maxResponseBytes: number;
}

/**
 * Unary gRPC calls to one server over one HTTP/2 session, opened on first use and replaced once it closes
 * or receives GOAWAY. The session does not keep the process alive while no call is in flight.
 */
export class GrpcUnaryClient {
  private session: http2.ClientHttp2Session | undefined;
  private active = 0;

  constructor(private readonly opts: GrpcUnaryClientOptions) {}

  /**
   * Sends one framed message (`grpcFrame`, or a list of buffers whose concatenation is one) to `path` and
   * resolves with the response message's bytes;
   * rejects with the server's status as a ConnectError, DEADLINE_EXCEEDED past the deadline, or
   * UNAVAILABLE when the server cannot be reached or the stream is reset before an answer.
   */
  call(path: string, framed: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const where = `${path} on ${this.opts.address}`;
      let session: http2.ClientHttp2Session | undefined;
      let stream: http2.ClientHttp2Stream;
      try {
        session = this.open();
        stream = session.request(
          {
            ':method': 'POST',
            ':path': path,
            'content-type': CONTENT_TYPE,
            te: 'trailers',
            'grpc-timeout': `${Math.max(1, Math.min(99_999_999, Math.ceil(this.opts.timeoutMs)))}m`,
          },
          { endStream: false },
        );
      } catch (err) {
        // A session that closed under us (GOAWAY, out of stream IDs): the next call opens a new one.
        if (session) this.forget(session);
        reject(new ConnectError(`${where}: ${err instanceof Error ? err.message : String(err)}`, Code.Unavailable));
        return;
      }
      if (this.active++ === 0) session.ref();
      let httpStatus: number | undefined;
      let trailers: http2.IncomingHttpHeaders | undefined;
      let streamError: Error | undefined;
      let failure: ConnectError | undefined;
      const chunks: Buffer[] = [];
      let received = 0;
      const timer = setTimeout(() => {
        failure = new ConnectError(`${where}: deadline of ${this.opts.timeoutMs} ms exceeded`, Code.DeadlineExceeded);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, this.opts.timeoutMs);
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        // Trailers-only answer: the status comes with the headers.
        if (headers['grpc-status'] !== undefined) trailers = headers;
      });
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > this.opts.maxResponseBytes + GRPC_PREFIX_BYTES) {
          failure ??= new ConnectError(`${where}: response larger than ${this.opts.maxResponseBytes} bytes`, Code.ResourceExhausted);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        chunks.push(chunk);
      });
      stream.on('trailers', (t) => {
        trailers = t;
      });
      stream.on('error', (err) => {
        streamError = err;
      });
      stream.on('close', () => {
        clearTimeout(timer);
        if (--this.active === 0 && session && !session.destroyed) session.unref();
        if (failure) return reject(failure);
        if (httpStatus === undefined || trailers === undefined) {
          const why = streamError?.message ?? `stream closed (code ${stream.rstCode}) before an answer`;
          return reject(
            new ConnectError(`${where}: ${why}`, httpStatus === undefined || httpStatus === 200 ? Code.Unavailable : codeFromHttpStatus(httpStatus)),
          );
        }
        if (httpStatus !== 200) return reject(new ConnectError(`${where}: HTTP ${httpStatus}`, codeFromHttpStatus(httpStatus)));
        const err = statusError(trailers);
        if (err) return reject(err);
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < GRPC_PREFIX_BYTES || body.readUInt32BE(1) !== body.length - GRPC_PREFIX_BYTES || body[0] !== 0) {
          return reject(new ConnectError(`${where}: malformed response (${body.length} bytes, not one uncompressed message)`, Code.Internal));
        }
        resolve(body.subarray(GRPC_PREFIX_BYTES));
      });
      if (framed instanceof Uint8Array) {
        stream.end(framed);
      } else {
        stream.cork();
        for (const chunk of framed) stream.write(chunk);
        stream.uncork();
        stream.end();
      }
    });
  }

  /** Closes the session (calls in flight finish). */
  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private open(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(`http://${this.opts.address}`, { settings: { enablePush: false } });
    // Connection errors reach the streams (and their callers); a session's own 'error' must not become an
    // uncaught exception of the process (see grpc-transport.ts).
    session.on('error', () => undefined);
    session.on('close', () => this.forget(session));
    session.on('goaway', () => this.forget(session));
    session.setTimeout(IDLE_SESSION_MS, () => session.close());
    session.unref();
    this.session = session;
    return session;
  }

  private forget(session: http2.ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
  }
}

/** A unary handler on raw message bytes: resolves with the response message, or throws a ConnectError. */
export type UnaryBytesHandler = (message: Buffer) => Promise<Uint8Array>;

/** True for a request this module can answer: gRPC with protobuf, uncompressed. */
export function isPlainGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  if (ct !== 'application/grpc' && ct !== 'application/grpc+proto') return false;
  const enc = headers['grpc-encoding'];
  return enc === undefined || enc === 'identity';
}

/**
 * Answers one unary gRPC request (`isPlainGrpc`) with `handler`. Errors go out as a trailers-only answer
 * with the code and a public message (as publicErrorsInterceptor makes them for connect-es routes).
 */
export function serveUnaryBytes(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, handler: UnaryBytesHandler, maxRecvBytes: number): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let answered = false;
  const fail = (err: unknown): void => {
    if (answered || res.stream.destroyed) return;
    answered = true;
    const ce = toPublicConnectError(err);
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'grpc-status': String(ce.code), 'grpc-message': encodeURIComponent(ce.rawMessage) });
    res.end();
  };
  req.on('data', (chunk: Buffer) => {
    if (answered) return;
    received += chunk.length;
    if (received > maxRecvBytes + GRPC_PREFIX_BYTES) {
      fail(new ConnectError(`message larger than ${maxRecvBytes} bytes (max receive message size)`, Code.ResourceExhausted));
      return;
    }
    chunks.push(chunk);
  });
  req.on('error', () => undefined); // the client reset the stream: nobody to answer
  req.on('end', () => {
    if (answered) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (body.length < GRPC_PREFIX_BYTES || body.readUInt32BE(1) !== body.length - GRPC_PREFIX_BYTES) {
      return fail(new ConnectError(`a unary request must carry exactly one message (got ${body.length} bytes)`, Code.InvalidArgument));
    }
    if (body[0] !== 0) return fail(new ConnectError('compressed message without grpc-encoding', Code.Internal));
    handler(body.subarray(GRPC_PREFIX_BYTES)).then((msg) => {
      if (answered || res.stream.destroyed) return;
      answered = true;
      const out = grpcFrame(msg.length);
      out.set(msg, GRPC_PREFIX_BYTES);
      res.writeHead(200, { 'content-type': CONTENT_TYPE });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(out);
    }, fail);
  });
}
