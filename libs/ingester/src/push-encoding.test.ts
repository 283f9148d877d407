import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { PushBytesRequestSchema, type PushBytesRequest } from '@stave/proto';
import { encodePushBytes, preEncoded } from './push-encoding';

function request(traces: number, tenant: string, withTimes = true): PushBytesRequest {
  return create(PushBytesRequestSchema, {
    tenant,
    traces: Array.from({ length: traces }, (_, i) => new Uint8Array(i * 67 + 1).fill(i & 0xff)),
    ids: Array.from({ length: traces }, (_, i) => new Uint8Array(16).fill(i + 1)),
    startSeconds: withTimes ? Array.from({ length: traces }, (_, i) => (i === 0 ? 0 : 1_700_000_000 + i)) : [],
    endSeconds: withTimes ? Array.from({ length: traces }, (_, i) => (i === 1 ? 0xffffffff : 1_700_000_100 + i)) : [],
  });
}

describe('hand-written PushBytesRequest encoding', () => {
  it.each([
    ['many traces, a tenant', request(190, 'tenant-a')],
    ['no tenant (single-tenant default sent empty)', request(3, '')],
    ['no time ranges (an older sender)', request(2, 't', false)],
    ['a trace larger than 16 KiB (3-byte length)', request(300, 'x')],
    ['nothing at all', create(PushBytesRequestSchema)],
  ])('%s: the same bytes as toBinary, and preEncoded serializes to them', (_name, req) => {
    const wire = encodePushBytes(req);
    expect(Buffer.from(wire).equals(Buffer.from(toBinary(PushBytesRequestSchema, req)))).toBe(true);
    const viaConnect = toBinary(PushBytesRequestSchema, preEncoded(req));
    expect(Buffer.from(viaConnect).equals(Buffer.from(wire))).toBe(true);
    const back = fromBinary(PushBytesRequestSchema, viaConnect);
    expect(back.tenant).toBe(req.tenant);
    expect(back.traces.map((b) => Buffer.from(b).toString('hex'))).toEqual(req.traces.map((b) => Buffer.from(b).toString('hex')));
    expect(back.ids.map((b) => Buffer.from(b).toString('hex'))).toEqual(req.ids.map((b) => Buffer.from(b).toString('hex')));
    expect(back.startSeconds).toEqual(req.startSeconds);
    expect(back.endSeconds).toEqual(req.endSeconds);
  });
});
