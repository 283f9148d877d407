import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { TracesDataSchema, type TracesData } from '@stave/proto';
import fc from 'fast-check';
import { ByteWriter } from './bytes';
import { OtlpTranscoder } from './otlp-transcode';
import { traceArb } from './testing/arbitraries';
import { realisticTraces } from './testing/realistic-traces';
import { TraceEncoder } from './trace-codec';

/** The object path: decode the protobuf, encode the message. */
function viaObjects(id: Uint8Array, bytes: Uint8Array): Buffer {
  const w = new ByteWriter(16);
  new TraceEncoder().encode(id, fromBinary(TracesDataSchema, bytes), w);
  return w.toBytes();
}

function transcoded(id: Uint8Array, bytes: Uint8Array): Buffer | undefined {
  const w = new ByteWriter(16);
  return new OtlpTranscoder().transcode(id, bytes, w) ? w.toBytes() : undefined;
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'object path');

describe('OTLP protobuf → trace encoding at the byte level', () => {
  const id = new Uint8Array(16).fill(7);

  it('writes exactly what decoding and encoding the message writes (property)', () => {
    const tc = new OtlpTranscoder();
    fc.assert(
      fc.property(traceArb(id), (trace: TracesData) => {
        const bytes = toBinary(TracesDataSchema, trace);
        const w = new ByteWriter(16);
        // One transcoder for every run: nothing of one trace leaks into the next.
        expect(tc.transcode(id, bytes, w)).toBe(true);
        expect(hex(w.view())).toBe(hex(viaObjects(id, bytes)));
      }),
      { numRuns: 400 },
    );
  });

  it('does so on realistic traces', () => {
    for (const { id: tid, trace } of realisticTraces(200, { seed: 3 })) {
      const bytes = toBinary(TracesDataSchema, trace);
      expect(hex(transcoded(tid, bytes))).toBe(hex(viaObjects(tid, bytes)));
    }
  });

  // Hand-written wire bytes for what toBinary never writes but a client may send.
  const span = (f: (w: BinaryWriter) => void): Uint8Array => {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).fork(); // ResourceSpans
    w.tag(2, WireType.LengthDelimited).fork(); // ScopeSpans
    w.tag(2, WireType.LengthDelimited).fork(); // Span
    f(w);
    w.join().join().join();
    return w.finish();
  };
  const fixed64 = (w: BinaryWriter, field: number, v: bigint) => w.tag(field, WireType.Bit64).fixed64(v);

  const cases: Array<{ name: string; bytes: Uint8Array; objectPath?: boolean }> = [
    {
      name: 'fields in reverse order, unknown fields of every wire type, and repeated scalars (last wins)',
      bytes: span((w) => {
        w.tag(99, WireType.Varint).uint64(5n);
        w.tag(98, WireType.Bit32).fixed32(1);
        w.tag(97, WireType.Bit64).fixed64(2n);
        w.tag(96, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3]));
        w.tag(16, WireType.Bit32).fixed32(0x80000001);
        w.tag(15, WireType.LengthDelimited).fork().tag(3, WireType.Varint).int32(2).tag(2, WireType.LengthDelimited).string('boom').join();
        w.tag(9, WireType.LengthDelimited)
          .fork()
          .tag(2, WireType.LengthDelimited)
          .fork()
          .tag(3, WireType.Varint)
          .int64(-5n)
          .join()
          .tag(1, WireType.LengthDelimited)
          .string('n')
          .join();
        w.tag(10, WireType.Varint).uint32(3);
        w.tag(10, WireType.Varint).uint32(4);
        fixed64(w, 8, 1_700_000_000_000_002_000n);
        fixed64(w, 7, 1_700_000_000_000_001_000n);
        w.tag(6, WireType.Varint).int32(-1);
        w.tag(5, WireType.LengthDelimited).string('first');
        w.tag(5, WireType.LengthDelimited).string('späť');
        w.tag(4, WireType.LengthDelimited).bytes(new Uint8Array(8).fill(9));
        w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array(8).fill(1));
        w.tag(1, WireType.LengthDelimited).bytes(id);
      }),
    },
    {
      name: 'a parent that comes later in the trace',
      bytes: (() => {
        const w = new BinaryWriter();
        w.tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).fork();
        w.tag(2, WireType.LengthDelimited)
          .fork()
          .tag(2, WireType.LengthDelimited)
          .bytes(new Uint8Array(8).fill(1))
          .tag(4, WireType.LengthDelimited)
          .bytes(new Uint8Array(8).fill(2))
          .join();
        w.tag(2, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).bytes(new Uint8Array(8).fill(2)).join();
        w.join().join();
        return w.finish();
      })(),
    },
    {
      name: 'a status given twice (protobuf merges the two messages)',
      objectPath: true,
      bytes: span((w) => {
        w.tag(15, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).string('a').join();
        w.tag(15, WireType.LengthDelimited).fork().tag(3, WireType.Varint).int32(1).join();
      }),
    },
    {
      name: 'two cases of one AnyValue',
      objectPath: true,
      bytes: span((w) => {
        w.tag(9, WireType.LengthDelimited)
          .fork()
          .tag(2, WireType.LengthDelimited)
          .fork()
          .tag(1, WireType.LengthDelimited)
          .string('s')
          .tag(2, WireType.Varint)
          .bool(true)
          .join()
          .join();
      }),
    },
  ];
  it.each(cases)('$name', ({ bytes, objectPath }) => {
    const got = transcoded(id, bytes);
    if (objectPath) expect(got).toBeUndefined();
    else expect(hex(got)).toBe(hex(viaObjects(id, bytes)));
  });

  it('sends malformed bytes to the object path (which reports them)', () => {
    const good = span((w) => w.tag(5, WireType.LengthDelimited).string('name'));
    for (let cut = 1; cut < good.length; cut++) {
      const bytes = good.subarray(0, cut);
      let objectPathThrows = false;
      try {
        fromBinary(TracesDataSchema, bytes);
      } catch {
        objectPathThrows = true;
      }
      const got = transcoded(id, bytes);
      if (objectPathThrows) expect(got).toBeUndefined();
      else if (got) expect(hex(got)).toBe(hex(viaObjects(id, bytes)));
    }
  });
});
