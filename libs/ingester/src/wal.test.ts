import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { framedResult, splitFramed } from '@stave/model/testing';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { decodeSegment, encodeRecord, WalSegment, type WalRecord } from './wal';

const dirs: string[] = [];
function segmentPath(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'stave-wal-'));
  dirs.push(d);
  return path.join(d, 'seg.wal');
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function record(n: number, size = 10): WalRecord {
  const id = new Uint8Array(16).fill(n);
  return { traceID: id, startSeconds: n, endSeconds: n + 1, data: new Uint8Array(size).fill(n) };
}

/** The records of a request split by a split worker (framed in its arena), one trace per span. */
function framedRecords(traces: number, seed: number): WalRecord[] {
  const body = toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue' as const, value: 'svc' } } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: traces }, (_, t) => ({
                traceId: new Uint8Array(16).fill(seed + t),
                spanId: new Uint8Array(8).fill(1),
                name: `op-${t}`,
                startTimeUnixNano: 1_700_000_000_000_000_000n + BigInt(t),
                endTimeUnixNano: 1_700_000_001_000_000_000n,
              })),
            },
          ],
        },
      ],
    }),
  );
  const { answer } = splitFramed({ seq: 1, body });
  if ('error' in answer) throw new Error(answer.error);
  return framedResult(answer).traces.map((t) => ({ traceID: t.id, startSeconds: t.startSeconds!, endSeconds: t.endSeconds!, data: t.bytes }));
}

describe('WAL segment', () => {
  it('writes records framed by a split worker as it would have encoded them (whole pushes, subsets, mixed with others)', async () => {
    const whole = framedRecords(5, 10);
    const other = framedRecords(3, 40);
    const pushes: WalRecord[][] = [
      whole,
      [other[2]!, other[0]!],
      [record(1), other[1]!, record(2, 300)],
      [whole[1]!, whole[2]!],
      // Runs from two arenas (merged pushes), with gaps (refused traces), out of order and encoded ones between.
      [whole[0]!, whole[1]!, other[0]!, other[1]!, record(3), record(4, 50), whole[3]!, whole[4]!, whole[2]!, other[2]!],
    ];
    const p = segmentPath();
    const seg = await WalSegment.open(p);
    const refs = await Promise.all(pushes.map((r) => seg.append(r)));
    await seg.close();
    const file = readFileSync(p);
    expect(file.equals(Buffer.concat(pushes.flat().map(encodeRecord)))).toBe(true);
    const { records, tear } = decodeSegment(file);
    expect(tear).toBeUndefined();
    expect(refs.flat().map((r) => r.offset)).toEqual(records.map((r) => r.dataOffset));
  });

  it('replays every appended record, in order, with offsets that read back the data', async () => {
    const p = segmentPath();
    const seg = await WalSegment.open(p);
    const refs = await Promise.all([seg.append([record(1), record(2)]), seg.append([record(3, 1000)])]);
    await seg.close();
    const { records, tear, validBytes } = decodeSegment(readFileSync(p));
    expect(tear).toBeUndefined();
    expect(records.map((r) => r.traceID[0])).toEqual([1, 2, 3]);
    expect(records[2]!.data).toEqual(new Uint8Array(1000).fill(3));
    expect(validBytes).toBe(readFileSync(p).length);
    expect(refs.flat().map((r) => r.offset)).toEqual(records.map((r) => r.dataOffset));
  });

  it('groups concurrent appends and keeps them all', async () => {
    const p = segmentPath();
    const seg = await WalSegment.open(p);
    await Promise.all(Array.from({ length: 200 }, (_, i) => seg.append([record(i % 250)])));
    const refs = await seg.append([record(7, 33)]);
    expect((await seg.read(refs[0]!)).equals(Buffer.alloc(33, 7))).toBe(true);
    await seg.close();
    expect(decodeSegment(readFileSync(p)).records).toHaveLength(201);
  });

  it.each([
    ['a truncated record', (p: string) => truncateSync(p, readFileSync(p).length - 5), 'truncated record', 2],
    ['garbage after the last record', (p: string) => appendFileSync(p, Buffer.from('garbage-garbage-garbage')), 'bad record length', 3],
    [
      'a flipped byte in the last record',
      (p: string) => {
        const b = readFileSync(p);
        b[b.length - 1] ^= 0xff;
        writeFileSync(p, b);
      },
      'checksum mismatch',
      2,
    ],
  ])('replays the records before %s and reports the tear', async (_name, damage, reason, intactRecords) => {
    const p = segmentPath();
    const seg = await WalSegment.open(p);
    await seg.append([record(1), record(2), record(3)]);
    await seg.close();
    const intact = encodeRecord(record(1)).length * intactRecords;
    damage(p);
    const res = decodeSegment(readFileSync(p));
    expect(res.records.map((r) => r.traceID[0])).toEqual([1, 2, 3].slice(0, intactRecords));
    expect(res.tear).toEqual({ offset: intact, reason: expect.stringContaining(reason) as string });
    // Reopening for append cuts the tear off, so new records follow valid ones.
    const again = await WalSegment.open(p, res.validBytes);
    await again.append([record(9)]);
    await again.close();
    expect(decodeSegment(readFileSync(p)).records.map((r) => r.traceID[0])).toEqual([...[1, 2, 3].slice(0, intactRecords), 9]);
  });

  it('refuses appends once sealed, and reads still work', async () => {
    const seg = await WalSegment.open(segmentPath());
    const [ref] = await seg.append([record(4, 8)]);
    await seg.seal();
    await expect(seg.append([record(5)])).rejects.toThrow('sealed');
    expect((await seg.read(ref!)).equals(Buffer.alloc(8, 4))).toBe(true);
    await seg.close();
  });

  it('answers a failed write only once its own write has returned, and refuses every append after', async () => {
    const seg = await WalSegment.open(segmentPath());
    // Each batch here is one buffer, written with FileHandle#write: hold each call until the test lets it go.
    const proto = Object.getPrototypeOf((seg as unknown as { fh: object }).fh) as { write: (...a: unknown[]) => Promise<unknown> };
    const realWrite = proto.write;
    const gates: Array<{ release: (fail?: Error) => void }> = [];
    const spy = jest.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      return new Promise((resolve, reject) => {
        gates.push({ release: (fail) => (fail ? reject(fail) : resolve(realWrite.apply(this, args))) });
      });
    });
    const tick = () => new Promise((r) => setImmediate(r));
    try {
      const first = seg.append([record(1)]);
      const firstRefused = expect(first).rejects.toMatchObject({ code: 'EIO' });
      await tick();
      const second = seg.append([record(2)]);
      let secondSettled = false;
      const secondRefused = expect(second.finally(() => (secondSettled = true))).rejects.toMatchObject({ code: 'EIO' });
      // Two batches in flight, each in its own write.
      while (gates.length < 2) await tick();
      gates[0]!.release(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
      await firstRefused;
      // The second batch's buffers are still being written: its push is not answered yet.
      for (let i = 0; i < 20; i++) await tick();
      expect(secondSettled).toBe(false);
      await expect(seg.append([record(3)])).rejects.toThrow('EIO');
      gates[1]!.release();
      // Written and synced, but after a failed batch: the file's state is unknown, so it is refused too.
      await secondRefused;
    } finally {
      spy.mockRestore();
      await seg.close();
    }
  });
});
