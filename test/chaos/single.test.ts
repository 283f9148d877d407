// The chaos tier on one `bin/stave -target=all` process (RF 1) with multitenancy: a torn WAL tail after
// kill -9 (REL-08), an oversize trace (REL-14) and a noisy tenant at 10x its limit beside a quiet one
// (REL-15). Seeded load (seed printed; replay with CHAOS_SEED=<n>); every acknowledged span of the
// affected data is read back exact by ID; the process never exits unless killed (I4) and stops cleanly on
// SIGTERM (I5).

import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { Prng } from '@stave/bench';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { configYaml, OTLP_HTTP_RECEIVER } from '../support/config';
import { poll } from '../support/poll';
import { checkLedger, CLEAN, verdict } from './support/checker';
import { chaosSeed, Fleet, note } from './support/fleet';
import { ChaosLoad, type TraceRecord } from './support/load';

const SEED = chaosSeed('single');
const MAX_BYTES_PER_TRACE = 20_000;
const RATE_BYTES = 40_000;
const CONFIG = configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER, [
  'overrides:',
  '  defaults:',
  '    ingestion:',
  `      rate_limit_bytes: ${RATE_BYTES}`,
  `      burst_size_bytes: ${RATE_BYTES}`,
  '      max_traces_per_user: 100000',
  '    global:',
  `      max_bytes_per_trace: ${MAX_BYTES_PER_TRACE}`,
]);

/** Every WAL segment of a tenant, largest first. */
function segments(dataDir: string, tenant: string): string[] {
  const dir = path.join(dataDir, 'wal', tenant);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.wal'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}

/** Trace IDs (hex) of the records of a segment that end after `cut` (record layout in libs/ingester/src/wal.ts). */
function tracesPastCut(file: string, cut: number): Set<string> {
  const buf = readFileSync(file);
  const past = new Set<string>();
  for (let off = 0; off + 8 + 16 <= buf.length;) {
    const len = buf.readUInt32LE(off);
    const end = off + 8 + len;
    if (end > cut) past.add(buf.subarray(off + 8, off + 24).toString('hex'));
    off = end;
  }
  return past;
}

describe(`chaos on the single binary (seed ${SEED})`, () => {
  const fleet = new Fleet(CONFIG);
  let port: number;
  let receiver: { host: string; port: number };

  beforeAll(async () => {
    fleet.start('stave', 'all');
    await fleet.ready('stave');
    port = await fleet.get('stave').proc.httpPort();
    receiver = { host: '127.0.0.1', port: await fleet.get('stave').proc.receiverPort(/otlp.*http/) };
  }, 120_000);

  afterEach(() => expect(fleet.unexpectedExits).toEqual([]));
  afterAll(() => fleet.cleanup());

  it('REL-08 torn WAL tail (truncate + garbage) after kill -9: starts, counts and logs the tear with file and offset, replays every record before it', async () => {
    const load = new ChaosLoad({ seed: SEED, targets: [receiver], tenant: 'wal', concurrency: 2 });
    await load.send(40);
    await fleet.kill('stave', 'SIGKILL');
    const seg = segments(fleet.get('stave').dataDir, 'wal')[0]!;
    const size = statSync(seg).size;
    // Tear: cut into the last records, then garbage where the rest of a record would be.
    const cut = Math.floor(size * 0.8);
    const past = tracesPastCut(seg, cut);
    truncateSync(seg, cut);
    appendFileSync(seg, new Prng(SEED).bytes(new Uint8Array(1000)));
    const m = fleet.restart('stave');
    await fleet.ready('stave');
    receiver.port = await m.proc.receiverPort(/otlp.*http/);
    port = await m.proc.httpPort();
    const tear = await poll('the tear logged', () => m.proc.logs.find((l) => String(l.msg).startsWith('WAL segment has a torn or corrupt tail')));
    expect(tear).toMatchObject({ file: seg });
    expect(typeof tear.offset).toBe('number');
    expect(tear.offset as number).toBeLessThanOrEqual(cut);
    expect(await fleet.metric('stave', 'stave_ingester_wal_corrupt_records_total')).toBe(1);
    const before: Array<[string, TraceRecord]> = load.ledger.ackedTraces().filter(([id]) => !past.has(id));
    note(`REL-08: ${before.length} traces wholly before the tear, ${past.size} past it`);
    expect(before.length).toBeGreaterThan(0);
    const r = await checkLedger(load.ledger, { port, tenant: 'wal', only: before });
    expect(verdict(r)).toEqual(CLEAN);
    expect(r.exact).toBe(before.length);
    // Still writable and readable afterwards.
    const after = new ChaosLoad({ seed: SEED + 1, targets: [receiver], tenant: 'wal-after' });
    await after.send(10);
    expect(verdict(await checkLedger(after.ledger, { port, tenant: 'wal-after' }))).toEqual(CLEAN);
  }, 240_000);

  it('REL-14 oversize trace: spans past max_bytes_per_trace discarded and counted as trace_too_large; other traces unaffected', async () => {
    const big = Buffer.alloc(16, 0xb1);
    const small = Buffer.alloc(16, 0x51);
    const span = (traceId: Buffer, i: number, bytes: number) => ({
      traceId,
      spanId: Buffer.from(i.toString(16).padStart(16, '0'), 'hex'),
      name: 'x'.repeat(bytes),
      startTimeUnixNano: BigInt(Date.now()) * 1_000_000n,
    });
    const body = (spans: ReturnType<typeof span>[]) =>
      toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    const push = (spans: ReturnType<typeof span>[]) =>
      fetch(`http://127.0.0.1:${receiver.port}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': 'big' },
        body: body(spans),
      });
    // The big trace grows over several pushes past the limit; the small one rides along in each.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await push([span(big, 100 + i, 6000), span(small, 200 + i, 50)]);
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    note(`REL-14 push statuses ${statuses.join(',')}`);
    expect(await fleet.metric('stave', 'tempo_discarded_spans_total')).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/tempo_discarded_spans_total\{[^}]*reason="trace_too_large"[^}]*\} [1-9]/);
    const get = async (id: Buffer) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/traces/${id.toString('hex')}`, { headers: { 'x-scope-orgid': 'big' } });
      return res.status === 200 ? ((await res.json()) as { batches?: unknown[]; resourceSpans?: unknown[] }) : res.status;
    };
    // The small trace: every span, although each push also carried a refused part of the big one.
    const smallTrace = JSON.stringify(await get(small));
    for (let i = 0; i < 6; i++) expect(smallTrace).toContain(Buffer.from((200 + i).toString(16).padStart(16, '0'), 'hex').toString('base64'));
    // The process keeps serving.
    const res = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(res.status).toBe(200);
  }, 120_000);

  it('REL-15 a noisy tenant at 10x its rate limit gets 429 with Retry-After; a quiet tenant sees 0 errors', async () => {
    // Quiet: ~4 KB/s, a tenth of the limit. Noisy: as fast as 4 workers go with 40 KB bodies (~10x).
    const quiet = new ChaosLoad({ seed: SEED + 2, targets: [receiver], tenant: 'quiet', concurrency: 1, pauseMs: 200, tracesPerRequest: 2 });
    const noisy = new ChaosLoad({ seed: SEED + 3, targets: [receiver], tenant: 'noisy', concurrency: 4, tracesPerRequest: 40, spansPerTrace: [8, 12] });
    quiet.start();
    noisy.start();
    await poll('noisy refused 50 times', () => noisy.summary().kinds['HTTP 429']! >= 50, { timeoutMs: 60_000, intervalMs: 100 });
    await quiet.untilAcked(20, 60_000);
    await Promise.all([quiet.stop(), noisy.stop()]);
    note(`REL-15 noisy ${JSON.stringify(noisy.summary())}, quiet ${JSON.stringify(quiet.summary())}`);
    expect(quiet.summary()).toEqual({ ok: quiet.outcomes.length, failed: 0, kinds: {} });
    expect(Object.keys(noisy.summary().kinds)).toEqual(['HTTP 429']);
    expect(noisy.outcomes.find((o) => o.status === 429)!.message).toMatch(/RATE_LIMITED: ingestion rate limit .* exceeded .* for tenant noisy/);
    // Retry-After on the refusal (an OTLP exporter backs off by it).
    const res = await fetch(`http://127.0.0.1:${receiver.port}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': 'noisy' },
      body: toBinary(
        ExportTraceServiceRequestSchema,
        create(ExportTraceServiceRequestSchema, {
          resourceSpans: [
            { scopeSpans: [{ spans: [{ traceId: new Uint8Array(16).fill(7), spanId: new Uint8Array(8).fill(7), name: 'n'.repeat(RATE_BYTES * 2) }] }] },
          ],
        }),
      ),
    });
    note(`REL-15 oversized body for the bucket: ${res.status} retry-after ${res.headers.get('retry-after')}`);
    expect([res.status, Number(res.headers.get('retry-after')) > 0]).toEqual([429, true]);
    // Quiet tenant: every acknowledged span readable; noisy's acknowledged ones too.
    expect(verdict(await checkLedger(quiet.ledger, { port, tenant: 'quiet' }))).toEqual(CLEAN);
    expect(verdict(await checkLedger(noisy.ledger, { port, tenant: 'noisy' }))).toEqual(CLEAN);
  }, 180_000);

  it('I5 stops on SIGTERM with exit 0 within its grace period', async () => {
    expect(await fleet.stopAll()).toEqual([]);
  }, 60_000);
});
