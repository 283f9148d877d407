// Compaction end to end (issue 12, acceptance 1): a `-target=all` process takes overlapping traces and
// cuts 40 small blocks (/flush after each push: every trace split across blocks, every part pushed three
// times, as RF 3 ingesters would write it). Its own compactor waits (compactor.ring.wait_stability), so the
// 40 blocks stay; then `-target=compactor` runs as a separate process on the same backend directory and
// compacts them to at most 4 blocks. Every span is in the blocks exactly once, and every trace reads back
// by ID from the first process with every span exactly once.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { listBlocks, openBlock, readTenantIndex } from '@stave/block';
import { TraceSchema } from '@stave/proto';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const TRACES = 30;
/** Spans per trace; part p holds spans p and p+1 of every trace. */
const SPANS = 13;
const BLOCKS = 40;
const TENANT = 'single-tenant';

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
const traceHex = (t: number) => `c0ffee${hex(t + 1, 13)}`;
const spanHex = (t: number, s: number) => `${hex(t + 1, 4)}${hex(s + 1, 4)}`;

function part(p: number, startNs: bigint) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'compactor-e2e' } }] },
        scopeSpans: [
          {
            scope: { name: 'e2e' },
            spans: Array.from({ length: TRACES }, (_, t) =>
              [p % SPANS, (p + 1) % SPANS].map((s) => ({
                traceId: traceHex(t),
                spanId: spanHex(t, s),
                name: `op-${s}`,
                kind: 2,
                startTimeUnixNano: String(startNs + BigInt(s) * 1000n),
                endTimeUnixNano: String(startNs + BigInt(s) * 1000n + 500n),
              })),
            ).flat(),
          },
        ],
      },
    ],
  };
}

const config = (backend: string, compactorWaits: boolean) =>
  [
    'distributor:',
    '  receivers:',
    '    otlp:',
    '      protocols:',
    '        http:',
    '          endpoint: 127.0.0.1:0',
    'ingester:',
    '  complete_block_timeout: 1s',
    'storage:',
    '  trace:',
    '    blocklist_poll: 500ms',
    '    local:',
    `      path: ${JSON.stringify(backend)}`,
    'compactor:',
    '  ring:',
    `    wait_stability_min_duration: ${compactorWaits ? '1h' : '0s'}`,
    `    wait_stability_max_duration: ${compactorWaits ? '2h' : '5m'}`,
    '  compaction:',
    '    compaction_cycle: 500ms',
    '',
  ].join('\n');

describe('compactor end to end', () => {
  const backend = mkdtempSync(path.join(os.tmpdir(), 'stave-compactor-backend-'));
  const store = new LocalStore(backend);
  const procs: StaveProcess[] = [];
  afterAll(async () => {
    for (const p of procs) {
      await p.stop();
      p.cleanup();
    }
    rmSync(backend, { recursive: true, force: true });
  });

  it('compacts 40 overlapping blocks to at most 4; every span stays, exactly once', async () => {
    const all = startStave({ configYaml: config(backend, true), args: [`-storage.trace.local.path=${backend}`] });
    procs.push(all);
    await poll('ready', async () => (await fetch(await all.url('/ready'))).status === 200, { timeoutMs: 30_000 });
    const otlp = await all.receiverPort(/otlp.*http/);
    const startNs = BigInt(Date.now() - 60_000) * 1_000_000n;
    for (let b = 0; b < BLOCKS; b++) {
      const res = await fetch(`http://127.0.0.1:${otlp}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(part(Math.floor(b / 3) % SPANS, startNs)),
      });
      expect(res.status).toBe(200);
      expect((await fetch(await all.url('/flush'))).status).toBe(204);
    }
    const before = await poll('40 blocks in the backend', async () => {
      const metas = await listBlocks(store, TENANT);
      return metas.length === BLOCKS ? metas : undefined;
    });
    expect(before.reduce((n, m) => n + m.totalSpans, 0)).toBe(BLOCKS * TRACES * 2);

    const compactor = startStave({ configYaml: config(backend, false), args: ['-target=compactor', `-storage.trace.local.path=${backend}`] });
    procs.push(compactor);
    const after = await poll(
      'compaction to at most 4 blocks',
      async () => {
        const metas = await listBlocks(store, TENANT);
        return metas.length <= 4 ? metas : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(Math.max(...after.map((m) => m.compactionLevel))).toBeGreaterThanOrEqual(2);

    // In the blocks: each span exactly once.
    const seen = new Map<string, number>();
    for (const m of after) {
      for await (const { trace } of openBlock(store, m).iterateTraces()) {
        for (const rs of trace.resourceSpans)
          for (const ss of rs.scopeSpans)
            for (const sp of ss.spans) {
              const k = `${Buffer.from(sp.traceId).toString('hex')}/${Buffer.from(sp.spanId).toString('hex')}`;
              seen.set(k, (seen.get(k) ?? 0) + 1);
            }
      }
    }
    expect(seen.size).toBe(TRACES * SPANS);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);

    // The tenant index lists exactly the live blocks once the compactor has written it after its last job.
    await poll('the tenant index to show the compacted blocks', async () => {
      const index = await readTenantIndex(store, TENANT);
      const live = (await listBlocks(store, TENANT)).map((m) => m.blockID).sort();
      return index && JSON.stringify(index.meta.map((m) => m.blockID).sort()) === JSON.stringify(live);
    });

    // By ID through the first process (its ingester has dropped the flushed blocks by now: complete_block_timeout).
    for (let t = 0; t < TRACES; t++) {
      const res = await fetch(await all.url(`/api/traces/${traceHex(t)}`), { headers: { accept: 'application/protobuf' } });
      expect(res.status).toBe(200);
      const trace = fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
      const ids = trace.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((sp) => Buffer.from(sp.spanId).toString('hex'))));
      expect(ids.sort()).toEqual(Array.from({ length: SPANS }, (_, s) => spanHex(t, s)).sort());
    }

    // Its metrics, with Tempo's names.
    const metrics = await (await fetch(await compactor.url('/metrics'))).text();
    const blocksCompacted = [...metrics.matchAll(/^tempodb_compaction_blocks_total\{level="\d+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(blocksCompacted).toBeGreaterThanOrEqual(BLOCKS);
    expect(metrics).toMatch(/^tempodb_compaction_objects_combined_total\{level="1"\} [1-9]/m);
  }, 120_000);
});
