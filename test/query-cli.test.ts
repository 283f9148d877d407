// `stave query` and `stave blocks` as a user runs them, against a running `bin/stave -target=all`:
// `--output json` prints the same data as the HTTP API answers for the same request; tables name the
// spans, traces and blocks; bad arguments exit 2 naming the problem, an API that cannot be reached exits 1.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { configYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { otlpJson, pushJsonTrace, type SpanSpec } from './support/explorer-trace';
import { poll } from './support/poll';
import { STAVE_BIN, startStave, type StaveProcess } from './support/stave-process';

const TENANT = 'cli-test';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPANS: SpanSpec[] = [
  { id: 'c000000000000001', service: 'api', name: 'GET /orders', startMs: 0, durationMs: 80 },
  { id: 'c000000000000002', parent: 'c000000000000001', service: 'orders', name: 'load orders', startMs: 5, durationMs: 60, error: true },
  { id: 'c000000000000003', parent: 'c000000000000002', service: 'db', name: 'SELECT', startMs: 10, durationMs: 20 },
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function stave(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(STAVE_BIN, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('stave query and stave blocks against a running single binary', () => {
  let p: StaveProcess;
  let api: string;
  let start: number;
  let end: number;
  const config = configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER);

  async function apiJson(pathAndQuery: string): Promise<unknown> {
    const res = await fetch(`${api}${pathAndQuery}`, { headers: { 'x-scope-orgid': TENANT } });
    expect(res.status).toBe(200);
    return JSON.parse(await res.text());
  }

  beforeAll(async () => {
    p = startStave({ configYaml: config });
    api = await p.url('');
    await p.ready();
    const now = Date.now();
    await pushJsonTrace(await p.receiverPort(/otlp.*http/), otlpJson(TRACE_ID, now - 10_000, SPANS), TENANT);
    start = Math.floor(now / 1000) - 600;
    end = Math.floor(now / 1000) + 600;
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    p?.cleanup();
  });

  it('query trace --output json prints what GET /api/v2/traces/<id> answers', async () => {
    const r = await stave(['query', 'trace', TRACE_ID, '--api', api, '--org-id', TENANT, '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const fromCli = JSON.parse(r.stdout) as { trace: { resourceSpans: unknown[] } };
    expect(fromCli).toEqual(await apiJson(`/api/v2/traces/${TRACE_ID}`));
    expect(fromCli.trace.resourceSpans).toHaveLength(3);
  });

  it('query trace prints the span tree as a table', async () => {
    const r = await stave(['query', 'trace', TRACE_ID, `--api=${api}`, `--org-id=${TENANT}`]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`trace ${TRACE_ID}: 3 spans, 3 services, 80 ms, 1 errors`);
    expect(lines[1]).toMatch(/^SPAN ID\s+SERVICE\s+NAME\s+START\s+DURATION\s+STATUS$/);
    expect(lines.slice(2).map((l) => l.split(/\s{2,}/))).toEqual([
      ['c000000000000001', 'api', 'GET /orders', '+0 ns', '80 ms'],
      ['c000000000000002', 'orders', 'load orders', '+5 ms', '60 ms', 'error: card declined'],
      ['c000000000000003', 'db', 'SELECT', '+10 ms', '20 ms'],
    ]);
    // Nesting shows as indentation of the name column.
    expect(lines[3]).toContain('  load orders');
    expect(lines[4]).toContain('    SELECT');
  });

  it('query search --output json prints what GET /api/search answers for the same parameters', async () => {
    const q = '{ resource.service.name = "orders" }';
    const qs = new URLSearchParams({ q, start: String(start), end: String(end), limit: '5' }).toString();
    await poll('the trace to be searchable', async () => ((await apiJson(`/api/search?${qs}`)) as { traces: unknown[] }).traces.length === 1, {
      timeoutMs: 20_000,
    });
    const r = await stave([
      'query',
      'search',
      q,
      '--api',
      api,
      '--org-id',
      TENANT,
      '--start',
      String(start),
      '--end',
      String(end),
      '--limit',
      '5',
      '--output',
      'json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(await apiJson(`/api/search?${qs}`));

    const table = await stave(['query', 'search', q, '--api', api, '--org-id', TENANT, '--start', '10m', '--end', 'now']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TRACE ID\s+ROOT SERVICE\s+ROOT NAME\s+START\s+DURATION\s+MATCHED$/);
    expect(lines[1]!.split(/\s{2,}/)).toEqual([TRACE_ID, 'api', 'GET /orders', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), '80 ms', '1']);
    expect(lines[2]).toMatch(/^1 traces/);
  });

  it('names bad arguments (exit 2) and API failures (exit 1)', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['query', 'trace', 'xyz', '--api', api], 2, /"xyz" is not a trace ID/],
      [['query', 'search', '{}'], 2, /--api <url> is required/],
      [['query', 'search', '{}', '--api', api, '--output', 'yaml'], 2, /--output must be json or table/],
      [['query', 'search', '{}', '--api', api, '--start', 'yesterday'], 2, /--start: "yesterday" is not unix seconds/],
      [['query', 'search', '{', '--api', api, '--org-id', TENANT], 1, /the API answered 400/],
      [['query', 'trace', '00000000000000000000000000000abc', '--api', api, '--org-id', TENANT], 1, /trace 00000000000000000000000000000abc not found/],
      [['query', 'trace', TRACE_ID, '--api', 'http://127.0.0.1:9'], 1, /GET http:\/\/127\.0\.0\.1:9\/api\/v2\/traces/],
      [['blocks', 'frobnicate'], 2, /unknown blocks command "frobnicate"/],
    ];
    for (const [args, code, message] of cases) {
      const r = await stave(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code, stderr: expect.stringMatching(message) });
    }
  });

  it('blocks list and inspect read the flushed block from the backend of the config file', async () => {
    expect((await fetch(`${api}/flush`, { method: 'POST' })).status).toBe(204);
    const configArgs = [`-config.file=${path.join(p.dataDir, 'stave.yaml')}`, `-storage.trace.local.path=${path.join(p.dataDir, 'blocks')}`];
    const blocks = await poll(
      'a flushed block',
      async () => {
        const r = await stave(['blocks', 'list', '--output', 'json', ...configArgs]);
        if (r.code !== 0) throw new Error(r.stderr);
        const list = JSON.parse(r.stdout) as Array<{
          meta: { blockID: string; tenantID: string; totalObjects: number; totalSpans: number };
          compacted: boolean;
        }>;
        return list.length > 0 ? list : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(blocks).toEqual([{ meta: expect.objectContaining({ tenantID: TENANT, totalObjects: 1, totalSpans: 3 }), compacted: false }]);
    const id = blocks[0]!.meta.blockID;

    const table = await stave(['blocks', 'list', '--tenant', TENANT, ...configArgs]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(id);
    expect(table.stdout.trimEnd().split('\n').pop()).toMatch(/^1 blocks, 1 traces, /);
    // Not a TTY: no progress bar on stderr.
    expect(table.stderr).toBe('');

    const inspect = await stave(['blocks', 'inspect', id, '--tenant', TENANT, '--output', 'json', ...configArgs]);
    expect(inspect.code).toBe(0);
    const body = JSON.parse(inspect.stdout) as { meta: { blockID: string }; objects: Array<{ key: string; size: number }>; compacted: boolean };
    expect(body.meta.blockID).toBe(id);
    expect(body.objects.map((o) => o.key)).toEqual(expect.arrayContaining(['meta.json', 'data.parquet', 'index']));
    const text = await stave(['blocks', 'inspect', id, '--tenant', TENANT, ...configArgs]);
    expect(text.stdout).toMatch(/^block\s+/);
    expect(text.stdout).toMatch(/traces\s+1\n/);

    const missing = await stave(['blocks', 'inspect', '00000000-0000-0000-0000-000000000000', '--tenant', TENANT, ...configArgs]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
  });
});
