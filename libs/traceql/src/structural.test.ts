import { create } from '@bufbuild/protobuf';
import { TracesDataSchema } from '@stave/proto';
import { indexTraces, search, type EvalSpan, type EvalTrace, type SpansetOp } from '@stave/traceql';
import { structural } from './structural';

/** One trace from parent indexes (-1: root, -2: parent not in the trace). */
function trace(parents: readonly number[]): EvalTrace {
  const id = (n: number): Uint8Array => Uint8Array.from(Buffer.from(n.toString(16).padStart(16, '0'), 'hex'));
  const spans = parents.map((p, n) => ({
    traceId: new Uint8Array(16).fill(1),
    spanId: id(n + 1),
    parentSpanId: p === -1 ? new Uint8Array(0) : p === -2 ? id(999_999) : id(p + 1),
    name: `s${n}`,
    startTimeUnixNano: 1n,
    endTimeUnixNano: 2n,
  }));
  return indexTraces(create(TracesDataSchema, { resourceSpans: [{ scopeSpans: [{ spans }] }] }))[0]!;
}

// the relations spelled out pairwise, from parent links only
const connected = (s: EvalSpan): boolean => {
  let p: EvalSpan | undefined = s;
  while (p.parent !== undefined) p = p.parent;
  return p.parentSpanId === '';
};
const isDescendant = (d: EvalSpan, a: EvalSpan): boolean => {
  for (let p = d.parent; p !== undefined; p = p.parent) if (p === a) return true;
  return false;
};
const REL: Record<string, (r: EvalSpan, l: EvalSpan) => boolean> = {
  '>': (r, l) => r.parent === l,
  '<': (r, l) => l.parent === r,
  '>>': (r, l) => isDescendant(r, l),
  '<<': (r, l) => isDescendant(l, r),
  '~': (r, l) => r !== l && r.parent === l.parent,
};
function naive(op: SpansetOp, lhs: EvalSpan[], rhs: EvalSpan[]): string[] {
  const rel = REL[op.replace(/^[!&]/, '')]!;
  const both = (r: EvalSpan, l: EvalSpan): boolean => connected(r) && connected(l) && rel(r, l);
  let out: EvalSpan[];
  if (op.startsWith('!')) out = rhs.filter((r) => !lhs.some((l) => both(r, l)));
  else if (op.startsWith('&')) out = [...new Set([...rhs.filter((r) => lhs.some((l) => both(r, l))), ...lhs.filter((l) => rhs.some((r) => both(r, l)))])];
  else out = rhs.filter((r) => lhs.some((l) => both(r, l)));
  return out.map((s) => s.name).sort();
}

const OPS: SpansetOp[] = ['>', '<', '>>', '<<', '~', '!>', '!<', '!>>', '!<<', '!~', '&>', '&<', '&>>', '&<<', '&~'];

describe('structural operators', () => {
  test('equal the pairwise definitions on random trees with orphans', () => {
    let seed = 12345;
    const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(rand() * 40);
      const parents = Array.from({ length: n }, (_, k) => (k === 0 || rand() < 0.1 ? -1 : rand() < 0.05 ? -2 : Math.floor(rand() * k)));
      const t = trace(parents);
      const lhs = t.spans.filter(() => rand() < 0.4);
      const rhs = t.spans.filter(() => rand() < 0.4);
      for (const op of OPS) {
        expect([
          op,
          structural(op, lhs, rhs)
            .map((s) => s.name)
            .sort(),
        ]).toEqual([op, naive(op, lhs, rhs)]);
      }
    }
  });

  test('a chain of 20000 spans (all pairs would be 4e8 comparisons per query)', () => {
    const chain = trace(Array.from({ length: 20_000 }, (_, k) => k - 1));
    expect(search('{ } >> { }', [chain], { spansPerSpanSet: 0 })[0]!.spanSets[0]!.matched).toBe(19_999);
    expect(search('{ } << { }', [chain], { spansPerSpanSet: 0 })[0]!.spanSets[0]!.matched).toBe(19_999);
    expect(search('{ } &>> { }', [chain], { spansPerSpanSet: 0 })[0]!.spanSets[0]!.matched).toBe(20_000);
    expect(search('{ } !>> { }', [chain], { spansPerSpanSet: 0 })[0]!.spanSets[0]!.matched).toBe(1);
    expect(search('{ } ~ { }', [chain])).toHaveLength(0);
  });
});
