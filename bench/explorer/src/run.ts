// The explorer's trace view on a 20,000-span trace: time to the first screen in headless Chromium.
//
// bin/stave -target=all takes one trace of `--spans` spans (12 services, fanout 8, nested durations) and a
// baseline trace of 10 spans over OTLP/HTTP. For each, `--runs` times, a fresh browser context (cold HTTP
// cache: the pages' bundles are fetched too) opens `/#/trace/<id>` and the clock stops when the waterfall's
// rows are in the DOM and a frame has been painted (performance.now(), from navigation start). Reported:
// median and worst first screen, the trace fetch's share (Resource Timing) and the page's own work after it, the ratio to the baseline, the
// time to scroll the 20,000 rows (10 jumps, each until the next frame), and the bundle size written by
// `make build`. Target (issue 16, acceptance 2): first screen under 2 s. Measured, never asserted.
//
//   make bench-explorer ARGS="--out bench/results/explorer.md"
//   node_modules/.bin/tsc -b bench/explorer && node bench/explorer/dist/run.js --help
//
// Imports built code by path (bench/explorer is not a workspace package), as bench/blocks does.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ArgError, intArg, parseArgs } from '../../../bench/dist/args.js';
import { describeMachine, machineInfo } from '../../../bench/dist/machine.js';
import { BENCH_CONFIG_YAML, startStave } from '../../../bench/dist/stave-process.js';
import { bigTrace, otlpJson, pushJsonTrace, type SpanSpec } from '../../../test/dist/support/explorer-trace.js';
import { poll } from '../../../test/dist/support/poll.js';

const REPO = path.resolve(__dirname, '..', '..', '..');

const TARGET_MS = 2000;
const BIG_ID = '1e2d3c4b5a69788796a5b4c3d2e1f001';
const SMALL_ID = '1e2d3c4b5a69788796a5b4c3d2e1f002';
const HELP = `Usage: node bench/explorer/dist/run.js [--spans N] [--runs N] [--out FILE] [--note TEXT] [--chromium PATH]
  --spans N      spans in the big trace (default 20000)
  --runs N       page loads per trace (default 5)
  --out FILE     append the markdown result to FILE (bench/results/explorer.md)
  --note TEXT    stored with the result
  --chromium P   the Chromium binary (default /usr/bin/chromium)
`;

interface Load {
  firstScreenMs: number;
  fetchMs: number;
  /** From the trace's last byte to the painted first screen: the page's own work (parse, tree, render). */
  renderMs: number;
  /** Parts of renderMs, from the page's performance marks: JSON.parse, span tree, render and paint. */
  jsonMs: number;
  treeMs: number;
  paintMs: number;
  rows: number;
}

/** Pushes a trace in requests of at most 2,000 spans (each request is one OTLP/JSON body). */
async function push(port: number, id: string, spans: readonly SpanSpec[], startMs: number): Promise<void> {
  for (let i = 0; i < spans.length; i += 2000) await pushJsonTrace(port, otlpJson(id, startMs, spans.slice(i, i + 2000)));
}

async function load(browser: Browser, url: string, spans: number): Promise<Load> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await ctx.newPage();
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForFunction((n) => document.querySelector(`.wf-scroll[data-rows="${n}"] .wf-row`) !== null, spans, { timeout: 60_000, polling: 'raf' });
    // performance.now() is measured from the navigation's start; two frames: the rows have been painted.
    const firstScreenMs = await page.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now())))));
    const [fetchMs, responseEnd] = await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').find((x) => x.name.includes('/api/v2/traces/')) as PerformanceResourceTiming | undefined;
      return e ? [e.duration, e.responseEnd] : [NaN, NaN];
    });
    const marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])));
    const at = (name: string) => marks[name] ?? NaN;
    const rows = await page.locator('.wf-row').count();
    return {
      firstScreenMs,
      fetchMs,
      renderMs: firstScreenMs - responseEnd,
      jsonMs: at('stave:trace-json') - at('stave:api-body'),
      treeMs: at('stave:trace-parsed') - at('stave:trace-json'),
      paintMs: firstScreenMs - at('stave:trace-parsed'),
      rows,
    };
  } finally {
    await ctx.close();
  }
}

/** Jumps through the whole waterfall in 10 steps; the mean time from each scroll to the next painted frame. */
async function scrollMs(browser: Browser, url: string, spans: number): Promise<number> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForFunction((n) => document.querySelector(`.wf-scroll[data-rows="${n}"] .wf-row`) !== null, spans, { timeout: 60_000 });
    return await page.evaluate(async () => {
      const el = document.querySelector('.wf-scroll')!;
      const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));
      let total = 0;
      for (let i = 1; i <= 10; i++) {
        const t0 = performance.now();
        el.scrollTop = (el.scrollHeight * i) / 10 - el.clientHeight;
        el.dispatchEvent(new Event('scroll'));
        await frame();
        await frame();
        total += performance.now() - t0;
      }
      return total / 10;
    });
  } finally {
    await ctx.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (v: number) => `${Math.round(v)} ms`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), { known: ['spans', 'runs', 'out', 'note', 'chromium', 'help'], booleans: ['help'] });
  } catch (e) {
    if (!(e instanceof ArgError)) throw e;
    process.stderr.write(`${e.message}\n${HELP}`);
    process.exit(2);
  }
  if (args.has('help')) {
    process.stdout.write(HELP);
    return;
  }
  const spans = intArg(args, 'spans', 20_000, 2);
  const runs = intArg(args, 'runs', 5, 1);
  const sizeFile = path.join(REPO, 'libs', 'explorer', 'dist', 'ui', 'bundle-size.json');
  const bundle = JSON.parse(readFileSync(sizeFile, 'utf8')) as {
    files: Array<{ file: string; bytes: number; gzipBytes: number }>;
    total: { bytes: number; gzipBytes: number };
  };

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-explorer-'));
  const configFile = path.join(dataDir, 'stave.yaml');
  // The bench's usual config, and no per-trace byte limit: the 20,000-span trace is one trace.
  writeFileSync(configFile, `${BENCH_CONFIG_YAML}    global:\n      max_bytes_per_trace: 0\n`);
  const stave = await startStave({ dataDir, configFile });
  let browser: Browser | undefined;
  try {
    const base = `http://127.0.0.1:${stave.httpPort}`;
    await poll('ready', async () => (await fetch(`${base}/ready`)).status === 200, { timeoutMs: 30_000 });
    const port = stave.otlpHttpPort;
    const now = Date.now();
    const big = bigTrace(spans);
    const small = bigTrace(10, 3, 3);
    process.stderr.write(`pushing a ${spans}-span trace and a 10-span baseline\n`);
    await push(port, BIG_ID, big, now - 60_000);
    await push(port, SMALL_ID, small, now - 60_000);
    const spanCount = async (id: string) => {
      const res = await fetch(`${base}/api/v2/traces/${id}`);
      if (res.status !== 200) return 0;
      const doc = (await res.json()) as { trace?: { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }> } };
      return (doc.trace?.resourceSpans ?? []).reduce((n, rs) => n + (rs.scopeSpans ?? []).reduce((m, ss) => m + (ss.spans?.length ?? 0), 0), 0);
    };
    let seen = 0;
    await poll(
      'the whole trace to be readable',
      async () => {
        seen = await spanCount(BIG_ID);
        process.stderr.write(`readable: ${seen} of ${spans} spans\n`);
        return seen === spans && (await spanCount(SMALL_ID)) === 10;
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    const traceBytes = (await (await fetch(`${base}/api/v2/traces/${BIG_ID}`)).arrayBuffer()).byteLength;

    browser = await chromium.launch({
      executablePath: args.get('chromium') ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const bigLoads: Load[] = [];
    const smallLoads: Load[] = [];
    // Warm-up load, not counted (the process's first answers include lazy start-up work).
    await load(browser, `${base}/#/trace/${SMALL_ID}`, 10);
    for (let i = 0; i < runs; i++) {
      smallLoads.push(await load(browser, `${base}/#/trace/${SMALL_ID}`, 10));
      bigLoads.push(await load(browser, `${base}/#/trace/${BIG_ID}`, spans));
      const b = bigLoads[i]!;
      process.stderr.write(
        `run ${i + 1}: ${ms(b.firstScreenMs)} (${spans} spans; fetch ${ms(b.fetchMs)}, page ${ms(b.renderMs)}), ${ms(smallLoads[i]!.firstScreenMs)} (10 spans)\n`,
      );
    }
    const scroll = await scrollMs(browser, `${base}/#/trace/${BIG_ID}`, spans);
    const bigMedian = median(bigLoads.map((l) => l.firstScreenMs));
    const smallMedian = median(smallLoads.map((l) => l.firstScreenMs));
    const bigRender = median(bigLoads.map((l) => l.renderMs));
    const row = (label: string, loads: Load[]) =>
      `| ${label} | **${ms(median(loads.map((l) => l.firstScreenMs)))}** | ${ms(Math.max(...loads.map((l) => l.firstScreenMs)))} | ${ms(median(loads.map((l) => l.fetchMs)))} | **${ms(median(loads.map((l) => l.renderMs)))}** | ${ms(Math.max(...loads.map((l) => l.renderMs)))} | ${loads[0]!.rows} |`;
    const info = machineInfo(REPO);
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    const lines = [
      '',
      `## ${info.date} — ${info.git ?? 'unknown commit'}`,
      '',
      `Machine: ${describeMachine(info)}; ${browser.version()} headless (playwright-core).`,
      ...(args.get('note') ? [`Note: ${args.get('note')}`] : []),
      '',
      `Load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(', ')}.`,
      '',
      '| trace | first screen from navigation (median of ' +
        runs +
        ') | worst | of which the trace fetch (API) | page work after the fetch (median) | worst | rows in DOM |',
      '|---|---|---|---|---|---|---|',
      row(`${spans} spans (${(traceBytes / 2 ** 20).toFixed(1)} MiB JSON)`, bigLoads),
      row('10 spans (baseline)', smallLoads),
      '',
      `- Ratio ${spans} spans / baseline (first screen): ${(bigMedian / smallMedian).toFixed(2)}×.`,
      `- Target first screen < ${ms(TARGET_MS)}: from navigation ${bigMedian < TARGET_MS ? 'met' : 'NOT met'}; page work after the trace arrived ${bigRender < TARGET_MS ? 'met' : 'NOT met'} (${ms(bigRender)}).`,
      `- The page's work on the ${spans}-span trace (medians): JSON.parse ${ms(median(bigLoads.map((l) => l.jsonMs)))}, span tree ${ms(median(bigLoads.map((l) => l.treeMs)))}, render and paint ${ms(median(bigLoads.map((l) => l.paintMs)))}.`,
      `- Scrolling the ${spans} rows (10 jumps): ${ms(scroll)} per jump to the next painted frame.`,
      `- Bundle (make build): ${bundle.files.map((f) => `${f.file} ${kib(f.bytes)} (${kib(f.gzipBytes)} gzip)`).join(', ')}; total ${kib(bundle.total.bytes)}, ${kib(bundle.total.gzipBytes)} gzip.`,
      '',
    ];
    const text = lines.join('\n');
    process.stdout.write(text);
    const out = args.get('out');
    if (out) appendFileSync(out, text);
  } finally {
    await browser?.close();
    await stave.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
