// TEST DOUBLE — not Stave. A tiny in-memory stand-in that speaks just enough of Stave's black-box
// interface for selftest.ts to check the harness end to end without the real ingest path: JSON log lines
// with the ports, GET /ready, POST /v1/traces (OTLP protobuf), POST /flush, GET /api/traces/<id>.
//
// It accepts bin/stave's flags (only -server.http-listen-port and -storage.trace.local.path matter) and,
// for the self-test's fault cases, two environment knobs:
//   FAKE_STAVE_FAIL_EVERY=N     every Nth push answers 503 and stores nothing
//   FAKE_STAVE_PARTIAL_EVERY=M  every Mth push keeps all but its last 3 spans and reports them rejected

import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  TraceSchema,
  type ResourceSpans,
  type Span,
} from '@stave/proto';

function flag(name: string): string | undefined {
  const pre = `-${name}=`;
  return process.argv.find((a) => a.startsWith(pre))?.slice(pre.length);
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg, ...fields }) + '\n');
}

const failEvery = Number(process.env.FAKE_STAVE_FAIL_EVERY ?? 0);
const partialEvery = Number(process.env.FAKE_STAVE_PARTIAL_EVERY ?? 0);
const blocksDir = flag('storage.trace.local.path') ?? path.resolve('data/blocks');
const traces = new Map<string, ResourceSpans[]>();
const startedAt = Date.now();
let pushes = 0;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function store(body: Buffer, drop: number): number {
  const reqMsg = fromBinary(ExportTraceServiceRequestSchema, body);
  const all: Array<{ rs: ResourceSpans; scope: ResourceSpans['scopeSpans'][number]; span: Span }> = [];
  for (const rs of reqMsg.resourceSpans) for (const ss of rs.scopeSpans) for (const span of ss.spans) all.push({ rs, scope: ss, span });
  const kept = all.slice(0, Math.max(0, all.length - drop));
  for (const { rs, scope, span } of kept) {
    const id = Buffer.from(span.traceId).toString('hex');
    let list = traces.get(id);
    if (!list) traces.set(id, (list = []));
    list.push(
      create(ResourceSpansSchema, {
        resource: rs.resource,
        schemaUrl: rs.schemaUrl,
        scopeSpans: [create(ScopeSpansSchema, { scope: scope.scope, schemaUrl: scope.schemaUrl, spans: [span] })],
      }),
    );
  }
  return all.length - kept.length;
}

const otlp = http.createServer((req, res) => {
  void readBody(req).then((body) => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
    pushes++;
    if (failEvery && pushes % failEvery === 0) return void res.writeHead(503, { 'content-type': 'text/plain' }).end('fake overload\n');
    let rejected: number;
    try {
      rejected = store(body, partialEvery && pushes % partialEvery === 0 ? 3 : 0);
    } catch (err) {
      return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request: ${String(err)}\n`);
    }
    const out = create(
      ExportTraceServiceResponseSchema,
      rejected ? { partialSuccess: { rejectedSpans: BigInt(rejected), errorMessage: 'fake partial success' } } : {},
    );
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(toBinary(ExportTraceServiceResponseSchema, out)));
  });
});

const api = http.createServer((req, res) => {
  void readBody(req).then(() => {
    const url = req.url ?? '/';
    if (url === '/ready') {
      // Not ready for the first 300 ms, so the harness's readiness polling is exercised.
      return void res.writeHead(Date.now() - startedAt < 300 ? 503 : 200).end(Date.now() - startedAt < 300 ? 'starting\n' : 'ready\n');
    }
    if (url === '/flush') {
      const dir = path.join(blocksDir, 'single-tenant', 'fake-block');
      mkdirSync(dir, { recursive: true });
      const parts = [...traces.values()].map((rs) => toBinary(TraceSchema, create(TraceSchema, { resourceSpans: rs })));
      writeFileSync(path.join(dir, 'data.bin'), Buffer.concat(parts));
      writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ traces: traces.size }));
      return void res.writeHead(204).end();
    }
    const m = /^\/api\/traces\/([0-9a-f]{32})$/.exec(url);
    if (m) {
      const rs = traces.get(m[1]!);
      if (!rs) return void res.writeHead(404).end();
      return void res
        .writeHead(200, { 'content-type': 'application/protobuf' })
        .end(Buffer.from(toBinary(TraceSchema, create(TraceSchema, { resourceSpans: rs }))));
    }
    res.writeHead(404).end();
  });
});

api.listen(Number(flag('server.http-listen-port') ?? 3200), flag('server.http-listen-address') ?? '127.0.0.1', () => {
  log('http server listening', { server: 'http', port: (api.address() as { port: number }).port });
  // The harness waits for the internal RPC port too; the fake has none, so it names its HTTP port.
  log('grpc server listening', { server: 'grpc', port: (api.address() as { port: number }).port });
  otlp.listen(0, '127.0.0.1', () => log('receiver listening', { receiver: 'otlp_http', port: (otlp.address() as { port: number }).port }));
});

process.on('SIGTERM', () => {
  log('shutting down', { reason: 'SIGTERM' });
  otlp.closeAllConnections();
  api.closeAllConnections();
  otlp.close();
  api.close(() => process.exit(0));
});
