// Small deterministic traces and blocks for the compactor's tests: each span's identity (trace, span index)
// is readable back from the block, so a test can check that every span is there exactly once.

import { create } from '@bufbuild/protobuf';
import type { ObjectStore } from '@stave/backend';
import { writeBlock, type BlockMeta } from '@stave/block';
import { AnyValueSchema, KeyValueSchema, ResourceSpansSchema, ScopeSpansSchema, SpanSchema, TracesDataSchema, type TracesData } from '@stave/proto';

export function traceID(t: number): Uint8Array {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(12, t + 1);
  id[0] = 0xab;
  return id;
}

export function spanID(t: number, s: number): Uint8Array {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setUint32(0, t + 1);
  new DataView(id.buffer).setUint32(4, s + 1);
  return id;
}

/** A trace holding the spans `spans` of trace `t`, starting at `startMs`. Same inputs → same bytes. */
export function traceWith(t: number, spans: readonly number[], startMs: number): TracesData {
  const base = BigInt(startMs) * 1_000_000n;
  return create(TracesDataSchema, {
    resourceSpans: [
      create(ResourceSpansSchema, {
        resource: {
          attributes: [
            create(KeyValueSchema, { key: 'service.name', value: create(AnyValueSchema, { value: { case: 'stringValue', value: `svc-${t % 3}` } }) }),
          ],
        },
        scopeSpans: [
          create(ScopeSpansSchema, {
            scope: { name: 'compactor-test' },
            spans: spans.map((s) =>
              create(SpanSchema, {
                traceId: traceID(t),
                spanId: spanID(t, s),
                name: `op-${s}`,
                kind: 2,
                startTimeUnixNano: base + BigInt(s) * 1_000n,
                endTimeUnixNano: base + BigInt(s) * 1_000n + 500n,
              }),
            ),
          }),
        ],
      }),
    ],
  });
}

/** Writes a block holding, for each trace, the given span indexes (traces with none are left out). */
export async function writeTestBlock(
  store: ObjectStore,
  tenant: string,
  content: ReadonlyMap<number, readonly number[]>,
  startMs: number,
  level = 0,
): Promise<BlockMeta> {
  const traces = [...content.entries()]
    .filter(([, spans]) => spans.length > 0)
    .sort(([a], [b]) => a - b)
    .map(([t, spans]) => ({ id: traceID(t), trace: traceWith(t, spans, startMs) }));
  return writeBlock(store, { tenant, traces, compactionLevel: level, codec: 'none' });
}

/** Every (trace, span) key a trace holds, `t/s` with hex IDs, duplicates kept. */
export function spanKeys(trace: TracesData): string[] {
  const out: string[] = [];
  for (const rs of trace.resourceSpans)
    for (const ss of rs.scopeSpans) for (const sp of ss.spans) out.push(`${Buffer.from(sp.traceId).toString('hex')}/${Buffer.from(sp.spanId).toString('hex')}`);
  return out;
}
