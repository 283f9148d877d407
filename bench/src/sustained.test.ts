// The sustained mode's peak is a closed loop whose steady part is its second half: the loop must retry
// refusals (so it measures what the server takes, not how fast it refuses), and the steady rate must weigh
// each window by its length and leave out the burst at the start.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runSustained, steadyRate, type SustainedWindow } from './sustained';
import { generatePool } from './workload';

const win = (atS: number, achievedSpansPerSec: number): SustainedWindow => ({
  atS,
  achievedSpansPerSec,
  offeredSpansPerSec: achievedSpansPerSec,
  latency: { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 },
  errors: 0,
  behindMs: 0,
  rssBytes: 0,
  cpuMicrosPerSpan: NaN,
  backlog: undefined,
  loadAvg: 0,
});

describe('steadyRate', () => {
  it('averages the windows that start at or after fromS, weighted by their length', () => {
    const windows = [win(10, 100_000), win(20, 90_000), win(30, 50_000), win(40, 60_000), win(45, 40_000)];
    const r = steadyRate(windows, 22.5);
    // Windows 30–40 and 40–45 (the 20–30 window starts before 22.5 s).
    expect(r.fromS).toBe(30);
    expect(r.toS).toBe(45);
    expect(r.spansPerSec).toBeCloseTo((60_000 * 10 + 40_000 * 5) / 15, 6);
    expect(steadyRate(windows, 20).spansPerSec).toBeCloseTo((50_000 * 10 + 60_000 * 10 + 40_000 * 5) / 25, 6);
  });

  it('is NaN when no window starts after fromS', () => {
    expect(steadyRate([win(10, 1)], 10).spansPerSec).toBeNaN();
    expect(steadyRate([], 0).spansPerSec).toBeNaN();
  });
});

describe('runSustained, closed loop', () => {
  let server: http.Server;
  let port = 0;
  let answered = 0;
  const REFUSED = 2;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // The first requests are refused as a full ingester refuses them.
        if (answered++ < REFUSED) {
          res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' });
          res.end('INGESTER_FULL');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('retries refusals after Retry-After and reports every window', async () => {
    const pool = generatePool({ seed: 3, traces: 60, batchSpans: 50, nowMs: 1_700_000_000_000 });
    const r = await runSustained(pool, {
      host: '127.0.0.1',
      port,
      metricsPort: port,
      pid: process.pid,
      rate: Infinity,
      durationMs: 3000,
      windowMs: 1000,
      concurrency: 2,
      progress: false,
      log: () => undefined,
    });
    expect(r.retried).toEqual({ 'HTTP 503': REFUSED });
    expect(r.errors).toEqual({});
    // Every request sent was acknowledged in the end: the refused ones on their retry.
    expect(r.ackedSpans).toBeGreaterThan(0);
    expect(r.ackedSpans).toBe(r.offeredSpans);
    expect(r.windows.length).toBeGreaterThanOrEqual(2);
    expect(r.windows.every((w) => w.behindMs === 0)).toBe(true);
    expect(steadyRate(r.windows, 1).spansPerSec).toBeGreaterThan(0);
  });
});
