// Tenant isolation on the single binary with multitenancy on: two tenants push traces with their own
// services, attributes and values; every read endpoint of the router, asked as one tenant, returns nothing
// of the other — from the ingesters, and again after /flush from the backend blocks. Each tenant sees its
// own data through the same calls (so "nothing" is not an empty answer for another reason), a request
// without an org ID is 401, and bad org IDs are 400 on every entry.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { configYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const config = configYaml(
  ['multitenancy_enabled: true'],
  OTLP_HTTP_RECEIVER,
  ['ingester:', '  complete_block_timeout: 1s', '  flush_check_period: 200ms', '  trace_idle_period: 200ms'],
  ['storage:', '  trace:', '    blocklist_poll: 1s'],
);

interface TenantData {
  tenant: string;
  traceId: string;
  service: string;
  /** An attribute name and value no other tenant uses. */
  key: string;
  value: string;
}

const A: TenantData = { tenant: 'tenant-alpha', traceId: 'a1'.repeat(16), service: 'alpha-svc', key: 'alpha.secret', value: 'alpha-value-1' };
const B: TenantData = { tenant: 'tenant-bravo', traceId: 'b2'.repeat(16), service: 'bravo-svc', key: 'bravo.secret', value: 'bravo-value-2' };

function otlp(d: TenantData): Uint8Array {
  const now = BigInt(Date.now()) * 1_000_000n;
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: d.service } } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.from(d.traceId, 'hex'),
                  spanId: Buffer.from('0102030405060708', 'hex'),
                  name: `${d.service}-op`,
                  startTimeUnixNano: now - 1_000_000n,
                  endTimeUnixNano: now,
                  attributes: [{ key: d.key, value: { value: { case: 'stringValue', value: d.value } } }],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
}

/** Every read path of the router that answers with tenant data, as [name, path, accept]. */
function readPaths(d: TenantData): Array<[string, string, string?]> {
  const now = Math.floor(Date.now() / 1000);
  const window = `start=${now - 3600}&end=${now + 60}`;
  const q = encodeURIComponent(`{ resource.service.name = "${d.service}" }`);
  return [
    ['trace by ID v1', `/api/traces/${d.traceId}`],
    ['trace by ID v1 (protobuf)', `/api/traces/${d.traceId}`, 'application/protobuf'],
    ['trace by ID v2', `/api/v2/traces/${d.traceId}`],
    ['trace by ID v2 (protobuf)', `/api/v2/traces/${d.traceId}`, 'application/protobuf'],
    ['trace by ID v1 in a window', `/api/traces/${d.traceId}?${window}`],
    ['search, everything', '/api/search?q=%7B%7D&limit=1000'],
    ['search, everything in a window', `/api/search?q=%7B%7D&limit=1000&${window}`],
    ['search by TraceQL', `/api/search?q=${q}`],
    ['search by tags', `/api/search?tags=${encodeURIComponent(`${d.key}=${d.value}`)}`],
    ['search tags v1', '/api/search/tags'],
    ['search tags v2', '/api/v2/search/tags'],
    ['search tags v2, span scope', '/api/v2/search/tags?scope=span'],
    ['tag values v1 (service.name)', '/api/search/tag/service.name/values'],
    ['tag values v1 (the secret)', `/api/search/tag/${d.key}/values`],
    ['tag values v2 (resource.service.name)', '/api/v2/search/tag/resource.service.name/values'],
    ['tag values v2 (span attribute)', `/api/v2/search/tag/span.${d.key}/values`],
    ['tag values v2 (name)', '/api/v2/search/tag/name/values'],
    ['tag values v2 filtered by a query', `/api/v2/search/tag/resource.service.name/values?q=${q}`],
  ];
}

/** What must never appear in a response given to another tenant. */
const marks = (d: TenantData): string[] => [
  d.traceId,
  d.traceId.replace(/^0+/, ''),
  d.service,
  d.key,
  d.value,
  Buffer.from(d.traceId, 'hex').toString('base64'),
];

describe('tenant isolation on every read endpoint (multitenancy on)', () => {
  let p: StaveProcess;

  const get = async (path: string, tenant: string | undefined, accept?: string) => {
    const headers: Record<string, string> = {};
    if (tenant !== undefined) headers['x-scope-orgid'] = tenant;
    if (accept) headers.accept = accept;
    const res = await fetch(await p.url(path), { headers });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };

  beforeAll(async () => {
    p = startStave({ configYaml: config });
    await p.ready();
    const port = await p.receiverPort(/otlp.*http/);
    for (const d of [A, B]) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': d.tenant },
        body: otlp(d),
      });
      expect(res.status).toBe(200);
    }
  }, 60_000);

  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  async function expectIsolated(where: string): Promise<void> {
    for (const [self, other] of [
      [A, B],
      [B, A],
    ] as const) {
      // Each tenant reads its own trace (a positive control for the endpoints below).
      await poll(`${self.tenant} reads its trace from ${where}`, async () => (await get(`/api/traces/${self.traceId}`, self.tenant)).status === 200, {
        timeoutMs: 20_000,
      });
      const seen = await poll(`${self.tenant}'s own attribute values in search from ${where}`, async () => {
        const r = await get(`/api/search/tag/${self.key}/values`, self.tenant);
        return r.body.toString().includes(self.value) ? r : undefined;
      });
      expect(seen.status).toBe(200);
      for (const [name, path, accept] of [...readPaths(other), ...readPaths(self)]) {
        const r = await get(path, self.tenant, accept);
        expect({ name, tenant: self.tenant, status: r.status }).toEqual({ name, tenant: self.tenant, status: path.includes(other.traceId) ? 404 : 200 });
        const text = r.body.toString('latin1');
        for (const mark of marks(other)) {
          if (text.includes(mark) || r.body.includes(Buffer.from(other.traceId, 'hex'))) {
            throw new Error(`${where}: ${name} (${path}) as ${self.tenant} shows ${other.tenant}'s ${mark}: ${text.slice(0, 300)}`);
          }
        }
      }
    }
  }

  it('from the ingesters', async () => {
    await expectIsolated('the ingesters');
  }, 60_000);

  it('after /flush, from the backend blocks', async () => {
    const flush = await fetch(await p.url('/flush'), { method: 'POST' });
    expect(flush.status).toBe(204);
    // Wait until the ingester has dropped its local copies (only the backend holds the traces then) and the
    // blocklist shows each tenant's block.
    const local = path.join(p.dataDir, 'wal', 'blocks');
    await poll(
      'ingester dropped its complete blocks',
      () => !existsSync(local) || !readdirSync(local, { recursive: true }).some((f) => String(f).endsWith('meta.json')),
      { timeoutMs: 20_000 },
    );
    await poll(
      'blocks listed for both tenants',
      async () => {
        const metrics = await (await fetch(await p.url('/metrics'))).text();
        return [A, B].every((d) => new RegExp(`tempodb_blocklist_length\\{[^}]*tenant="${d.tenant}"[^}]*\\} [1-9]`).test(metrics));
      },
      { timeoutMs: 30_000 },
    );
    await expectIsolated('the backend blocks');
  }, 90_000);

  it('answers a read without an org ID with 401 on every endpoint', async () => {
    for (const [name, path, accept] of readPaths(A)) {
      const r = await get(path, undefined, accept);
      expect({ name, status: r.status }).toEqual({ name, status: 401 });
    }
  });

  it.each([
    ['a path', '../tenant-alpha'],
    ['a slash', 'tenant-alpha/x'],
    ['a dot', '.'],
    ['two dots', '..'],
    ['too long', 'x'.repeat(151)],
    ['a space', 'tenant alpha'],
  ])('refuses an org ID with %s (400) on every read endpoint and on push', async (_name, bad) => {
    for (const [name, path, accept] of readPaths(A)) {
      const r = await get(path, bad, accept);
      expect({ name, status: r.status }).toEqual({ name, status: 400 });
      expect(r.body.toString()).toMatch(/tenant ID/);
    }
    const port = await p.receiverPort(/otlp.*http/);
    const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': bad },
      body: otlp(A),
    });
    expect(res.status).toBe(400);
  });

  it('with multi-tenant queries, "a|b" reads both, and neither alone reads the other', async () => {
    const both = await get(`/api/traces/${A.traceId}`, `${A.tenant}|${B.tenant}`);
    expect(both.status).toBe(200);
    expect((await get(`/api/traces/${A.traceId}`, B.tenant)).status).toBe(404);
    // A listed tenant that is not valid makes the whole request a 400, not a partial read.
    expect((await get(`/api/traces/${A.traceId}`, `${B.tenant}|../${A.tenant}`)).status).toBe(400);
  });
});
