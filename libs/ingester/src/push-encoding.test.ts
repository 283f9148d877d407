import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { PushBytesRequestSchema, PushErrorReason, PushResponseSchema, type PushBytesRequest } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import { decodePushBytes, decodePushResponse, encodePushBytes, encodePushFramed, encodePushResponse, pushBytesUnaryHandler } from './push-encoding';

function request(traces: number, tenant: string, withTimes = true): PushBytesRequest {
  return create(PushBytesRequestSchema, {
    tenant,
    traces: Array.from({ length: traces }, (_, i) => new Uint8Array(i * 67 + 1).fill(i & 0xff)),
    ids: Array.from({ length: traces }, (_, i) => new Uint8Array(16).fill(i + 1)),
    startSeconds: withTimes ? Array.from({ length: traces }, (_, i) => (i === 0 ? 0 : 1_700_000_000 + i)) : [],
    endSeconds: withTimes ? Array.from({ length: traces }, (_, i) => (i === 1 ? 0xffffffff : 1_700_000_100 + i)) : [],
  });
}

const hex = (list: Uint8Array[]): string[] => list.map((b) => Buffer.from(b).toString('hex'));

function expectSameRequest(got: PushBytesRequest, want: PushBytesRequest): void {
  expect(got.tenant).toBe(want.tenant);
  expect(hex(got.traces)).toEqual(hex(want.traces));
  expect(hex(got.ids)).toEqual(hex(want.ids));
  expect(got.startSeconds).toEqual(want.startSeconds);
  expect(got.endSeconds).toEqual(want.endSeconds);
}

const cases: Array<[string, PushBytesRequest]> = [
  ['many traces, a tenant', request(190, 'tenant-a')],
  ['no tenant (single-tenant default sent empty)', request(3, '')],
  ['no time ranges (an older sender)', request(2, 't', false)],
  ['a trace larger than 16 KiB (3-byte length)', request(300, 'x')],
  ['nothing at all', create(PushBytesRequestSchema)],
];

describe('hand-written PushBytesRequest encoding', () => {
  it.each(cases)('%s: the same bytes as toBinary, framed after a gRPC prefix, and read back', (_name, req) => {
    const wire = encodePushBytes(req);
    expect(Buffer.from(wire).equals(Buffer.from(toBinary(PushBytesRequestSchema, req)))).toBe(true);
    const framed = Buffer.concat(encodePushFramed(req.tenant, [req]));
    expect(framed[0]).toBe(0);
    expect(framed.readUInt32BE(1)).toBe(wire.length);
    expect(framed.subarray(5).equals(Buffer.from(wire))).toBe(true);
    expectSameRequest(decodePushBytes(wire), req);
    expectSameRequest(fromBinary(PushBytesRequestSchema, wire), req);
  });

  it('a request framed from several pieces reads back as their traces in order, each piece encoded once', () => {
    const a = request(3, 'x');
    const b = request(190, 'x');
    const pieces = [
      { traces: a.traces, ids: a.ids, startSeconds: a.startSeconds, endSeconds: a.endSeconds },
      { traces: b.traces, ids: b.ids, startSeconds: b.startSeconds, endSeconds: b.endSeconds },
    ];
    const first = Buffer.concat(encodePushFramed('tenant-c', pieces));
    const wire = pieces.map((p) => (p as { wire?: Uint8Array }).wire);
    const again = Buffer.concat(encodePushFramed('tenant-d', pieces));
    expect(pieces.map((p) => (p as { wire?: Uint8Array }).wire)).toEqual(wire);
    expect(first.readUInt32BE(1)).toBe(first.length - 5);
    expect(again.readUInt32BE(1)).toBe(again.length - 5);
    const want = create(PushBytesRequestSchema, {
      tenant: 'tenant-c',
      traces: [...a.traces, ...b.traces],
      ids: [...a.ids, ...b.ids],
      startSeconds: [...a.startSeconds, ...b.startSeconds],
      endSeconds: [...a.endSeconds, ...b.endSeconds],
    });
    expectSameRequest(decodePushBytes(first.subarray(5)), want);
    expectSameRequest(fromBinary(PushBytesRequestSchema, first.subarray(5)), want);
    expect(decodePushBytes(again.subarray(5)).tenant).toBe('tenant-d');
  });

  it('decodes what other encoders may send: unpacked times, unknown fields, fields out of order', () => {
    const want = request(3, 'tenant-b');
    const varint = (v: number): number[] => {
      const out: number[] = [];
      for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
      out.push(v);
      return out;
    };
    const parts: Buffer[] = [Buffer.from([0x30, 0x05])]; // unknown field 6, varint 5
    for (let i = 2; i >= 0; i--) {
      parts.push(Buffer.from([0x12, ...varint(want.traces[i]!.length)]), Buffer.from(want.traces[i]!));
    }
    const traces = [...want.traces].reverse();
    parts.push(Buffer.from([0x0a, 8]), Buffer.from('tenant-b'));
    for (const id of want.ids) parts.push(Buffer.from([0x1a, 16]), Buffer.from(id));
    for (const v of want.startSeconds) parts.push(Buffer.from([0x20, ...varint(v)]));
    for (const v of want.endSeconds) parts.push(Buffer.from([0x28, ...varint(v)]));
    const got = decodePushBytes(Buffer.concat(parts));
    expectSameRequest(got, { ...want, traces });
  });

  it.each([
    ['a length past the end', Buffer.from([0x12, 0x10, 1, 2])],
    ['a truncated varint', Buffer.from([0x20, 0xff])],
    ['a packed list past the end', Buffer.from([0x22, 0x09, 1])],
    ['a packed value running past its list', Buffer.from([0x22, 0x01, 0xff, 0x01])],
    ['field number 0', Buffer.from([0x02, 0x00])],
  ])('refuses %s with INVALID_ARGUMENT', (_name, bytes) => {
    let err: unknown;
    try {
      decodePushBytes(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/^malformed PushBytesRequest/);
  });

  it('the unary handler refuses a tenant that could not be a directory name', async () => {
    const handler = pushBytesUnaryHandler(() => Promise.reject(new Error('must not be called')));
    await expect(handler(Buffer.from(encodePushBytes(request(1, '../x'))))).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe('hand-written PushResponse encoding', () => {
  it.each([
    ['empty', []],
    ['all fine', [0, 0, 0]],
    ['mixed reasons', [0, PushErrorReason.MAX_LIVE_TRACES, PushErrorReason.TRACE_TOO_LARGE, PushErrorReason.UNKNOWN, 0]],
    ['many', Array.from({ length: 400 }, (_, i) => i % 4)],
  ])('%s: the same bytes as toBinary, and read back', (_name, errorsByTrace) => {
    const res = create(PushResponseSchema, { errorsByTrace });
    const wire = encodePushResponse(res);
    expect(Buffer.from(wire).equals(Buffer.from(toBinary(PushResponseSchema, res)))).toBe(true);
    expect(decodePushResponse(wire).errorsByTrace).toEqual(errorsByTrace);
    expect(decodePushResponse(Buffer.from(errorsByTrace.flatMap((v) => [0x08, v]))).errorsByTrace).toEqual(errorsByTrace);
  });
});
