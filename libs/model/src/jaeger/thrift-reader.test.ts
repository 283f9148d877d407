import fc from 'fast-check';
import * as thrift from 'thrift';
import { Code, ConnectError } from '@stave/core';
import { BinaryReader, CompactReader, MAX_THRIFT_DEPTH, MessageType, TType, thriftReader, type ThriftProtocol } from './thrift-reader';
import { encodeWith, i64 } from './thrift-test-encoder';

const T = thrift.Thrift.Type;
const PROTOCOLS: ThriftProtocol[] = ['binary', 'compact'];

function expectInvalid(fn: () => unknown, pattern?: RegExp): ConnectError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  const ce = caught as ConnectError;
  expect(ce.code).toBe(Code.InvalidArgument);
  if (pattern) expect(ce.rawMessage).toMatch(pattern);
  return ce;
}

/** A struct exercising every type, written by Apache Thrift's library. */
function writeEverything(p: thrift.TBinaryProtocol | thrift.TCompactProtocol): void {
  p.writeMessageBegin('everything', thrift.Thrift.MessageType.CALL, 4242);
  p.writeStructBegin('S');
  p.writeFieldBegin('t', T.BOOL, 1);
  p.writeBool(true);
  p.writeFieldEnd();
  p.writeFieldBegin('f', T.BOOL, 2);
  p.writeBool(false);
  p.writeFieldEnd();
  p.writeFieldBegin('b', T.BYTE, 3);
  p.writeByte(-7);
  p.writeFieldEnd();
  p.writeFieldBegin('s', T.I16, 4);
  p.writeI16(-12345);
  p.writeFieldEnd();
  p.writeFieldBegin('i', T.I32, 5);
  p.writeI32(-2147483648);
  p.writeFieldEnd();
  p.writeFieldBegin('l', T.I64, 6);
  p.writeI64(i64(-9223372036854775808n));
  p.writeFieldEnd();
  p.writeFieldBegin('l2', T.I64, 7);
  p.writeI64(i64(9223372036854775807n));
  p.writeFieldEnd();
  p.writeFieldBegin('d', T.DOUBLE, 8);
  p.writeDouble(-1234.5678);
  p.writeFieldEnd();
  p.writeFieldBegin('str', T.STRING, 9);
  p.writeString('héllo, 世界');
  p.writeFieldEnd();
  // A field-id gap larger than 15 forces the compact protocol's long field header.
  p.writeFieldBegin('bin', T.STRING, 300);
  p.writeBinary(Buffer.from([0, 1, 2, 255]));
  p.writeFieldEnd();
  p.writeFieldBegin('bools', T.LIST, 301);
  p.writeListBegin(T.BOOL, 3);
  p.writeBool(true);
  p.writeBool(false);
  p.writeBool(true);
  p.writeListEnd();
  p.writeFieldEnd();
  // 20 elements: the compact protocol's long list header.
  p.writeFieldBegin('ints', T.LIST, 302);
  p.writeListBegin(T.I32, 20);
  for (let i = 0; i < 20; i++) p.writeI32(i * 1000 - 7000);
  p.writeListEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('map', T.MAP, 303);
  p.writeMapBegin(T.STRING, T.I64, 2);
  p.writeString('a');
  p.writeI64(i64(1n));
  p.writeString('b');
  p.writeI64(i64(-2n));
  p.writeMapEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('emptyMap', T.MAP, 304);
  p.writeMapBegin(T.STRING, T.STRING, 0);
  p.writeMapEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('nested', T.STRUCT, 305);
  p.writeStructBegin('N');
  p.writeFieldBegin('x', T.I32, 1);
  p.writeI32(99);
  p.writeFieldEnd();
  p.writeFieldBegin('y', T.BOOL, 2);
  p.writeBool(true);
  p.writeFieldEnd();
  p.writeFieldStop();
  p.writeStructEnd();
  p.writeFieldEnd();
  // After the nested struct, compact field-id deltas continue from the outer struct's last id.
  p.writeFieldBegin('after', T.I32, 306);
  p.writeI32(7);
  p.writeFieldEnd();
  p.writeFieldBegin('set', T.SET, 307);
  p.writeSetBegin(T.STRING, 1);
  p.writeString('only');
  p.writeSetEnd();
  p.writeFieldEnd();
  p.writeFieldStop();
  p.writeStructEnd();
  p.writeMessageEnd();
}

describe.each(PROTOCOLS)('thrift %s reader', (protocol) => {
  const bytes = encodeWith(protocol, writeEverything);

  test('reads every type written by Apache Thrift', () => {
    const r = thriftReader(protocol, bytes);
    expect(r.readMessageBegin()).toEqual({ name: 'everything', type: MessageType.CALL, seqId: 4242 });
    r.structBegin();
    const seen: Record<number, unknown> = {};
    for (;;) {
      const f = r.readFieldBegin();
      if (f.type === TType.STOP) break;
      switch (f.id) {
        case 1:
        case 2:
          expect(f.type).toBe(TType.BOOL);
          seen[f.id] = r.readBool();
          break;
        case 3:
          seen[3] = r.readByte();
          break;
        case 4:
          seen[4] = r.readI16();
          break;
        case 5:
          seen[5] = r.readI32();
          break;
        case 6:
        case 7:
          seen[f.id] = r.readI64();
          break;
        case 8:
          seen[8] = r.readDouble();
          break;
        case 9:
          seen[9] = r.readString();
          break;
        case 300:
          seen[300] = Array.from(r.readBinary());
          break;
        case 301: {
          const l = r.readListBegin();
          expect(l.elemType).toBe(TType.BOOL);
          seen[301] = Array.from({ length: l.size }, () => r.readBool());
          break;
        }
        case 302: {
          const l = r.readListBegin();
          expect(l).toEqual({ elemType: TType.I32, size: 20 });
          seen[302] = Array.from({ length: l.size }, () => r.readI32());
          break;
        }
        case 303: {
          const m = r.readMapBegin();
          expect(m).toEqual({ keyType: TType.STRING, valueType: TType.I64, size: 2 });
          const out: Array<[string, bigint]> = [];
          for (let i = 0; i < m.size; i++) out.push([r.readString(), r.readI64()]);
          seen[303] = out;
          break;
        }
        case 304:
          seen[304] = r.readMapBegin().size;
          break;
        case 305: {
          r.structBegin();
          const inner: Record<number, unknown> = {};
          for (;;) {
            const g = r.readFieldBegin();
            if (g.type === TType.STOP) break;
            inner[g.id] = g.type === TType.BOOL ? r.readBool() : r.readI32();
          }
          r.structEnd();
          seen[305] = inner;
          break;
        }
        case 306:
          seen[306] = r.readI32();
          break;
        case 307: {
          const l = r.readListBegin();
          seen[307] = Array.from({ length: l.size }, () => r.readString());
          break;
        }
        default:
          throw new Error(`unexpected field ${f.id}`);
      }
    }
    r.structEnd();
    expect(seen).toEqual({
      1: true,
      2: false,
      3: -7,
      4: -12345,
      5: -2147483648,
      6: -9223372036854775808n,
      7: 9223372036854775807n,
      8: -1234.5678,
      9: 'héllo, 世界',
      300: [0, 1, 2, 255],
      301: [true, false, true],
      302: Array.from({ length: 20 }, (_, i) => i * 1000 - 7000),
      303: [
        ['a', 1n],
        ['b', -2n],
      ],
      304: 0,
      305: { 1: 99, 2: true },
      306: 7,
      307: ['only'],
    });
    expect(r.remaining).toBe(0);
  });

  test('skips a whole struct of every type and lands on the end', () => {
    const r = thriftReader(protocol, bytes);
    r.readMessageBegin();
    r.skip(TType.STRUCT);
    expect(r.remaining).toBe(0);
  });

  test('every truncation is an InvalidArgument naming the offset, never a crash', () => {
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = thriftReader(protocol, bytes.subarray(0, cut));
      expectInvalid(
        () => {
          r.readMessageBegin();
          r.skip(TType.STRUCT);
        },
        new RegExp(`^thrift ${protocol} protocol: .* at byte \\d+$`),
      );
    }
  });

  test('random bytes decode or fail with InvalidArgument, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        const r = thriftReader(protocol, input);
        try {
          r.skip(TType.STRUCT);
        } catch (err) {
          expect(err).toBeInstanceOf(ConnectError);
          expect((err as ConnectError).code).toBe(Code.InvalidArgument);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('refuses nesting deeper than the limit', () => {
    const deep = encodeWith(protocol, (p) => {
      for (let i = 0; i < MAX_THRIFT_DEPTH + 5; i++) {
        p.writeStructBegin('S');
        p.writeFieldBegin('s', T.STRUCT, 1);
      }
    });
    expectInvalid(() => thriftReader(protocol, deep).skip(TType.STRUCT), /nesting deeper than 64/);
  });
});

describe('bounds checks allocate nothing the input cannot back', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'binary list of 2^31-1 i64s',
      () => new BinaryReader(Buffer.from([0x0a, 0x7f, 0xff, 0xff, 0xff, 0, 0])).readListBegin(),
      /list of 2147483647 elements exceeds the 2 bytes left/,
    ],
    ['binary string of 1 GiB', () => new BinaryReader(Buffer.from([0x40, 0, 0, 0, 1, 2])).readBinary(), /binary length 1073741824 exceeds the 2 bytes left/],
    ['binary negative string length', () => new BinaryReader(Buffer.from([0xff, 0xff, 0xff, 0xfe])).readBinary(), /negative binary length -2/],
    ['binary map of 2^30 entries', () => new BinaryReader(Buffer.from([0x0b, 0x0b, 0x40, 0, 0, 0])).readMapBegin(), /map of 1073741824 elements/],
    [
      'compact list with varint size 2^28',
      () => new CompactReader(Buffer.from([0xf5, 0x80, 0x80, 0x80, 0x80, 0x01])).readListBegin(),
      /list of 268435456 elements exceeds/,
    ],
    [
      'compact string of 2^21 bytes',
      () => new CompactReader(Buffer.from([0x80, 0x80, 0x80, 0x01, 0x41])).readBinary(),
      /binary length 2097152 exceeds the 1 bytes left/,
    ],
    ['compact over-long varint', () => new CompactReader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).readBinary(), /varint too long/],
  ];
  test.each(cases)('%s', (_name, read, pattern) => {
    expectInvalid(read, pattern);
  });

  test('invalid element and field types are named', () => {
    expectInvalid(() => new BinaryReader(Buffer.from([0x07, 0, 1])).readFieldBegin(), /invalid field type 7 at byte 0/);
    expectInvalid(() => new CompactReader(Buffer.from([0x1e])).readFieldBegin(), /invalid field type 14 at byte 0/);
    expectInvalid(() => new BinaryReader(Buffer.from([0x01, 0, 0, 0, 0])).readListBegin(), /invalid list element type 1/);
  });
});

describe('message headers', () => {
  test('binary: strict and non-strict forms', () => {
    const strict = encodeWith('binary', (p) => p.writeMessageBegin('emitBatch', thrift.Thrift.MessageType.ONEWAY, 9));
    expect(strict.subarray(0, 4)).toEqual(Buffer.from([0x80, 0x01, 0x00, 0x04]));
    expect(new BinaryReader(strict).readMessageBegin()).toEqual({ name: 'emitBatch', type: 4, seqId: 9 });

    // Non-strict: name length, name, type byte, seq id.
    const old = Buffer.concat([Buffer.from([0, 0, 0, 9]), Buffer.from('emitBatch'), Buffer.from([4, 0, 0, 0, 9])]);
    expect(new BinaryReader(old).readMessageBegin()).toEqual({ name: 'emitBatch', type: 4, seqId: 9 });
  });

  test('binary: a strict header with another version is refused', () => {
    expectInvalid(() => new BinaryReader(Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])).readMessageBegin(), /version 2/);
  });

  test('compact: protocol id and version are checked', () => {
    const ok = encodeWith('compact', (p) => p.writeMessageBegin('emitBatch', thrift.Thrift.MessageType.ONEWAY, 300));
    // 0x82, type 4 in the top three bits with version 1, varint seq id, varint name length.
    expect(ok.subarray(0, 5)).toEqual(Buffer.from([0x82, 0x81, 0xac, 0x02, 0x09]));
    expect(new CompactReader(ok).readMessageBegin()).toEqual({ name: 'emitBatch', type: 4, seqId: 300 });
    expectInvalid(() => new CompactReader(Buffer.from([0x80, 0x81, 0, 0])).readMessageBegin(), /bad compact protocol id 0x80/);
    expectInvalid(() => new CompactReader(Buffer.from([0x82, 0x82, 0, 0])).readMessageBegin(), /unsupported compact protocol version 2/);
  });
});
