// The distributor → ingester push on the wire, written by hand. A PushBytesRequest is ~190 byte strings of
// ~700 bytes each (one per trace) plus their IDs and time ranges: protobuf-es's generic writer encodes it
// field by field into a buffer that starts small and doubles (every doubling zero-fills and copies what
// was written), which the profile of a fleet's receiving member showed as one of its largest costs. Here
// the size is computed first and every field written once into one buffer of the exact size.
//
// The remote push goes out as a bare gRPC call (`@stave/server` GrpcUnaryClient): `encodePushFramed`
// writes the message after its 5-byte gRPC prefix, each piece once for every replica, and the ingester reads it back with
// `decodePushBytes` (the traces and IDs are views into the received bytes, nothing is copied), answering
// with `encodePushResponse`. Connect and gRPC-Web clients reach the same ingester through connect-es.

import type { MessageShape } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { varintSize, writeVarint } from '@stave/model';
import { Pusher, PushBytesRequestSchema, PushResponseSchema, type PushBytesRequest, type PushErrorReason, type PushResponse } from '@stave/proto';
import { Code, ConnectError, GRPC_PREFIX_BYTES, validateTenantID, type UnaryBytesHandler } from '@stave/server';

const TAG_TENANT = (1 << 3) | WireType.LengthDelimited;
const TAG_TRACES = (2 << 3) | WireType.LengthDelimited;
const TAG_IDS = (3 << 3) | WireType.LengthDelimited;
const TAG_START = (4 << 3) | WireType.LengthDelimited; // packed
const TAG_END = (5 << 3) | WireType.LengthDelimited; // packed
const TAG_START_VARINT = (4 << 3) | WireType.Varint; // unpacked, from other encoders
const TAG_END_VARINT = (5 << 3) | WireType.Varint;

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

/**
 * Some traces of one push as the distributor cut them for an ingester: a PushBytesRequest's fields 2–5.
 * With replication every replica's call carries the same traces: `wire` keeps the piece's encoding, made
 * once (`encodePushFramed`) and sent to each of them.
 */
export interface PushPiece {
  readonly traces: readonly Uint8Array[];
  readonly ids: readonly Uint8Array[];
  readonly startSeconds: readonly number[];
  readonly endSeconds: readonly number[];
  wire?: Uint8Array;
}

/** The wire form of a PushBytesRequest (what toBinary gives, fields in number order, scalars packed). */
export function encodePushBytes(req: PushBytesRequest): Uint8Array {
  const head = tenantField(req.tenant, 0);
  const body = encodePiece(req);
  return head.length === 0 ? body : Buffer.concat([head, body]);
}

/**
 * A PushBytesRequest of `tenant` and the pieces' traces in order, framed for GrpcUnaryClient.call: the
 * gRPC prefix and the tenant field in one small buffer, then each piece's encoding. Protobuf parsers join
 * a repeated field's occurrences (packed ones included), so the pieces need no re-encoding into one.
 */
export function encodePushFramed(tenant: string, pieces: readonly PushPiece[]): Uint8Array[] {
  const out: Uint8Array[] = [new Uint8Array(0)];
  let size = 0;
  for (const p of pieces) {
    const w = (p.wire ??= encodePiece(p));
    out.push(w);
    size += w.length;
  }
  const head = tenantField(tenant, GRPC_PREFIX_BYTES);
  head.writeUInt32BE(head.length - GRPC_PREFIX_BYTES + size, 1);
  out[0] = head;
  return out;
}

/** The tenant field (absent when empty) after `prefix` bytes (a zeroed gRPC prefix when 5). */
function tenantField(tenant: string, prefix: number): Buffer {
  const t = Buffer.from(tenant, 'utf8');
  const out = Buffer.alloc(prefix + (t.length > 0 ? 1 + varintSize(t.length) + t.length : 0));
  if (t.length > 0) {
    out[prefix] = TAG_TENANT;
    out.set(t, writeVarint(out, prefix + 1, t.length));
  }
  return out;
}

/** Fields 2–5 of a push, written once into a buffer of the exact size. */
function encodePiece(p: PushPiece): Uint8Array {
  const startLen = packedSize(p.startSeconds);
  const endLen = packedSize(p.endSeconds);
  const size =
    bytesFieldsSize(p.traces) +
    bytesFieldsSize(p.ids) +
    (startLen > 0 ? 1 + varintSize(startLen) + startLen : 0) +
    (endLen > 0 ? 1 + varintSize(endLen) + endLen : 0);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [tag, list] of [
    [TAG_TRACES, p.traces],
    [TAG_IDS, p.ids],
  ] as const) {
    for (const b of list) {
      out[pos++] = tag;
      pos = writeVarint(out, pos, b.length);
      out.set(b, pos);
      pos += b.length;
    }
  }
  for (const [tag, len, values] of [
    [TAG_START, startLen, p.startSeconds],
    [TAG_END, endLen, p.endSeconds],
  ] as const) {
    if (len === 0) continue;
    out[pos++] = tag;
    pos = writeVarint(out, pos, len);
    for (const v of values) pos = writeVarint(out, pos, v >>> 0);
  }
  if (pos !== size) throw new Error(`encodePushBytes: wrote ${pos} bytes of ${size}`);
  return out;
}

/** A PushBytesRequest without protobuf-es's `create` (which copies every list): the same shape. */
export function pushBytesMessage(fields: Omit<PushBytesRequest, '$typeName' | '$unknown'>): PushBytesRequest {
  return { $typeName: PushBytesRequestSchema.typeName, ...fields } satisfies MessageShape<typeof PushBytesRequestSchema>;
}

/** A tag read by `r` (field number << 3 | wire type), checked as BinaryReader.tag checks it, without its tuple. */
function readTag(r: BinaryReader, buf: Uint8Array): number {
  const start = r.pos;
  const tag = r.uint32();
  const read = r.pos - start;
  if (read > 5 || (read === 5 && buf[r.pos - 1]! > 0x0f)) throw new Error('illegal tag: varint overflows uint32');
  const no = tag >>> 3;
  const wt = tag & 7;
  if (no <= 0 || wt > 5) throw new Error(`illegal tag: field no ${no} wire type ${wt}`);
  return tag;
}

/** Varints in buf[from, to): the bytes without the continuation bit. */
function varintsIn(buf: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (buf[i]! < 0x80) n++;
  return n;
}

/** The end of a length-delimited field's value whose length `r` reads next (checked against the buffer). */
function delimitedEnd(r: BinaryReader): number {
  const end = r.uint32() + r.pos;
  if (end > r.len) throw new RangeError('premature EOF');
  return end;
}

/**
 * Reads a PushBytesRequest as protobuf-es's fromBinary would (unknown fields skipped, repeated scalars
 * packed or not), except that every `traces` and `ids` entry is a view into `buf`, not a copy. Two passes:
 * the first counts, so every list is allocated once at its size (a push carries ~190 traces to each
 * replica: the lists grown by push, and a tuple per tag, were most of a receiving member's garbage).
 * Malformed bytes are INVALID_ARGUMENT.
 */
export function decodePushBytes(buf: Uint8Array): PushBytesRequest {
  try {
    let nTraces = 0;
    let nIds = 0;
    let nStart = 0;
    let nEnd = 0;
    const r = new BinaryReader(buf);
    while (r.pos < r.len) {
      const tag = readTag(r, buf);
      if (tag === TAG_TRACES || tag === TAG_IDS) {
        r.pos = delimitedEnd(r);
        if (tag === TAG_TRACES) nTraces++;
        else nIds++;
      } else if (tag === TAG_START || tag === TAG_END) {
        const end = delimitedEnd(r);
        const n = varintsIn(buf, r.pos, end);
        r.pos = end;
        if (tag === TAG_START) nStart += n;
        else nEnd += n;
      } else if (tag === TAG_START_VARINT || tag === TAG_END_VARINT) {
        r.uint32();
        if (tag === TAG_START_VARINT) nStart++;
        else nEnd++;
      } else {
        r.skip(tag & 7, tag >>> 3);
      }
    }
    const traces = new Array<Uint8Array>(nTraces);
    const ids = new Array<Uint8Array>(nIds);
    const startSeconds = new Array<number>(nStart);
    const endSeconds = new Array<number>(nEnd);
    let tenant = '';
    let t = 0;
    let d = 0;
    let st = 0;
    let en = 0;
    r.pos = 0;
    while (r.pos < r.len) {
      const tag = readTag(r, buf);
      if (tag === TAG_TRACES || tag === TAG_IDS) {
        const end = delimitedEnd(r);
        const view = buf.subarray(r.pos, end);
        r.pos = end;
        if (tag === TAG_TRACES) traces[t++] = view;
        else ids[d++] = view;
      } else if (tag === TAG_START || tag === TAG_END) {
        const end = delimitedEnd(r);
        const list = tag === TAG_START ? startSeconds : endSeconds;
        let k = tag === TAG_START ? st : en;
        while (r.pos < end) list[k++] = r.uint32();
        if (r.pos !== end) throw new RangeError('packed field past its length');
        if (tag === TAG_START) st = k;
        else en = k;
      } else if (tag === TAG_START_VARINT) {
        startSeconds[st++] = r.uint32();
      } else if (tag === TAG_END_VARINT) {
        endSeconds[en++] = r.uint32();
      } else if (tag === TAG_TENANT) {
        tenant = r.string();
      } else {
        r.skip(tag & 7, tag >>> 3);
      }
    }
    return pushBytesMessage({ tenant, traces, ids, startSeconds, endSeconds });
  } catch (err) {
    throw new ConnectError(`malformed PushBytesRequest: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
  }
}

/** The wire form of a PushResponse (field 1 packed, as toBinary writes it). */
export function encodePushResponse(res: PushResponse): Uint8Array {
  const list = res.errorsByTrace;
  if (list.length === 0) return new Uint8Array(0);
  const len = packedSize(list);
  const out = Buffer.allocUnsafe(1 + varintSize(len) + len);
  out[0] = (1 << 3) | WireType.LengthDelimited;
  let pos = writeVarint(out, 1, len);
  for (const v of list) pos = writeVarint(out, pos, v >>> 0);
  return out;
}

/** Reads a PushResponse (packed or unpacked field 1; unknown fields skipped), its list allocated once. */
export function decodePushResponse(buf: Uint8Array): PushResponse {
  const TAG_PACKED = (1 << 3) | WireType.LengthDelimited;
  const TAG_VARINT = (1 << 3) | WireType.Varint;
  try {
    const r = new BinaryReader(buf);
    let n = 0;
    while (r.pos < r.len) {
      const tag = readTag(r, buf);
      if (tag === TAG_PACKED) {
        const end = delimitedEnd(r);
        n += varintsIn(buf, r.pos, end);
        r.pos = end;
      } else if (tag === TAG_VARINT) {
        r.int32();
        n++;
      } else {
        r.skip(tag & 7, tag >>> 3);
      }
    }
    const errorsByTrace = new Array<PushErrorReason>(n);
    let k = 0;
    r.pos = 0;
    while (r.pos < r.len) {
      const tag = readTag(r, buf);
      if (tag === TAG_PACKED) {
        const end = delimitedEnd(r);
        while (r.pos < end) errorsByTrace[k++] = r.int32() as PushErrorReason;
        if (r.pos !== end) throw new RangeError('packed field past its length');
      } else if (tag === TAG_VARINT) {
        errorsByTrace[k++] = r.int32() as PushErrorReason;
      } else {
        r.skip(tag & 7, tag >>> 3);
      }
    }
    return { $typeName: PushResponseSchema.typeName, errorsByTrace };
  } catch (err) {
    throw new ConnectError(`malformed PushResponse: ${err instanceof Error ? err.message : String(err)}`, Code.Internal);
  }
}

/** The gRPC path of Pusher.PushBytes. */
export const PUSH_BYTES_PATH = `/${Pusher.typeName}/${Pusher.method.pushBytes.name}`;

/**
 * The ingester's side of the bare gRPC push (ConnectServer.registerUnaryBytes): decodes the request,
 * checks its tenant as tenantFieldInterceptor does for connect-es routes, and encodes the answer.
 */
export function pushBytesUnaryHandler(push: (req: PushBytesRequest) => Promise<PushResponse>): UnaryBytesHandler {
  return async (message) => {
    const req = decodePushBytes(message);
    validateTenantID(req.tenant);
    return encodePushResponse(await push(req));
  };
}
