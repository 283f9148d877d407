// Rewrites an ExportTraceServiceRequest so that every string field of the span tree is valid UTF-8: each
// ill-formed sequence becomes U+FFFD (the WHATWG decoder's replacement, as Node's `toString('utf8')` does),
// and the lengths of every enclosing message are re-framed. Everything else (unknown fields, bytes fields,
// numbers) is copied as it came. Used only when the wire scan found invalid UTF-8 (see split.ts).

import { MAX_NESTING_DEPTH, ProtobufWireError, readLength, readTag, skipField, validUtf8, wire, WT_LEN } from './protobuf-wire';
import { K_MSG, K_STRING, SCHEMA } from './validate';

// The envelope above Resource and Span, in the same form as SCHEMA (field number → kind).
const T_REQUEST = SCHEMA.length;
const T_RESOURCE_SPANS = T_REQUEST + 1;
const T_SCOPE_SPANS = T_REQUEST + 2;
const T_RESOURCE = 0;
const T_SCOPE = 1;
const T_SPAN = 10;
const ALL: readonly Uint8Array[] = [
  ...SCHEMA,
  /* ExportTraceServiceRequest */ Uint8Array.of(0, K_MSG + T_RESOURCE_SPANS),
  /* ResourceSpans */ Uint8Array.of(0, K_MSG + T_RESOURCE, K_MSG + T_SCOPE_SPANS, K_STRING),
  /* ScopeSpans */ Uint8Array.of(0, K_MSG + T_SCOPE, K_MSG + T_SPAN, K_STRING),
];

/** The request with every invalid UTF-8 sequence in its string fields replaced by U+FFFD. */
export function repairUtf8(req: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  rewrite(req, 0, req.length, T_REQUEST, 0, out);
  return Buffer.concat(out);
}

function varint(n: number): Uint8Array {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Uint8Array.from(bytes);
}

/** Appends the rewritten fields of message `type` in buf[pos, end) to `out`; returns their byte count. */
function rewrite(buf: Uint8Array, pos: number, end: number, type: number, depth: number, out: Uint8Array[]): number {
  if (depth > MAX_NESTING_DEPTH) throw new ProtobufWireError(pos, `messages nested deeper than ${MAX_NESTING_DEPTH} levels`);
  const schema = ALL[type]!;
  let size = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    const field = tag >>> 3;
    const kind = field < schema.length ? schema[field]! : 0;
    if ((tag & 7) !== WT_LEN || (kind !== K_STRING && kind < K_MSG)) {
      pos = skipField(buf, pos, end, tag, depth);
      out.push(buf.subarray(fieldStart, pos));
      size += pos - fieldStart;
      continue;
    }
    const tagBytes = buf.subarray(fieldStart, pos);
    pos = readLength(buf, pos, end);
    const len = wire.u32;
    let body: Uint8Array[];
    let bodySize: number;
    if (kind === K_STRING) {
      const v = buf.subarray(pos, pos + len);
      const fixed = validUtf8(buf, pos, pos + len) ? v : Buffer.from(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'));
      body = [fixed];
      bodySize = fixed.length;
    } else {
      body = [];
      bodySize = rewrite(buf, pos, pos + len, kind - K_MSG, depth + 1, body);
    }
    const lenBytes = varint(bodySize);
    out.push(tagBytes, lenBytes, ...body);
    size += tagBytes.length + lenBytes.length + bodySize;
    pos += len;
  }
  return size;
}
