// Zipkin → OTLP, following the OpenTelemetry Collector's Zipkin receiver (its current defaults, where the
// semconv-1.40 network names are on and the older ones off):
//   localEndpoint.serviceName → resource service.name; spans are grouped into one resource per local
//     service (and per set of resource-level tags). Tags that name resource attributes (service.*,
//     telemetry.*, host.*, process.*, ..., see RESOURCE_TAG_PREFIXES) move to the resource, as the
//     OTel SDKs' Zipkin exporters copy resource attributes into tags.
//   kind CLIENT/SERVER/PRODUCER/CONSUMER → SpanKind; no kind with tag span.kind=internal → INTERNAL.
//   tags → string attributes. `otel.status_code` (OK/ERROR/UNSET or STATUS_CODE_*) and
//     `otel.status_description` → status; an `error` tag marks the span as an error, its value (unless
//     empty or "true") being the message. `w3c.tracestate` → trace_state; `otel.scope.*` (or the older
//     `otel.library.*`) → instrumentation scope. Those tags are removed.
//   localEndpoint ip → network.local.address, port → net.host.port; remoteEndpoint serviceName →
//     service.peer.name, ip → network.peer.address, port → net.peer.port. (These keys overwrite tags
//     of the same name.)
//   annotations → events (the collector's "name|{json attributes}|dropped" form is understood).
//   64-bit trace IDs are left-padded to 16 bytes; µs → ns. A span without a timestamp starts at 0 and is
//     marked with otel.zipkin.absentField.startTime=true, as the collector does.
//   shared: the server half of a shared span keeps the client's span ID and is told apart by its kind
//     (Tempo's combiner keys spans by ID and kind, so the two halves are never merged).
//   debug: OTLP has no debug flag; a debug span gets the attribute zipkin.debug=true.

import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  ExportTraceServiceRequestSchema,
  Span_SpanKind,
  Status_StatusCode,
  type ExportTraceServiceRequest,
  type ResourceSpansSchema,
  type ScopeSpansSchema,
  type SpanSchema,
} from '@stave/proto';
import { AttributeMap, bool, bytesEqual, double, int, str, type KeyValueInit } from '../jaeger/otlp-build';
import { parseZipkinV1Json, parseZipkinV2Json } from './zipkin-json';
import type { ZipkinEndpointModel, ZipkinSpanModel } from './zipkin-model';
import { decodeZipkinProto } from './zipkin-proto';

type SpanInit = MessageInitShape<typeof SpanSchema>;
type ScopeSpansInit = MessageInitShape<typeof ScopeSpansSchema>;
type ResourceSpansInit = MessageInitShape<typeof ResourceSpansSchema>;

/** Tag prefixes (and exact keys) that are resource attributes in OpenTelemetry's semantic conventions. */
export const RESOURCE_TAG_PREFIXES: readonly string[] = [
  'service.',
  'telemetry.',
  'host.',
  'os.',
  'process.',
  'container.',
  'k8s.',
  'cloud.',
  'deployment.',
  'device.',
  'webengine.',
];
/** Span-level keys that happen to share a resource prefix. */
const NOT_RESOURCE_TAGS: ReadonlySet<string> = new Set(['service.peer.name', 'service.peer.namespace']);

export const ZIPKIN_ATTR = {
  localAddress: 'network.local.address',
  localPort: 'net.host.port',
  peerService: 'service.peer.name',
  peerAddress: 'network.peer.address',
  peerPort: 'net.peer.port',
  startTimeAbsent: 'otel.zipkin.absentField.startTime',
  debug: 'zipkin.debug',
} as const;

const STATUS_CODES: Record<string, Status_StatusCode> = {
  OK: Status_StatusCode.OK,
  ERROR: Status_StatusCode.ERROR,
  UNSET: Status_StatusCode.UNSET,
  STATUS_CODE_OK: Status_StatusCode.OK,
  STATUS_CODE_ERROR: Status_StatusCode.ERROR,
  STATUS_CODE_UNSET: Status_StatusCode.UNSET,
};

const KINDS: Record<string, Span_SpanKind> = {
  CLIENT: Span_SpanKind.CLIENT,
  SERVER: Span_SpanKind.SERVER,
  PRODUCER: Span_SpanKind.PRODUCER,
  CONSUMER: Span_SpanKind.CONSUMER,
};

/** POST /api/v2/spans, application/json. */
export function zipkinV2JsonToOtlp(body: Uint8Array | string): ExportTraceServiceRequest {
  return zipkinSpansToOtlp(parseZipkinV2Json(body));
}

/** POST /api/v1/spans, application/json. */
export function zipkinV1JsonToOtlp(body: Uint8Array | string): ExportTraceServiceRequest {
  return zipkinSpansToOtlp(parseZipkinV1Json(body));
}

/** POST /api/v2/spans, application/x-protobuf. */
export function zipkinProtoToOtlp(body: Uint8Array): ExportTraceServiceRequest {
  return zipkinSpansToOtlp(decodeZipkinProto(body));
}

function isResourceTag(key: string): boolean {
  if (NOT_RESOURCE_TAGS.has(key)) return false;
  for (const p of RESOURCE_TAG_PREFIXES) if (key.startsWith(p)) return true;
  return false;
}

export function zipkinSpansToOtlp(spans: ZipkinSpanModel[]): ExportTraceServiceRequest {
  const resources = new Map<string, { attributes: KeyValueInit[]; scopes: Map<string, ScopeSpansInit & { spans: SpanInit[] }> }>();
  for (const span of spans) {
    const tags = new Map(span.tags);

    const resourceTags: Array<[string, string]> = [];
    for (const [k, v] of tags) {
      if (isResourceTag(k)) {
        resourceTags.push([k, v]);
        tags.delete(k);
      }
    }
    const serviceName = span.localEndpoint?.serviceName ?? resourceTags.find(([k]) => k === 'service.name')?.[1];
    const resourceAttrs = new AttributeMap();
    if (serviceName !== undefined) resourceAttrs.put('service.name', str(serviceName));
    for (const [k, v] of resourceTags) if (k !== 'service.name') resourceAttrs.put(k, str(v));
    const resourceKey = JSON.stringify([serviceName ?? null, resourceTags.filter(([k]) => k !== 'service.name')]);

    let r = resources.get(resourceKey);
    if (!r) {
      r = { attributes: resourceAttrs.toInit(), scopes: new Map() };
      resources.set(resourceKey, r);
    }

    const scope = takeScope(tags);
    const scopeKey = `${scope.name}\u0000${scope.version}`;
    let ss = r.scopes.get(scopeKey);
    if (!ss) {
      ss = { scope, spans: [] };
      r.scopes.set(scopeKey, ss);
    }
    ss.spans.push(spanInit(span, tags));
  }
  const resourceSpans: ResourceSpansInit[] = [];
  for (const { attributes, scopes } of resources.values()) {
    resourceSpans.push({ resource: { attributes }, scopeSpans: [...scopes.values()] });
  }
  return create(ExportTraceServiceRequestSchema, { resourceSpans });
}

function takeScope(tags: Map<string, string>): { name: string; version: string } {
  const take = (k: string) => {
    const v = tags.get(k);
    tags.delete(k);
    return v;
  };
  const scopeName = take('otel.scope.name');
  const scopeVersion = take('otel.scope.version');
  const libName = take('otel.library.name');
  const libVersion = take('otel.library.version');
  if (scopeName !== undefined) return { name: scopeName, version: scopeVersion ?? '' };
  if (libName !== undefined) return { name: libName, version: libVersion ?? '' };
  return { name: '', version: '' };
}

function takeStatus(tags: Map<string, string>): { code: Status_StatusCode; message: string } | undefined {
  const codeTag = tags.get('otel.status_code');
  const description = tags.get('otel.status_description');
  const errorTag = tags.get('error');
  tags.delete('otel.status_code');
  tags.delete('otel.status_description');
  if (codeTag === undefined && errorTag === undefined) {
    if (description !== undefined) tags.set('otel.status_description', description);
    return undefined;
  }
  let code = codeTag === undefined ? Status_StatusCode.UNSET : (STATUS_CODES[codeTag.toUpperCase()] ?? Status_StatusCode.UNSET);
  let message = description ?? '';
  if (errorTag !== undefined) {
    tags.delete('error');
    code = Status_StatusCode.ERROR;
    if (message === '' && errorTag !== '' && errorTag !== 'true') message = errorTag;
  }
  return { code, message };
}

function endpointAttrs(attrs: AttributeMap, ep: ZipkinEndpointModel | undefined, local: boolean): void {
  if (!ep) return;
  if (!local && ep.serviceName) attrs.put(ZIPKIN_ATTR.peerService, str(ep.serviceName));
  const ip = ep.ipv6 ?? ep.ipv4;
  if (ip) attrs.put(local ? ZIPKIN_ATTR.localAddress : ZIPKIN_ATTR.peerAddress, str(ip));
  if (ep.port) attrs.put(local ? ZIPKIN_ATTR.localPort : ZIPKIN_ATTR.peerPort, int(BigInt(ep.port)));
}

/** "name|{json}|dropped", the collector's way of carrying event attributes through Zipkin annotations. */
const ENCODED_EVENT = /^([^|]*)\|(\{.*\})\|(\d+)$/s;

function eventInit(timeNs: bigint, value: string): NonNullable<SpanInit['events']>[number] {
  const m = ENCODED_EVENT.exec(value);
  if (m) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(m[2]!);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const attributes: KeyValueInit[] = [];
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v === 'string') attributes.push({ key: k, value: { value: str(v) } });
        else if (typeof v === 'boolean') attributes.push({ key: k, value: { value: bool(v) } });
        else if (typeof v === 'number') {
          attributes.push({ key: k, value: { value: Number.isInteger(v) ? int(BigInt(v)) : double(v) } });
        }
      }
      return { timeUnixNano: timeNs, name: m[1]!, attributes, droppedAttributesCount: Math.min(Number(m[3]), 0xffffffff) };
    }
  }
  return { timeUnixNano: timeNs, name: value };
}

function spanInit(span: ZipkinSpanModel, tags: Map<string, string>): SpanInit {
  const traceState = tags.get('w3c.tracestate');
  tags.delete('w3c.tracestate');

  let kind = span.kind ? KINDS[span.kind]! : Span_SpanKind.UNSPECIFIED;
  if (!span.kind && tags.has('span.kind')) {
    if (tags.get('span.kind') === 'internal') kind = Span_SpanKind.INTERNAL;
    tags.delete('span.kind');
  }

  const status = takeStatus(tags);

  const attrs = new AttributeMap();
  for (const [k, v] of tags) attrs.put(k, str(v));
  endpointAttrs(attrs, span.localEndpoint, true);
  endpointAttrs(attrs, span.remoteEndpoint, false);
  if (span.debug) attrs.put(ZIPKIN_ATTR.debug, bool(true));

  let startNs = span.timestampNs;
  if (startNs === undefined) {
    startNs = 0n;
    attrs.put(ZIPKIN_ATTR.startTimeAbsent, bool(true));
  }

  const parent = span.parentId && !bytesEqual(span.parentId, span.id) ? span.parentId : undefined;
  return {
    traceId: span.traceId,
    spanId: span.id,
    parentSpanId: parent ?? new Uint8Array(0),
    traceState: traceState ?? '',
    name: span.name,
    kind,
    startTimeUnixNano: startNs,
    endTimeUnixNano: startNs + span.durationNs,
    attributes: attrs.toInit(),
    events: span.annotations.map((a) => eventInit(a.timeNs, a.value)),
    ...(status ? { status } : {}),
  };
}
