// The explorer pages in headless Chromium (Debian's `chromium`, driven by playwright-core) against the
// built single binary: a trace of known shape is pushed over OTLP/HTTP, found by a TraceQL search, opened;
// the waterfall must show every span with its nesting (depth, parent) and duration; a span's attributes,
// events and links open; collapsing, in-trace search and opening a pasted trace ID work. Screenshots are
// saved to .tmp/screenshots/ for a person to look at.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { configYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { otlpJson, pushJsonTrace, type SpanSpec } from './support/explorer-trace';
import { poll } from './support/poll';
import { REPO, startStave, type StaveProcess } from './support/stave-process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.join(REPO, '.tmp', 'screenshots');
const TENANT = 'explorer-test';
// No leading zero: Tempo's search prints trace IDs without them, and the row is found by this ID.
const TRACE_ID = '7b2f4c1d9e8a6b5c4d3e2f1a0b9c8d7e';
const OTHER_ID = '5a5a5a5a5a5a5a5a1b1b1b1b1b1b1b1b';

// Children listed out of start order on purpose: the waterfall orders siblings by start time.
const SPANS: SpanSpec[] = [
  { id: 'a000000000000001', service: 'frontend', name: 'GET /checkout', startMs: 0, durationMs: 250, kind: 2, attributes: { 'http.method': 'GET' } },
  { id: 'a000000000000006', parent: 'a000000000000001', service: 'frontend', name: 'render', startMs: 215, durationMs: 30 },
  { id: 'a000000000000002', parent: 'a000000000000001', service: 'checkout', name: 'place-order', startMs: 10, durationMs: 200 },
  {
    id: 'a000000000000003',
    parent: 'a000000000000002',
    service: 'db',
    name: 'SELECT orders',
    startMs: 20,
    durationMs: 40,
    kind: 3,
    attributes: { 'db.statement': 'SELECT * FROM orders WHERE id = ?' },
  },
  {
    id: 'a000000000000004',
    parent: 'a000000000000002',
    service: 'payments',
    name: 'charge card',
    startMs: 70,
    durationMs: 130,
    error: true,
    attributes: { 'payment.amount': 42.5, 'payment.retries': 1, 'card.brand': 'visa' },
    events: [{ atMs: 100, name: 'retrying charge', attributes: { reason: 'timeout' } }],
    links: [{ traceId: OTHER_ID, spanId: 'b000000000000001' }],
  },
  { id: 'a000000000000005', parent: 'a000000000000004', service: 'payments', name: 'POST /charge', startMs: 80, durationMs: 110, kind: 3 },
];

// Depth-first, siblings by start: what the waterfall must show, in order, with these labels.
const EXPECTED: Array<{ id: string; depth: number; parent: string; durationNs: number; label: string }> = [
  { id: 'a000000000000001', depth: 0, parent: '', durationNs: 250e6, label: '250 ms' },
  { id: 'a000000000000002', depth: 1, parent: 'a000000000000001', durationNs: 200e6, label: '200 ms' },
  { id: 'a000000000000003', depth: 2, parent: 'a000000000000002', durationNs: 40e6, label: '40 ms' },
  { id: 'a000000000000004', depth: 2, parent: 'a000000000000002', durationNs: 130e6, label: '130 ms' },
  { id: 'a000000000000005', depth: 3, parent: 'a000000000000004', durationNs: 110e6, label: '110 ms' },
  { id: 'a000000000000006', depth: 1, parent: 'a000000000000001', durationNs: 30e6, label: '30 ms' },
];

const OTHER_SPANS: SpanSpec[] = [
  { id: 'b000000000000001', service: 'batch', name: 'nightly job', startMs: 0, durationMs: 1500 },
  { id: 'b000000000000002', parent: 'b000000000000001', service: 'batch', name: 'step', startMs: 100, durationMs: 900 },
];

describe('explorer pages in headless Chromium', () => {
  let p: StaveProcess;
  let browser: Browser;
  let page: Page;
  let base: string;

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    p = startStave({ configYaml: configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER) });
    base = await p.url('');
    await p.ready();
    const port = await p.receiverPort(/otlp.*http/);
    const now = Date.now();
    await pushJsonTrace(port, otlpJson(TRACE_ID, now - 60_000, SPANS), TENANT);
    await pushJsonTrace(port, otlpJson(OTHER_ID, now - 30_000, OTHER_SPANS), TENANT);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    page.setDefaultTimeout(10_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await p?.stop();
    p?.cleanup();
  });

  it('serves the pages at / with content types and cache headers', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const js = /src="(explorer\/assets\/app-[^"]+\.js)"/.exec(html)?.[1];
    const css = /href="(explorer\/assets\/app-[^"]+\.css)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    const jsRes = await fetch(`${base}/${js}`);
    expect(jsRes.status).toBe(200);
    expect(jsRes.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(jsRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(jsRes.headers.get('content-encoding')).toBe('gzip');
    expect((await fetch(`${base}/${css}`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': index.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${base}/explorer/assets/nope.js`)).status).toBe(404);
    // Tempo's paths keep working beside the pages.
    expect((await fetch(`${base}/api/echo`)).status).toBe(200);
  });

  it('searches with TraceQL, opens the trace, and shows every span with its nesting and duration', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    // The tenant, set as a user would, in the API settings.
    await page.click('.settings summary');
    await page.fill('input[name="org-id"]', TENANT);
    await page.click('.settings button[type="submit"]');
    await page.click('.settings summary');

    await page.fill('input[name="q"]', '{ resource.service.name = "payments" && status = error }');
    await page.selectOption('select[name="range"]', '1h');
    await page.click('.search-form button[type="submit"]');
    // The trace may still be on its way through the ingester: search again until it is found.
    const row = page.locator(`tr.result[data-trace-id="${TRACE_ID}"]`);
    await poll(
      'the search to find the trace',
      async () => {
        if ((await row.count()) > 0) return true;
        await page.click('.search-form button[type="submit"]');
        await page.waitForTimeout(300);
        return false;
      },
      { timeoutMs: 20_000 },
    );
    expect(await page.locator('tr.result').count()).toBe(1);
    expect(await row.locator('td').nth(1).innerText()).toBe('frontend');
    expect(await row.locator('td').nth(2).innerText()).toBe('GET /checkout');
    expect(await row.locator('td').nth(4).innerText()).toBe('250 ms');
    expect(await row.locator('td').nth(6).innerText()).toContain('●');
    expect(await page.locator('.recent .chip').first().innerText()).toContain('payments');
    await shot('1-search-results');

    await row.click();
    await page.waitForSelector('.wf-row');
    expect(page.url()).toContain(`#/trace/${TRACE_ID}`);
    expect(await page.locator('[data-testid="span-count"]').innerText()).toBe(String(SPANS.length));
    const shown = await page.locator('.wf-row').evaluateAll((rows) =>
      rows.map((r) => ({
        id: r.getAttribute('data-span-id'),
        depth: Number(r.getAttribute('data-depth')),
        parent: r.getAttribute('data-parent-id'),
        durationNs: Number(r.getAttribute('data-duration-ns')),
        label: r.querySelector('.dur')?.textContent,
        indent: Number(/padding-left:\s*([\d.]+)px/.exec(r.querySelector('.wf-name-col')?.getAttribute('style') ?? '')?.[1]),
        top: Number(/top:\s*([\d.]+)px/.exec(r.getAttribute('style') ?? '')?.[1]),
      })),
    );
    shown.sort((a, b) => a.top - b.top);
    expect(shown.map(({ id, depth, parent, durationNs, label }) => ({ id, depth, parent, durationNs, label }))).toEqual(EXPECTED);
    // Deeper rows are indented further.
    for (let i = 1; i < shown.length; i++) expect(Math.sign(shown[i]!.indent - shown[i - 1]!.indent)).toBe(Math.sign(shown[i]!.depth - shown[i - 1]!.depth));
    // The error span is marked.
    expect(await page.locator('.wf-row.error').getAttribute('data-span-id')).toBe('a000000000000004');
    await shot('2-trace-waterfall');
    expect(errors).toEqual([]);
  });

  it("opens a span's attributes, resource, events and links", async () => {
    await page.click('.wf-row[data-span-id="a000000000000004"]');
    const details = page.locator('[data-testid="span-details"]');
    await details.waitFor();
    const attrs = await details
      .locator('[data-testid="span-attributes"] tr')
      .evaluateAll((rows) => rows.map((r) => [r.querySelector('.key')?.textContent, r.querySelector('.val')?.textContent]));
    expect(attrs).toEqual([
      ['payment.amount', '42.5'],
      ['payment.retries', '1'],
      ['card.brand', 'visa'],
    ]);
    expect(await details.locator('[data-testid="resource-attributes"]').innerText()).toContain('payments');
    expect(await details.locator('[data-testid="detail-duration"]').innerText()).toBe('130 ms');
    expect(await details.locator('[data-testid="span-events"]').innerText()).toContain('retrying charge');
    expect(await details.locator('[data-testid="span-events"]').innerText()).toContain('+30 ms');
    expect(await details.locator('[data-testid="span-links"]').innerText()).toContain(OTHER_ID);
    expect(await details.innerText()).toContain('card declined');
    await shot('3-span-details');
  });

  it('collapses a subtree and finds spans inside the trace', async () => {
    await page.click('.wf-row[data-span-id="a000000000000002"] .toggle');
    expect(await page.locator('.wf-row').count()).toBe(3);
    await shot('4-collapsed');
    await page.fill('input.find', 'charge');
    expect(await page.locator('[data-testid="match-count"]').innerText()).toBe('2 matches');
    await page.press('input.find', 'Enter');
    // The first match sits under the collapsed span: it is opened and selected.
    expect(await page.locator('.wf-row').count()).toBe(6);
    expect(await page.locator('.wf-row.selected').getAttribute('data-span-id')).toBe('a000000000000004');
    expect(await page.locator('.wf-row.match').count()).toBe(2);
    await shot('5-find-in-trace');
  });

  it('opens a trace ID pasted into the search box', async () => {
    await page.goto(`${base}/#/`);
    await page.fill('input[name="q"]', OTHER_ID);
    await page.press('input[name="q"]', 'Enter');
    await page.waitForSelector('.wf-row[data-span-id="b000000000000002"]');
    expect(page.url()).toContain(`#/trace/${OTHER_ID}`);
    expect(await page.locator('.wf-row').count()).toBe(2);
    await page.goto(`${base}/#/trace/00000000000000000000000000000abc`);
    await page.waitForSelector('.error-box');
    expect(await page.locator('.error-box').innerText()).toContain('was not found');
  });
});
