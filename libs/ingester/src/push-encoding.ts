// The distributor → ingester push on the wire, written by hand. A PushBytesRequest is ~190 byte strings of
// ~700 bytes each (one per trace) plus their IDs and time ranges: protobuf-es's generic writer encodes it
// field by field into a buffer that starts small and doubles (every doubling zero-fills and copies what
// was written), which the profile of a fleet's receiving member showed as one of its largest costs. Here
// the size is computed first and every field written once into one buffer of the exact size.
//
// Connect takes a message, not bytes: `preEncoded` hands it a PushBytesRequest whose fields are all empty
// and whose encoding travels as unknown fields, which protobuf-es writes back verbatim (tag, then the
// bytes) — so what goes on the wire is exactly `encodePushBytes(req)`, and the receiving side decodes an
// ordinary PushBytesRequest.

import { create } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
import { varintSize, writeVarint } from '@stave/model';
import { PushBytesRequestSchema, type PushBytesRequest } from '@stave/proto';

const TAG_TENANT = (1 << 3) | WireType.LengthDelimited;
const TAG_TRACES = (2 << 3) | WireType.LengthDelimited;
const TAG_IDS = (3 << 3) | WireType.LengthDelimited;
const TAG_START = (4 << 3) | WireType.LengthDelimited; // packed
const TAG_END = (5 << 3) | WireType.LengthDelimited; // packed

function packedSize(values: readonly number[]): number {
  let n = 0;
  for (const v of values) n += varintSize(v >>> 0);
  return n;
}

function bytesFieldsSize(list: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of list) n += 1 + varintSize(b.length) + b.length;
  return n;
}

/** The wire form of a PushBytesRequest (what toBinary gives, fields in number order, scalars packed). */
export function encodePushBytes(req: PushBytesRequest): Uint8Array {
  const tenant = Buffer.from(req.tenant, 'utf8');
  const startLen = packedSize(req.startSeconds);
  const endLen = packedSize(req.endSeconds);
  const size =
    (tenant.length > 0 ? 1 + varintSize(tenant.length) + tenant.length : 0) +
    bytesFieldsSize(req.traces) +
    bytesFieldsSize(req.ids) +
    (startLen > 0 ? 1 + varintSize(startLen) + startLen : 0) +
    (endLen > 0 ? 1 + varintSize(endLen) + endLen : 0);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  if (tenant.length > 0) {
    out[pos++] = TAG_TENANT;
    pos = writeVarint(out, pos, tenant.length);
    out.set(tenant, pos);
    pos += tenant.length;
  }
  for (const [tag, list] of [
    [TAG_TRACES, req.traces],
    [TAG_IDS, req.ids],
  ] as const) {
    for (const b of list) {
      out[pos++] = tag;
      pos = writeVarint(out, pos, b.length);
      out.set(b, pos);
      pos += b.length;
    }
  }
  for (const [tag, len, values] of [
    [TAG_START, startLen, req.startSeconds],
    [TAG_END, endLen, req.endSeconds],
  ] as const) {
    if (len === 0) continue;
    out[pos++] = tag;
    pos = writeVarint(out, pos, len);
    for (const v of values) pos = writeVarint(out, pos, v >>> 0);
  }
  if (pos !== size) throw new Error(`encodePushBytes: wrote ${pos} bytes of ${size}`);
  return out;
}

/**
 * A PushBytesRequest that serializes to exactly `encodePushBytes(req)`: no field set, the encoding carried
 * as one unknown field (its first tag, then every byte after it). Only for handing to a Connect client.
 */
export function preEncoded(req: PushBytesRequest): PushBytesRequest {
  const wire = encodePushBytes(req);
  const msg = create(PushBytesRequestSchema);
  if (wire.length === 0) return msg;
  // Every tag this encoder writes is one byte (fields 1–5).
  const tag = wire[0]!;
  msg.$unknown = [{ no: tag >>> 3, wireType: tag & 7, data: wire.subarray(1) }];
  return msg;
}
