// The HTTP/2 server both gRPC receivers (OTLP, Jaeger) run their Connect handler on.

import http2 from 'node:http2';

/**
 * Connect answers a request message that does not parse with INTERNAL ("parse binary: ..."), as grpc-go
 * does. For a receiver that is the client's malformed input, which Stave answers INVALID_ARGUMENT naming
 * it (DESIGN.md, "Limits answer clearly"; RELIABILITY.md REL-16): only the code changes, in the status
 * headers (trailers-only answers) or the trailers.
 */
function parseFailureAsInvalidArgument(headers: unknown): void {
  if (typeof headers !== 'object' || headers === null) return;
  const h = headers as Record<string, unknown>;
  if (String(h['grpc-status']) === '13' && /^parse(%20| )binary/.test(String(h['grpc-message'] ?? ''))) h['grpc-status'] = '3';
}

/**
 * An h2c server for a gRPC handler. A call refused before its request was read whole (over the receive
 * cap) leaves the client's half of the stream open, and it would hold shutdown for the whole grace period.
 * Once the trailers (the status) are out, the stream is reset with RST_STREAM NO_ERROR ("stop sending"), as
 * grpc-go servers do. Node's compat response sends the trailers from its own 'wantTrailers' listener,
 * registered before this one.
 */
export function createGrpcServer(
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  settings: http2.Settings = {},
): http2.Http2Server {
  return http2.createServer({ settings }, (req, res) => {
    req.stream.once('wantTrailers', () => {
      setImmediate(() => {
        // destroy() rather than close(NO_ERROR): close waits for a 'finish' that has already happened.
        if (!req.stream.closed && !req.readableEnded) req.stream.destroy();
      });
    });
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http2.Http2ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      parseFailureAsInvalidArgument(args[args.length - 1]);
      return writeHead(...args);
    }) as typeof res.writeHead;
    const addTrailers = res.addTrailers.bind(res);
    res.addTrailers = (trailers) => {
      parseFailureAsInvalidArgument(trailers);
      addTrailers(trailers);
    };
    handler(req, res);
  });
}
