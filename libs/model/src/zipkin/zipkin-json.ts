// Zipkin JSON: the v2 span list (POST /api/v2/spans) and the v1 span list (POST /api/v1/spans), both
// validated into ZipkinSpanModel. Errors name the format, the span index and the field.
//
// v1 spans are converted to the v2 model the way Zipkin's own v1 converter describes the mapping:
//   cs/cr → a CLIENT span, sr/ss → a SERVER span, ms → PRODUCER, mr → CONSUMER; a v1 span holding both
//   client and server annotations becomes two v2 spans with the same ID, the server one `shared`.
//   The span's own timestamp/duration belong to the first side (the client when there is one); other
//   sides take theirs from their annotations. Binary annotations "sa"/"ca"/"ma" (address annotations)
//   become the remote endpoint; "lc" names a local span's endpoint; every other binary annotation is a
//   string tag. Core annotations are consumed; the rest become annotations (events).

import {
  hexId,
  microsNumberToNanos,
  normalizeIp,
  zipkinInvalid,
  type ZipkinAnnotationModel,
  type ZipkinEndpointModel,
  type ZipkinKind,
  type ZipkinSpanModel,
} from './zipkin-model';
import { isAllZero } from '../jaeger/otlp-build';

const V2 = 'zipkin v2';
const V1 = 'zipkin v1';

const KINDS: ReadonlySet<string> = new Set(['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER']);

function parseJsonArray(body: Uint8Array | string, format: string): unknown[] {
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw zipkinInvalid(format, undefined, '', `invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw zipkinInvalid(format, undefined, '', `expected a JSON array of spans, got ${typeName(parsed)}`);
  return parsed;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field reader bound to one span, so every error names the format, index and field. */
class Fields {
  constructor(
    private readonly format: string,
    private readonly index: number,
    private readonly obj: Record<string, unknown>,
    private readonly prefix = '',
  ) {}

  fail(field: string, problem: string): never {
    throw zipkinInvalid(this.format, this.index, this.prefix + field, problem);
  }

  raw(field: string): unknown {
    const v = this.obj[field];
    return v === null ? undefined : v;
  }

  string(field: string): string | undefined {
    const v = this.raw(field);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(field, `expected a string, got ${typeName(v)}`);
    return v;
  }

  bool(field: string): boolean {
    const v = this.raw(field);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.fail(field, `expected a boolean, got ${typeName(v)}`);
    return v;
  }

  requiredString(field: string): string {
    const v = this.string(field);
    return v === undefined || v === '' ? this.fail(field, 'required') : v;
  }

  requiredMicros(field: string): bigint {
    const v = this.micros(field);
    return v === undefined ? this.fail(field, 'required') : v;
  }

  /** A JSON object of string values (Zipkin tags); numbers and booleans some reporters send are kept as text. */
  stringMap(field: string): Array<[string, string]> {
    const v = this.raw(field);
    if (v === undefined) return [];
    if (!isObject(v)) return this.fail(field, `expected an object, got ${typeName(v)}`);
    return Object.entries(v).map(([k, x]): [string, string] => {
      if (typeof x === 'string') return [k, x];
      if (typeof x === 'number' || typeof x === 'boolean') return [k, String(x)];
      return this.fail(`${field}.${k}`, `expected a string, got ${typeName(x)}`);
    });
  }

  /** A non-negative number of microseconds, as nanoseconds. */
  micros(field: string): bigint | undefined {
    const v = this.raw(field);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `expected a number of microseconds, got ${typeName(v)}`);
    if (v < 0) this.fail(field, `negative value ${v}`);
    return microsNumberToNanos(v);
  }

  /** A hex ID. IDs must not be all zeros; an all-zero optional ID (a parent) means "none". */
  id(field: string, kind: 'trace' | 'span', required: boolean): Uint8Array | undefined {
    const s = this.string(field);
    if (s === undefined || s === '') {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    const id = hexId(s, kind);
    if (typeof id === 'string') this.fail(field, id);
    if (isAllZero(id)) {
      if (required) this.fail(field, 'all zeros');
      return undefined;
    }
    return id;
  }

  array(field: string): unknown[] {
    const v = this.raw(field);
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(field, `expected an array, got ${typeName(v)}`);
    return v;
  }

  object(field: string): Fields | undefined {
    const v = this.raw(field);
    if (v === undefined) return undefined;
    if (!isObject(v)) this.fail(field, `expected an object, got ${typeName(v)}`);
    return new Fields(this.format, this.index, v, `${this.prefix}${field}.`);
  }

  element(field: string, i: number): Fields {
    const v = this.array(field)[i];
    if (!isObject(v)) this.fail(`${field}[${i}]`, `expected an object, got ${typeName(v)}`);
    return new Fields(this.format, this.index, v, `${this.prefix}${field}[${i}].`);
  }

  endpoint(field: string): ZipkinEndpointModel | undefined {
    const f = this.object(field);
    return f ? f.asEndpoint() : undefined;
  }

  asEndpoint(): ZipkinEndpointModel | undefined {
    const ep: ZipkinEndpointModel = {};
    const serviceName = this.string('serviceName');
    if (serviceName) ep.serviceName = serviceName;
    const ipv4 = this.string('ipv4');
    const v4 = ipv4 ? normalizeIp(ipv4, 4) : undefined;
    if (v4) ep.ipv4 = v4;
    const ipv6 = this.string('ipv6');
    const v6 = ipv6 ? normalizeIp(ipv6, 6) : undefined;
    if (v6) ep.ipv6 = v6;
    const port = this.raw('port');
    if (port !== undefined) {
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
        this.fail('port', `expected a port number 0-65535, got ${JSON.stringify(port)}`);
      }
      if (port > 0) ep.port = port;
    }
    return Object.keys(ep).length > 0 ? ep : undefined;
  }
}

function spanFields(format: string, spans: unknown[], i: number): Fields {
  const v = spans[i];
  if (!isObject(v)) throw zipkinInvalid(format, i, '', `expected an object, got ${typeName(v)}`);
  return new Fields(format, i, v);
}

/** Parses a Zipkin v2 JSON span list. */
export function parseZipkinV2Json(body: Uint8Array | string): ZipkinSpanModel[] {
  const list = parseJsonArray(body, V2);
  const out: ZipkinSpanModel[] = new Array<ZipkinSpanModel>(list.length);
  for (let i = 0; i < list.length; i++) {
    const f = spanFields(V2, list, i);
    const span: ZipkinSpanModel = {
      traceId: f.id('traceId', 'trace', true)!,
      id: f.id('id', 'span', true)!,
      name: f.string('name') ?? '',
      durationNs: f.micros('duration') ?? 0n,
      annotations: [],
      tags: new Map(),
      debug: f.bool('debug'),
      shared: f.bool('shared'),
    };
    const parentId = f.id('parentId', 'span', false);
    if (parentId) span.parentId = parentId;
    const kind = f.string('kind');
    if (kind !== undefined && kind !== '') {
      if (!KINDS.has(kind)) f.fail('kind', `unknown kind ${JSON.stringify(kind)} (want CLIENT, SERVER, PRODUCER or CONSUMER)`);
      span.kind = kind as ZipkinKind;
    }
    const ts = f.micros('timestamp');
    if (ts !== undefined && ts !== 0n) span.timestampNs = ts;
    const local = f.endpoint('localEndpoint');
    if (local) span.localEndpoint = local;
    const remote = f.endpoint('remoteEndpoint');
    if (remote) span.remoteEndpoint = remote;
    const annotations = f.array('annotations');
    for (let a = 0; a < annotations.length; a++) {
      const af = f.element('annotations', a);
      span.annotations.push({ timeNs: af.requiredMicros('timestamp'), value: af.requiredString('value') });
    }
    for (const [k, v] of f.stringMap('tags')) span.tags.set(k, v);
    out[i] = span;
  }
  return out;
}

// --- v1 ---

interface V1Annotation {
  timeNs: bigint;
  value: string;
  endpoint: ZipkinEndpointModel | undefined;
}

interface V1BinaryAnnotation {
  key: string;
  value: string;
  endpoint: ZipkinEndpointModel | undefined;
}

const CORE = new Set(['cs', 'cr', 'sr', 'ss', 'ms', 'mr']);
const ADDRESS_KEYS = new Set(['sa', 'ca', 'ma']);

function binaryAnnotationValue(f: Fields, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return f.fail('value', `expected a string, number or boolean, got ${typeName(v)}`);
}

/** Parses a Zipkin v1 JSON span list, converting each v1 span to one or two v2 spans. */
export function parseZipkinV1Json(body: Uint8Array | string): ZipkinSpanModel[] {
  const list = parseJsonArray(body, V1);
  const out: ZipkinSpanModel[] = [];
  for (let i = 0; i < list.length; i++) {
    const f = spanFields(V1, list, i);
    const traceId = f.id('traceId', 'trace', true)!;
    const id = f.id('id', 'span', true)!;
    const parentId = f.id('parentId', 'span', false);
    const name = f.string('name') ?? '';
    const timestamp = f.micros('timestamp');
    const duration = f.micros('duration');
    const debug = f.bool('debug');

    const annotations: V1Annotation[] = [];
    const raw = f.array('annotations');
    for (let a = 0; a < raw.length; a++) {
      const af = f.element('annotations', a);
      annotations.push({ timeNs: af.requiredMicros('timestamp'), value: af.requiredString('value'), endpoint: af.endpoint('endpoint') });
    }
    const binary: V1BinaryAnnotation[] = [];
    const rawBinary = f.array('binaryAnnotations');
    for (let b = 0; b < rawBinary.length; b++) {
      const bf = f.element('binaryAnnotations', b);
      binary.push({ key: bf.requiredString('key'), value: binaryAnnotationValue(bf, bf.raw('value')), endpoint: bf.endpoint('endpoint') });
    }

    for (const s of v1ToV2({ traceId, id, parentId, name, timestamp, duration, debug, annotations, binary })) out.push(s);
  }
  return out;
}

interface V1Span {
  traceId: Uint8Array;
  id: Uint8Array;
  parentId: Uint8Array | undefined;
  name: string;
  timestamp: bigint | undefined;
  duration: bigint | undefined;
  debug: boolean;
  annotations: V1Annotation[];
  binary: V1BinaryAnnotation[];
}

interface Side {
  kind: ZipkinKind | undefined;
  start: V1Annotation | undefined;
  end: V1Annotation | undefined;
  local: ZipkinEndpointModel | undefined;
  remoteKey: string | undefined;
}

function sameService(a: ZipkinEndpointModel | undefined, b: ZipkinEndpointModel | undefined): boolean {
  return a?.serviceName !== undefined && a.serviceName === b?.serviceName;
}

function v1ToV2(v1: V1Span): ZipkinSpanModel[] {
  const core = new Map<string, V1Annotation>();
  const events: V1Annotation[] = [];
  for (const a of v1.annotations) {
    if (CORE.has(a.value)) {
      if (!core.has(a.value)) core.set(a.value, a);
    } else {
      events.push(a);
    }
  }
  const addresses = new Map<string, ZipkinEndpointModel | undefined>();
  const tags: V1BinaryAnnotation[] = [];
  let localComponent: V1BinaryAnnotation | undefined;
  for (const b of v1.binary) {
    if (ADDRESS_KEYS.has(b.key) && (b.value === 'true' || b.value === '1')) {
      if (!addresses.has(b.key)) addresses.set(b.key, b.endpoint);
      continue;
    }
    if (b.key === 'lc') localComponent ??= b;
    tags.push(b);
  }

  const endpointOf = (...as: Array<V1Annotation | undefined>) => as.find((a) => a?.endpoint)?.endpoint;
  const sides: Side[] = [];
  const cs = core.get('cs');
  const cr = core.get('cr');
  const sr = core.get('sr');
  const ss = core.get('ss');
  const ms = core.get('ms');
  const mr = core.get('mr');
  if (cs || cr) sides.push({ kind: 'CLIENT', start: cs, end: cr, local: endpointOf(cs, cr), remoteKey: 'sa' });
  if (sr || ss) sides.push({ kind: 'SERVER', start: sr, end: ss, local: endpointOf(sr, ss), remoteKey: 'ca' });
  if (ms && sides.length === 0) sides.push({ kind: 'PRODUCER', start: ms, end: undefined, local: ms.endpoint, remoteKey: 'ma' });
  if (mr && sides.length === 0) sides.push({ kind: 'CONSUMER', start: mr, end: undefined, local: mr.endpoint, remoteKey: 'ma' });
  if (sides.length === 0) {
    const local = localComponent?.endpoint ?? v1.annotations.find((a) => a.endpoint)?.endpoint ?? v1.binary.find((b) => b.endpoint)?.endpoint;
    sides.push({ kind: undefined, start: undefined, end: undefined, local, remoteKey: undefined });
  }

  const hasClient = sides.some((s) => s.kind === 'CLIENT');
  const spans = sides.map((side, k): ZipkinSpanModel => {
    const span: ZipkinSpanModel = {
      traceId: v1.traceId,
      id: v1.id,
      name: v1.name,
      durationNs: 0n,
      annotations: [],
      tags: new Map(),
      debug: v1.debug,
      shared: side.kind === 'SERVER' && (hasClient || v1.timestamp === undefined),
    };
    if (v1.parentId) span.parentId = v1.parentId;
    if (side.kind) span.kind = side.kind;
    if (side.local) span.localEndpoint = side.local;
    const remote = side.remoteKey ? addresses.get(side.remoteKey) : undefined;
    if (remote) span.remoteEndpoint = remote;
    // The span's own timestamp and duration describe its first side.
    if (k === 0 && v1.timestamp !== undefined && v1.timestamp !== 0n) {
      span.timestampNs = v1.timestamp;
      span.durationNs = v1.duration ?? 0n;
    } else if (side.start) {
      span.timestampNs = side.start.timeNs;
      if (side.end && side.end.timeNs >= side.start.timeNs) span.durationNs = side.end.timeNs - side.start.timeNs;
    } else if (side.kind === undefined && v1.annotations.length > 0) {
      const times = v1.annotations.map((a) => a.timeNs);
      const first = times.reduce((a, b) => (b < a ? b : a));
      const last = times.reduce((a, b) => (b > a ? b : a));
      span.timestampNs = first;
      span.durationNs = last - first;
    }
    return span;
  });

  // Annotations and tags go to the side whose service recorded them, else to the first side.
  const owner = (ep: ZipkinEndpointModel | undefined): ZipkinSpanModel => {
    for (let k = 0; k < sides.length; k++) if (sameService(ep, sides[k]!.local)) return spans[k]!;
    return spans[0]!;
  };
  for (const e of events) owner(e.endpoint).annotations.push({ timeNs: e.timeNs, value: e.value } satisfies ZipkinAnnotationModel);
  for (const t of tags) owner(t.endpoint).tags.set(t.key, t.value);
  return spans;
}
