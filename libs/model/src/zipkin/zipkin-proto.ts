// Zipkin proto3 (zipkin.proto3.ListOfSpans, POST /api/v2/spans with application/x-protobuf) validated
// into ZipkinSpanModel.

import { fromBinaryLenientUtf8 } from '../lenient-utf8';
import { ZipkinListOfSpansSchema, ZipkinSpan_Kind, type ZipkinEndpoint, type ZipkinListOfSpans } from '@stave/proto';
import { ipv4FromBytes, ipv6FromBytes, traceIdBytes, zipkinInvalid, type ZipkinEndpointModel, type ZipkinKind, type ZipkinSpanModel } from './zipkin-model';
import { isAllZero as isAllZeroBytes } from '../jaeger/otlp-build';

const FORMAT = 'zipkin proto3';

const KIND: Record<number, ZipkinKind | undefined> = {
  [ZipkinSpan_Kind.CLIENT]: 'CLIENT',
  [ZipkinSpan_Kind.SERVER]: 'SERVER',
  [ZipkinSpan_Kind.PRODUCER]: 'PRODUCER',
  [ZipkinSpan_Kind.CONSUMER]: 'CONSUMER',
};

/** Decodes a ListOfSpans body; malformed protobuf is InvalidArgument. */
export function decodeZipkinProto(body: Uint8Array): ZipkinSpanModel[] {
  let list: ZipkinListOfSpans;
  try {
    list = fromBinaryLenientUtf8(ZipkinListOfSpansSchema, body);
  } catch (err) {
    throw zipkinInvalid(FORMAT, undefined, '', `malformed ListOfSpans: ${(err as Error).message}`);
  }
  return zipkinProtoToModel(list);
}

export function zipkinProtoToModel(list: ZipkinListOfSpans): ZipkinSpanModel[] {
  return list.spans.map((s, i): ZipkinSpanModel => {
    const traceId = traceIdBytes(s.traceId);
    if (!traceId) throw zipkinInvalid(FORMAT, i, 'trace_id', `must be 8 or 16 bytes, got ${s.traceId.length}`);
    if (isAllZeroBytes(traceId)) throw zipkinInvalid(FORMAT, i, 'trace_id', 'all zeros');
    if (s.id.length !== 8) throw zipkinInvalid(FORMAT, i, 'id', `must be 8 bytes, got ${s.id.length}`);
    if (isAllZeroBytes(s.id)) throw zipkinInvalid(FORMAT, i, 'id', 'all zeros');
    if (s.parentId.length !== 0 && s.parentId.length !== 8) {
      throw zipkinInvalid(FORMAT, i, 'parent_id', `must be empty or 8 bytes, got ${s.parentId.length}`);
    }
    const span: ZipkinSpanModel = {
      traceId,
      id: s.id,
      name: s.name,
      durationNs: s.duration * 1000n,
      annotations: s.annotations.map((a) => ({ timeNs: a.timestamp * 1000n, value: a.value })),
      tags: new Map(Object.entries(s.tags)),
      debug: s.debug,
      shared: s.shared,
    };
    if (s.parentId.length === 8 && !isAllZeroBytes(s.parentId)) span.parentId = s.parentId;
    const kind = KIND[s.kind];
    if (kind) span.kind = kind;
    else if (s.kind !== ZipkinSpan_Kind.SPAN_KIND_UNSPECIFIED) throw zipkinInvalid(FORMAT, i, 'kind', `unknown kind ${s.kind}`);
    if (s.timestamp !== 0n) span.timestampNs = s.timestamp * 1000n;
    const local = endpoint(s.localEndpoint, i, 'local_endpoint');
    if (local) span.localEndpoint = local;
    const remote = endpoint(s.remoteEndpoint, i, 'remote_endpoint');
    if (remote) span.remoteEndpoint = remote;
    return span;
  });
}

function endpoint(e: ZipkinEndpoint | undefined, i: number, field: string): ZipkinEndpointModel | undefined {
  if (!e) return undefined;
  const ep: ZipkinEndpointModel = {};
  if (e.serviceName) ep.serviceName = e.serviceName;
  if (e.ipv4.length === 4) ep.ipv4 = ipv4FromBytes(e.ipv4);
  else if (e.ipv4.length !== 0) throw zipkinInvalid(FORMAT, i, `${field}.ipv4`, `must be 4 bytes, got ${e.ipv4.length}`);
  if (e.ipv6.length === 16) ep.ipv6 = ipv6FromBytes(e.ipv6);
  else if (e.ipv6.length !== 0) throw zipkinInvalid(FORMAT, i, `${field}.ipv6`, `must be 16 bytes, got ${e.ipv6.length}`);
  if (e.port < 0 || e.port > 65535) throw zipkinInvalid(FORMAT, i, `${field}.port`, `out of range: ${e.port}`);
  if (e.port > 0) ep.port = e.port;
  return Object.keys(ep).length > 0 ? ep : undefined;
}
