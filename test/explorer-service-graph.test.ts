// The explorer's service-graph page (issue 16) in headless Chromium, from the metrics-generators' series:
// checkout traces go into Stave over OTLP/HTTP, the generator pairs their client and server spans, and the
// page draws services as nodes and the requests between them as edges, with counts and error rates;
// clicking a node searches for that service's traces. Run in `-target=all` (generator in process) and with
// the query-frontend, distributor, ingester and metrics-generator as separate processes (the frontend asks
// the generator over Connect, found through the generator ring). Without a generator, or with the
// processor off for the tenant, the page says so. Screenshots go to .tmp/screenshots/.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { configYaml, GENERATOR_PROCESSORS, generatorYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { otlpJson, pushJsonTrace, type SpanSpec } from './support/explorer-trace';
import { poll } from './support/poll';
import { ringShards } from './support/stave-http';
import { gossipPort, REPO, startStave, type StaveProcess } from './support/stave-process';

jest.setTimeout(180_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.join(REPO, '.tmp', 'screenshots');
const TRACES = 6;
/** Traces 0 and 3 fail in payments. */
const failing = (i: number) => i % 3 === 0;

/** Checkout i: frontend (root, calls payments), payments (serves it, writes to its database). */
function checkout(i: number): SpanSpec[] {
  const s = (n: number) => `c${i.toString(16).padStart(2, '0')}${'0'.repeat(12)}${n}`;
  return [
    { id: s(1), service: 'frontend', name: 'GET /checkout', startMs: 0, durationMs: 300, kind: 2 },
    { id: s(2), parent: s(1), service: 'frontend', name: 'POST /pay', startMs: 10, durationMs: 200, kind: 3 },
    { id: s(3), parent: s(2), service: 'payments', name: 'POST /pay', startMs: 20, durationMs: 150, kind: 2, error: failing(i) },
    {
      id: s(4),
      parent: s(3),
      service: 'payments',
      name: 'INSERT',
      startMs: 30,
      durationMs: 20,
      kind: 3,
      attributes: { 'db.system': 'postgresql', 'db.name': 'ledger' },
    },
  ];
}
const traceId = (i: number) => `5e${i.toString(16).padStart(2, '0')}${'7c'.repeat(14)}`;

async function pushCheckouts(p: StaveProcess, tenant?: string): Promise<void> {
  const port = await p.receiverPort(/otlp.*http/);
  for (let i = 0; i < TRACES; i++) await pushJsonTrace(port, otlpJson(traceId(i), Date.now() - 5000, checkout(i)), tenant);
}

interface GraphJson {
  status: string;
  generators: number;
  failedGenerators: number;
  edges: Array<{ client: string; server: string; connectionType: string; requests: number; failed: number }>;
  nodes: Array<{ id: string }>;
}

async function graphJson(p: StaveProcess, tenant?: string): Promise<{ status: number; body: GraphJson }> {
  const res = await fetch(await p.url('/api/explorer/service-graph'), { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  return { status: res.status, body: (res.status === 200 ? await res.json() : { error: await res.text() }) as GraphJson };
}

/** The edges the checkouts make once `wait` expired the roots into requests from `user`. */
const WANT_EDGES = [
  ['frontend', 'payments', '', TRACES, [...Array(TRACES).keys()].filter(failing).length],
  ['payments', 'ledger', 'database', TRACES, 0],
  ['user', 'frontend', 'virtual_node', TRACES, 0],
];

async function untilGraph(p: StaveProcess, tenant?: string): Promise<GraphJson> {
  let last: unknown;
  return poll(
    'the service graph of every checkout',
    async () => {
      const { status, body } = await graphJson(p, tenant);
      last = body;
      const got = status === 200 ? body.edges.map((e) => [e.client, e.server, e.connectionType, e.requests, e.failed]) : [];
      return JSON.stringify(got) === JSON.stringify(WANT_EDGES) && body;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer ${JSON.stringify(last)}`);
  });
}

/** The generator settings that make the test quick: roots expire into user edges after 1 s. */
const GENERATOR = generatorYaml({ wait: '1s' });

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

/** Opens the page for `tenant` (set as a user would, in the API settings). */
async function openServiceGraph(base: string, tenant: string): Promise<void> {
  await page.goto(`${base}/#/`);
  await page.click('.settings summary');
  await page.fill('input[name="org-id"]', tenant);
  await page.click('.settings button[type="submit"]');
  await page.click('.settings summary');
  await page.click('nav a[href="#/service-graph"]');
  await page.waitForSelector('.service-graph-page');
}

/** The rows of the page's edge table: client, server, type, requests, errors. */
async function edgeRows(): Promise<string[][]> {
  await page.waitForSelector('.sg-edge-row');
  return page
    .locator('.sg-edge-row')
    .evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].filter((_, i) => [0, 1, 2, 3, 5].includes(i)).map((td) => td.textContent ?? '')));
}

const WANT_ROWS = [
  ['frontend', 'payments', 'request', String(TRACES), '2 (33.3%)'],
  ['payments', 'ledger', 'database', String(TRACES), '0 (0.0%)'],
  ['user', 'frontend', 'virtual_node', String(TRACES), '0 (0.0%)'],
];

describe('service-graph page in -target=all', () => {
  let p: StaveProcess;
  let base: string;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-service-graph-'));

  beforeAll(async () => {
    // Processors on for tenant "shop" only (the per-tenant overrides file); "quiet" has none.
    const overrides = path.join(dir, 'overrides.yaml');
    writeFileSync(overrides, 'overrides:\n  shop:\n    metrics_generator_processors: [service-graphs, span-metrics]\n');
    p = startStave({
      configYaml: configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER, GENERATOR, ['overrides:', `  per_tenant_override_config: ${overrides}`]),
    });
    base = await p.url('');
    await p.ready();
    await pushCheckouts(p, 'shop');
    await pushCheckouts(p, 'quiet');
  }, 90_000);

  afterAll(async () => {
    await p?.stop();
    p?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the merged graph as JSON per tenant, and 401 without a tenant', async () => {
    const g = await untilGraph(p, 'shop');
    expect(g).toMatchObject({ status: 'ok', generators: 1, failedGenerators: 0 });
    expect(g.nodes.map((n) => n.id)).toEqual(['frontend', 'ledger', 'payments', 'user']);
    expect(await graphJson(p, 'quiet')).toMatchObject({ status: 200, body: { status: 'disabled', edges: [] } });
    expect((await graphJson(p)).status).toBe(401);
  });

  it('draws services and the requests between them; a node leads to a search for its traces', async () => {
    await openServiceGraph(base, 'shop');
    expect(await edgeRows()).toEqual(WANT_ROWS);
    const nodes = await page.locator('.sg-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-service')).sort());
    expect(nodes).toEqual(['frontend', 'ledger', 'payments', 'user']);
    // One arrow per edge, between the right nodes; the failing edge is marked.
    expect(await page.locator('.sg-edge').count()).toBe(3);
    expect(await page.locator('.sg-edge.failing').getAttribute('data-server')).toBe('payments');
    expect(await page.locator('.sg-node[data-service="payments"] .sg-stats').textContent()).toContain('33.3% err');
    await shot('service-graph-1-all');

    await page.click('.sg-node[data-service="payments"]');
    await page.waitForSelector('.search-page');
    expect(decodeURIComponent(page.url().replace(/\+/g, ' '))).toContain('q={ resource.service.name = "payments" }');
    // The traces may still be on their way through the ingester: search again until all are listed.
    await poll(
      'the search to list the checkouts',
      async () => {
        if ((await page.locator('tr.result').count()) === TRACES) return true;
        await page.click('.search-form button[type="submit"]');
        return false;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    await shot('service-graph-2-search-from-node');
  });

  it('says plainly when the processor is off for the tenant', async () => {
    await openServiceGraph(base, 'quiet');
    await page.waitForSelector('.sg-empty');
    expect(await page.locator('.sg-empty').textContent()).toContain('service-graphs processor is off for this tenant');
    expect(await page.locator('.sg-node').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

describe('service-graph page with the query-frontend and the metrics-generator in separate processes', () => {
  const procs: StaveProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((x) => x.stop()));
    for (const x of procs) x.cleanup();
  });

  it('asks the generator through the ring over Connect; says so while no generator runs', async () => {
    const config = configYaml(OTLP_HTTP_RECEIVER, GENERATOR, GENERATOR_PROCESSORS);
    const start = (target: string, ...args: string[]) => {
      const x = startStave({ configYaml: config, args: [`-target=${target}`, ...args] });
      procs.push(x);
      return x;
    };
    const ingester = start('ingester', '-ingester.lifecycler.id=ingester-0');
    const seed = await gossipPort(ingester);
    const join = `-memberlist.join-members=127.0.0.1:${seed}`;
    const frontend = start('query-frontend', join);
    await frontend.ready();

    // No generator yet: the API and the page say so.
    expect(await graphJson(frontend)).toMatchObject({ status: 200, body: { status: 'no-generators', generators: 0 } });
    await openServiceGraph(await frontend.url(''), '');
    await page.waitForSelector('.sg-empty');
    expect(await page.locator('.sg-empty').textContent()).toContain('No metrics-generator is running');
    await shot('service-graph-3-no-generator');

    const generator = start('metrics-generator', '-metrics-generator.ring.instance-id=generator-0', join);
    const distributor = start('distributor', '-ingester.lifecycler.id=distributor-0', join);
    for (const x of [ingester, generator, distributor]) await x.ready();
    for (const x of [distributor, frontend])
      await poll(
        'the generator ACTIVE in the ring',
        async () => (await ringShards(await x.url('/metrics-generator/ring'))).some((s) => s.id === 'generator-0' && s.state === 'ACTIVE'),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    await pushCheckouts(distributor);
    expect(await untilGraph(frontend)).toMatchObject({ status: 'ok', generators: 1, failedGenerators: 0 });

    await page.click('.sg-head button');
    expect(await edgeRows()).toEqual(WANT_ROWS);
    await shot('service-graph-4-fleet');
    expect(pageErrors).toEqual([]);
  });
});
