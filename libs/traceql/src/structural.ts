// Structural spanset operators over one trace's tree (Tempo's `>`, `<`, `>>`, `<<`, `~` and their `!` and
// `&` forms). Only spans connected to a root take part, as in Tempo, whose nested-set numbers are 0 for
// the others. Each relation is answered in O(n log n) at most: parent/child/sibling by set lookups,
// ancestor/descendant by the nested-set numbers (a tree's intervals never cross, so one sweep or one
// binary search per span decides), never by comparing all pairs: a trace may hold thousands of spans.

import type { SpansetOp } from './ast';
import type { EvalSpan } from './trace-model';

const connected = (s: EvalSpan): boolean => s.left !== 0;

const byLeft = (a: EvalSpan, b: EvalSpan): number => a.left - b.left;

/** The spans of `points` strictly inside some span of `intervals` (descendants of it). */
function insideSome(points: Iterable<EvalSpan>, intervals: Iterable<EvalSpan>): Set<EvalSpan> {
  const ivs = [...intervals].sort(byLeft);
  const out = new Set<EvalSpan>();
  const open: EvalSpan[] = []; // nested intervals that started before the current point, innermost last
  let i = 0;
  for (const p of [...points].sort(byLeft)) {
    for (; i < ivs.length && ivs[i]!.left < p.left; i++) {
      while (open.length > 0 && open[open.length - 1]!.right < ivs[i]!.left) open.pop();
      open.push(ivs[i]!);
    }
    while (open.length > 0 && open[open.length - 1]!.right < p.left) open.pop();
    if (open.length > 0) out.add(p);
  }
  return out;
}

/** The spans of `intervals` that strictly contain some span of `points` (ancestors of it). */
function containsSome(intervals: Iterable<EvalSpan>, points: Iterable<EvalSpan>): Set<EvalSpan> {
  const lefts = [...points].map((p) => p.left).sort((a, b) => a - b);
  const out = new Set<EvalSpan>();
  for (const iv of intervals) {
    // the first point starting after iv starts is inside iv exactly when it starts before iv ends
    let lo = 0;
    let hi = lefts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lefts[mid]! > iv.left) hi = mid;
      else lo = mid + 1;
    }
    if (lo < lefts.length && lefts[lo]! < iv.right) out.add(iv);
  }
  return out;
}

/** Siblings share a parent; connected root spans (no parent) are siblings of each other. */
const siblingKey = (s: EvalSpan): EvalSpan | null => s.parent ?? null;

/**
 * The spans of `rhs` related to some span of `lhs` (`{L} op {R}`), to none (`!op`), or the spans of both
 * sides taking part in the relation (`&op`). Each relation is answered with sets instead of comparing all
 * pairs: linear in the spans times the tree depth, as a trace of thousands of spans needs.
 */
export function structural(op: SpansetOp, lhs: readonly EvalSpan[], rhs: readonly EvalSpan[]): EvalSpan[] {
  const base = op.replace(/^[!&]/, '');
  const left = new Set(lhs.filter(connected));
  const right = rhs.filter(connected);
  // matches(r): r relates to some l; partners(matched): the l that relate to some matched r
  let matches: (r: EvalSpan) => boolean;
  let partners: (matched: readonly EvalSpan[]) => Iterable<EvalSpan>;
  switch (base) {
    case '>': // r is a child of l
      matches = (r) => r.parent !== undefined && left.has(r.parent);
      partners = (m) => m.map((r) => r.parent!);
      break;
    case '<': {
      // r is the parent of l
      const parents = new Set([...left].map((l) => l.parent));
      matches = (r) => parents.has(r);
      partners = (m) => {
        const ms = new Set(m);
        return [...left].filter((l) => l.parent !== undefined && ms.has(l.parent));
      };
      break;
    }
    case '>>': {
      // r is a descendant of l
      const below = insideSome(right, left);
      matches = (r) => below.has(r);
      partners = (m) => containsSome(left, m);
      break;
    }
    case '<<': {
      // r is an ancestor of l
      const above = containsSome(right, left);
      matches = (r) => above.has(r);
      partners = (m) => insideSome(left, m);
      break;
    }
    default: {
      // '~': r and l are different spans with the same parent
      const count = (spans: Iterable<EvalSpan>): Map<EvalSpan | null, number> => {
        const m = new Map<EvalSpan | null, number>();
        for (const x of spans) m.set(siblingKey(x), (m.get(siblingKey(x)) ?? 0) + 1);
        return m;
      };
      const leftByParent = count(left);
      matches = (r) => (leftByParent.get(siblingKey(r)) ?? 0) - (left.has(r) ? 1 : 0) > 0;
      partners = (m) => {
        const ms = new Set(m);
        const matchedByParent = count(m);
        return [...left].filter((l) => (matchedByParent.get(siblingKey(l)) ?? 0) - (ms.has(l) ? 1 : 0) > 0);
      };
    }
  }
  if (op.startsWith('!')) return rhs.filter((r) => !(connected(r) && matches(r)));
  const matched = right.filter(matches);
  if (op.startsWith('&')) return matched.length === 0 ? [] : unique([...matched, ...partners(matched)]);
  return matched;
}

/** Distinct spans in trace order. */
export function unique(spans: readonly EvalSpan[]): EvalSpan[] {
  return [...new Set(spans)].sort((a, b) => a.index - b.index);
}
