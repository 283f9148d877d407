// The ingest baseline: an HTTP server that reads each request body completely and answers 200 with an
// empty ExportTraceServiceResponse, doing nothing else. It runs as its own child process (own event
// loop, own core), as Stave does, so "Stave spans/s ÷ no-op spans/s" compares servers, not schedulers.
//
// As a child (forked by startNoopServer): listens on 127.0.0.1:0 and sends {port} over IPC; exits on
// SIGTERM or when the parent goes away (IPC disconnect). Standalone: `node bench/dist/noop-server.js [port]`.

import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceResponseSchema } from '@stave/proto';

const EMPTY_RESPONSE = Buffer.from(toBinary(ExportTraceServiceResponseSchema, create(ExportTraceServiceResponseSchema)));

export function createNoopServer(): http.Server {
  return http.createServer((req, res) => {
    req.resume(); // read the whole body, keep none of it
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': EMPTY_RESPONSE.length });
        res.end(EMPTY_RESPONSE);
      } else if (req.url === '/ready') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      } else {
        res.writeHead(404).end();
      }
    });
  });
}

export interface NoopServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Forks the no-op server as a child process and resolves once it listens. */
export function startNoopServer(timeoutMs = 10_000): Promise<NoopServer> {
  const child: ChildProcess = fork(path.join(__dirname, 'noop-server.js'), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no-op server did not report its port within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`no-op server exited before listening (code ${code}, signal ${signal})`));
    });
    child.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        port: m.port,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

if (require.main === module) {
  const asChild = process.argv.includes('--child');
  const server = createNoopServer();
  server.keepAliveTimeout = 60_000;
  const port = asChild ? 0 : Number(process.argv[2] ?? 4318);
  server.listen(port, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    if (asChild && process.send) process.send({ port: addr.port });
    else process.stderr.write(`no-op OTLP server on http://127.0.0.1:${addr.port}/v1/traces\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A forked child whose parent dies loses its IPC channel; it should not outlive the bench.
  if (asChild) process.on('disconnect', stop);
}
