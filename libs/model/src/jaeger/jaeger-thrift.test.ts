import * as thrift from 'thrift';
import { Code, ConnectError } from '@stave/core';
import { decodeJaegerAgentEmitBatch, decodeJaegerThriftBatch, JaegerTagType, type JaegerThriftBatch } from './jaeger-thrift';
import { encodeBatch, encodeEmitBatch, encodeWith, i64 } from './thrift-test-encoder';

const T = thrift.Thrift.Type;

const fixtureBatch: JaegerThriftBatch = {
  process: {
    serviceName: 'checkout',
    tags: [
      { key: 'hostname', vType: JaegerTagType.STRING, vStr: 'box-1' },
      { key: 'ip', vType: JaegerTagType.STRING, vStr: '10.0.0.1' },
      { key: 'cores', vType: JaegerTagType.LONG, vLong: 8n },
    ],
  },
  spans: [
    {
      traceIdLow: -2n, // 0xffff_ffff_ffff_fffe
      traceIdHigh: 0x0123456789abcdefn,
      spanId: -81985529216486896n, // 0xfedc_ba98_7654_3210
      parentSpanId: 0x1111n,
      operationName: 'GET /cart',
      references: [
        { refType: 0, traceIdLow: -2n, traceIdHigh: 0x0123456789abcdefn, spanId: 0x1111n },
        { refType: 1, traceIdLow: 5n, traceIdHigh: 6n, spanId: 7n },
      ],
      flags: 3,
      startTime: 1_700_000_000_123_456n,
      duration: 2_500n,
      tags: [
        { key: 'str', vType: JaegerTagType.STRING, vStr: 'v' },
        { key: 'dbl', vType: JaegerTagType.DOUBLE, vDouble: 2.5 },
        { key: 'yes', vType: JaegerTagType.BOOL, vBool: true },
        { key: 'no', vType: JaegerTagType.BOOL, vBool: false },
        { key: 'big', vType: JaegerTagType.LONG, vLong: -9223372036854775808n },
        { key: 'bin', vType: JaegerTagType.BINARY, vBinary: new Uint8Array([0, 0xff, 0x10]) },
      ],
      logs: [
        {
          timestamp: 1_700_000_000_124_000n,
          fields: [
            { key: 'event', vType: JaegerTagType.STRING, vStr: 'cache.miss' },
            { key: 'key', vType: JaegerTagType.STRING, vStr: 'cart:42' },
          ],
        },
      ],
    },
    {
      traceIdLow: 1n,
      traceIdHigh: 0n,
      spanId: 2n,
      parentSpanId: 0n,
      operationName: '',
      references: [],
      flags: 0,
      startTime: 0n,
      duration: 0n,
      tags: [],
      logs: [],
    },
  ],
  seqNo: 17n,
  stats: { fullQueueDroppedSpans: 1n, tooLargeDroppedSpans: 2n, failedToEmitSpans: 3n },
};

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
  expect((caught as ConnectError).rawMessage).toMatch(pattern);
}

describe.each(['binary', 'compact'] as const)('jaeger.thrift over the %s protocol', (protocol) => {
  test('a Batch written by Apache Thrift decodes field by field', () => {
    expect(decodeJaegerThriftBatch(encodeBatch(protocol, fixtureBatch), protocol)).toEqual(fixtureBatch);
  });

  test('Agent.emitBatch (oneway and call) decodes to its batch', () => {
    expect(decodeJaegerAgentEmitBatch(encodeEmitBatch(protocol, fixtureBatch), protocol)).toEqual(fixtureBatch);
    const call = encodeEmitBatch(protocol, fixtureBatch, { type: thrift.Thrift.MessageType.CALL });
    expect(decodeJaegerAgentEmitBatch(call, protocol)).toEqual(fixtureBatch);
  });

  test('seqNo and stats are optional', () => {
    const { seqNo: _s, stats: _t, ...bare } = fixtureBatch;
    expect(decodeJaegerThriftBatch(encodeBatch(protocol, bare), protocol)).toEqual(bare);
  });

  test('other methods and replies are refused', () => {
    expectInvalid(
      () => decodeJaegerAgentEmitBatch(encodeEmitBatch(protocol, fixtureBatch, { name: 'emitZipkinBatch' }), protocol),
      /unsupported method "emitZipkinBatch"/,
    );
    expectInvalid(
      () => decodeJaegerAgentEmitBatch(encodeEmitBatch(protocol, fixtureBatch, { type: thrift.Thrift.MessageType.REPLY }), protocol),
      /type 2, want oneway/,
    );
  });

  test('a missing required field is named with its path', () => {
    const noOperation = encodeWith(protocol, (p) => {
      p.writeStructBegin('Batch');
      p.writeFieldBegin('process', T.STRUCT, 1);
      p.writeStructBegin('Process');
      p.writeFieldBegin('serviceName', T.STRING, 1);
      p.writeString('svc');
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
      p.writeFieldEnd();
      p.writeFieldBegin('spans', T.LIST, 2);
      p.writeListBegin(T.STRUCT, 1);
      p.writeStructBegin('Span');
      for (const [id, name] of [
        [1, 'traceIdLow'],
        [2, 'traceIdHigh'],
        [3, 'spanId'],
        [4, 'parentSpanId'],
      ] as const) {
        p.writeFieldBegin(name, T.I64, id);
        p.writeI64(i64(1n));
        p.writeFieldEnd();
      }
      p.writeFieldStop();
      p.writeStructEnd();
      p.writeListEnd();
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    expectInvalid(() => decodeJaegerThriftBatch(noOperation, protocol), /jaeger Batch\.spans\[0\]: required field operationName \(5\) is missing/);
  });

  test('unknown fields and fields of an unexpected type are skipped', () => {
    const bytes = encodeWith(protocol, (p) => {
      p.writeStructBegin('Batch');
      p.writeFieldBegin('future', T.MAP, 99);
      p.writeMapBegin(T.STRING, T.STRING, 1);
      p.writeString('k');
      p.writeString('v');
      p.writeMapEnd();
      p.writeFieldEnd();
      p.writeFieldBegin('process', T.STRUCT, 1);
      p.writeStructBegin('Process');
      p.writeFieldBegin('serviceName', T.I32, 1); // wrong type: skipped
      p.writeI32(5);
      p.writeFieldEnd();
      p.writeFieldBegin('serviceName', T.STRING, 1);
      p.writeString('svc');
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
      p.writeFieldEnd();
      p.writeFieldBegin('spans', T.LIST, 2);
      p.writeListBegin(T.STRUCT, 0);
      p.writeListEnd();
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    expect(decodeJaegerThriftBatch(bytes, protocol)).toEqual({ process: { serviceName: 'svc', tags: [] }, spans: [] });
  });

  test('truncated payloads are InvalidArgument', () => {
    const bytes = encodeEmitBatch(protocol, fixtureBatch);
    for (const cut of [1, 5, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expectInvalid(() => decodeJaegerAgentEmitBatch(bytes.subarray(0, cut), protocol), new RegExp(`thrift ${protocol} protocol: .* at byte`));
    }
  });
});

test('a compact datagram is not mistaken for a binary one (and the reverse)', () => {
  expectInvalid(() => decodeJaegerAgentEmitBatch(encodeEmitBatch('compact', fixtureBatch), 'binary'), /thrift binary protocol/);
  expectInvalid(() => decodeJaegerAgentEmitBatch(encodeEmitBatch('binary', fixtureBatch), 'compact'), /bad compact protocol id 0x80/);
});
