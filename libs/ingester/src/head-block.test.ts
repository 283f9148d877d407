// The head block's compact index: part chains in typed arrays and IDs in shared slabs must give back
// exactly what was added, per trace and in order, and pack them ascending by ID for block building.
import fc from 'fast-check';
import { packParts } from './block-builder';
import { HeadBlock } from './head-block';
import type { WalSegment } from './wal';

const noSegment = {} as WalSegment;

/** A head block of one part per ID (part i at offset i) packs as packParts packs the IDs sorted by their bytes. */
function expectPackedAscending(ids: readonly Uint8Array[]): void {
  const head = new HeadBlock('t', 'b', noSegment, 0);
  ids.forEach((id, i) => {
    const e = head.newEntry(id, 1);
    head.traces.add(e);
    head.addPart(e, { offset: i, length: 1 });
  });
  const sorted = ids.map((id, i) => ({ id, refs: [{ offset: i, length: 1 }] })).sort((a, b) => Buffer.compare(a.id, b.id));
  expect(head.pack()).toEqual(packParts(sorted));
}

describe('HeadBlock index', () => {
  it('keeps every trace part, in order, through table growth, and packs them as packParts does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(300), fc.nat(2 ** 40), fc.nat(2 ** 26)), { minLength: 0, maxLength: 3000 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (appends, salt) => {
          const head = new HeadBlock('t', 'b', noSegment, 0);
          const want = new Map<number, { id: Uint8Array; refs: Array<{ offset: number; length: number }> }>();
          for (const [trace, offset, length] of appends) {
            const id = Uint8Array.from(salt);
            id[0] = trace & 0xff;
            id[1] = trace >> 8;
            let e = head.traces.find(id);
            if (!e) {
              e = head.newEntry(id, 1);
              head.traces.add(e);
              want.set(trace, { id, refs: [] });
            }
            head.addPart(e, { offset, length });
            want.get(trace)!.refs.push({ offset, length });
          }
          expect(head.traces.size).toBe(want.size);
          for (const w of want.values()) {
            const e = head.traces.find(w.id)!;
            expect(e.id).toEqual(w.id);
            expect(head.refsOf(e)).toEqual(w.refs);
          }
          const sorted = [...want.values()].sort((a, b) => Buffer.compare(a.id, b.id));
          expect(head.pack()).toEqual(packParts(sorted));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('packs traces ascending by ID whichever bytes tell them apart', () => {
    // IDs that differ in any byte, including high bytes within a word (unsigned order) and the last bytes.
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 0, maxLength: 300, selector: (id) => Buffer.from(id).toString('hex') }),
        (ids) => {
          expectPackedAscending(ids);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('packs traces ascending by ID when many IDs share their first bytes', () => {
    // X-Ray-style IDs: a common prefix of 4 to 15 bytes (a timestamp), so most IDs tie on the first word.
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 15 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 0, maxLength: 300 }),
        (prefix, common, tails) => {
          const unique = new Map<string, Uint8Array>();
          for (const t of tails) {
            const id = Uint8Array.from(t);
            id.set(common.subarray(0, prefix));
            unique.set(Buffer.from(id).toString('hex'), id);
          }
          expectPackedAscending([...unique.values()]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('copies the ID, so the request buffer it came from is not kept', () => {
    const head = new HeadBlock('t', 'b', noSegment, 0);
    const src = new Uint8Array(64).fill(7);
    const e = head.newEntry(src.subarray(8, 24), 1);
    src.fill(0);
    expect(e.id).toEqual(new Uint8Array(16).fill(7));
    expect(e.id.buffer).not.toBe(src.buffer);
  });
});
