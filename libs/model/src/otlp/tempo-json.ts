// The HTTP shapes of Tempo's trace-by-ID API, which Grafana's Tempo data source and tempo-cli read.
//
// Matched against grafana/tempo 2.x (checked in pkg/tempopb/tempo.pb.go, pkg/tempopb/trace_utils.go,
// modules/frontend/combiner/common.go, pkg/util/traceid.go and pkg/api/http.go of the 2.x line):
// - Bodies are written by gogo/protobuf's jsonpb.Marshaler with default options: lowerCamelCase JSON names,
//   fields at their default value left out, enums as their proto names ("SPAN_KIND_SERVER"), 64-bit
//   integers as decimal strings, bytes (trace and span IDs included) as standard padded base64.
//   protobuf-es's toJson with default options writes exactly that, in the same (declaration) field order.
// - v1 `GET /api/traces/<id>`: tempopb.Trace marshalled as above, then its first `"resourceSpans":` key
//   renamed to `"batches":` (MarshalToJSONV1), so the body is {"batches":[ResourceSpans...]}.
// - v2 `GET /api/v2/traces/<id>`: tempopb.TraceByIDResponse { Trace trace = 1; TraceByIDMetrics metrics = 2;
//   PartialStatus status = 3; string message = 4; }, so {"trace":{"resourceSpans":[...]},"metrics":{...},
//   "status":"PARTIAL","message":"..."}; status COMPLETE (0) is left out like any default.
// - Trace IDs in URLs: util.HexStringToTraceID — hex digits only, odd lengths get a leading zero, at most
//   16 bytes, shorter IDs left-padded with zeros to 16 bytes.

import { create, fromJson, toBinary, toJson, type JsonValue } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { ResourceSpansSchema, TraceSchema, type Trace } from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import type { TraceLike } from './combine';

/** tempopb.PartialStatus. */
export type TempoPartialStatus = 'COMPLETE' | 'PARTIAL';

export interface TempoTraceByIDResponse {
  readonly trace: TraceLike;
  /** Default COMPLETE. */
  readonly status?: TempoPartialStatus;
  /** Why the trace is partial (e.g. "Trace exceeds maximum size of N bytes, a partial trace is returned"). */
  readonly message?: string;
  /** tempopb.TraceByIDMetrics; left out of the body when not given. */
  readonly metrics?: { readonly inspectedBytes: bigint };
}

function resourceSpansJson(trace: TraceLike): JsonValue[] {
  return trace.resourceSpans.map((rs) => toJson(ResourceSpansSchema, rs));
}

/** The body of v1 `GET /api/traces/<id>`: {"batches":[...]} (or {} for a trace without spans, as Tempo writes). */
export function tempoTraceV1Json(trace: TraceLike): string {
  return trace.resourceSpans.length ? JSON.stringify({ batches: resourceSpansJson(trace) }) : '{}';
}

/** The body of v2 `GET /api/v2/traces/<id>` as JSON. */
export function tempoTraceByIDV2Json(resp: TempoTraceByIDResponse): string {
  const body: Record<string, JsonValue> = {
    trace: resp.trace.resourceSpans.length ? { resourceSpans: resourceSpansJson(resp.trace) } : {},
  };
  if (resp.metrics) body.metrics = resp.metrics.inspectedBytes ? { inspectedBytes: resp.metrics.inspectedBytes.toString() } : {};
  if (resp.status === 'PARTIAL') body.status = 'PARTIAL';
  if (resp.message) body.message = resp.message;
  return JSON.stringify(body);
}

/**
 * The body of v2 `GET /api/v2/traces/<id>` for `Accept: application/protobuf`: tempopb.TraceByIDResponse
 * on the wire (field 1 Trace, 2 TraceByIDMetrics{1 inspectedBytes}, 3 status, 4 message).
 */
export function tempoTraceByIDV2Proto(resp: TempoTraceByIDResponse): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).bytes(toBinary(TraceSchema, create(TraceSchema, { resourceSpans: [...resp.trace.resourceSpans] })));
  if (resp.metrics) {
    w.tag(2, WireType.LengthDelimited).fork();
    if (resp.metrics.inspectedBytes) w.tag(1, WireType.Varint).uint64(resp.metrics.inspectedBytes);
    w.join();
  }
  if (resp.status === 'PARTIAL') w.tag(3, WireType.Varint).int32(1);
  if (resp.message) w.tag(4, WireType.LengthDelimited).string(resp.message);
  return w.finish();
}

/**
 * Reads a Tempo trace-by-ID JSON body back into a Trace: v1 ({"batches":[...]}), v2 ({"trace":{...}}) or a
 * bare {"resourceSpans":[...]}. For tools and tests that read Stave the way they read Tempo.
 */
export function parseTempoTraceJson(text: string): Trace {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConnectError(`invalid JSON: ${(err as Error).message}`, Code.InvalidArgument);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ConnectError('invalid Tempo trace JSON: expected an object', Code.InvalidArgument);
  const o = doc as Record<string, unknown>;
  const inner = (typeof o.trace === 'object' && o.trace !== null ? o.trace : o) as Record<string, unknown>;
  const resourceSpans = (inner.batches ?? inner.resourceSpans ?? []) as JsonValue;
  try {
    return fromJson(TraceSchema, { resourceSpans }, { ignoreUnknownFields: true });
  } catch (err) {
    throw new ConnectError(`invalid Tempo trace JSON: ${(err as Error).message}`, Code.InvalidArgument);
  }
}

/**
 * Parses a trace ID from a URL the way Tempo does (util.HexStringToTraceID): hex digits of either case,
 * at most 32, left-padded with zeros to 16 bytes. A bad ID is a ConnectError(InvalidArgument) (HTTP 400)
 * naming the ID, with Tempo's wording for the reason.
 */
export function parseTraceID(text: string): Uint8Array {
  let bytePos = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const isHex = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
    if (!isHex) {
      throw new ConnectError(
        `invalid trace ID ${JSON.stringify(text)}: trace IDs can only contain hex characters: invalid character '${ch}' at position ${bytePos + 1}`,
        Code.InvalidArgument,
      );
    }
    bytePos += Buffer.byteLength(ch);
  }
  const even = text.length % 2 === 1 ? `0${text}` : text;
  if (even.length > 32) {
    throw new ConnectError(`invalid trace ID ${JSON.stringify(text)}: trace IDs can't be larger than 128 bits`, Code.InvalidArgument);
  }
  const id = new Uint8Array(16);
  id.set(Buffer.from(even, 'hex'), 16 - even.length / 2);
  return id;
}

/** A trace ID as Tempo prints it (util.TraceIDToHexString): lowercase hex without leading zeros. */
export function traceIDToHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex').replace(/^0+/, '');
}
