// Traces with a known shape for the explorer's browser test and bench: spans described by parent, service,
// start and duration, written as an OTLP/JSON export request (hex IDs, as OTLP/JSON has them) and pushed to
// the OTLP HTTP receiver.

export interface SpanSpec {
  id: string; // 16 hex digits
  parent?: string;
  service: string;
  name: string;
  startMs: number; // from the trace's start
  durationMs: number;
  error?: boolean;
  kind?: number; // OTLP SpanKind
  attributes?: Record<string, string | number | boolean>;
  events?: Array<{ atMs: number; name: string; attributes?: Record<string, string> }>;
  links?: Array<{ traceId: string; spanId: string }>;
}

type JsonValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function value(v: string | number | boolean): JsonValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

const kvs = (o: Record<string, string | number | boolean> | undefined) => Object.entries(o ?? {}).map(([key, v]) => ({ key, value: value(v) }));

/** An OTLP/JSON ExportTraceServiceRequest body: one ResourceSpans per service. */
export function otlpJson(traceId: string, startUnixMs: number, spans: readonly SpanSpec[]): string {
  const t0 = BigInt(startUnixMs) * 1_000_000n;
  const ns = (ms: number) => String(t0 + BigInt(Math.round(ms * 1e6)));
  const byService = new Map<string, SpanSpec[]>();
  for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  return JSON.stringify({
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: kvs({ 'service.name': service, 'deployment.environment': 'test' }) },
      scopeSpans: [
        {
          scope: { name: 'explorer-test', version: '1.0.0' },
          spans: list.map((s) => ({
            traceId,
            spanId: s.id,
            ...(s.parent ? { parentSpanId: s.parent } : {}),
            name: s.name,
            kind: s.kind ?? 1,
            startTimeUnixNano: ns(s.startMs),
            endTimeUnixNano: ns(s.startMs + s.durationMs),
            attributes: kvs(s.attributes),
            events: (s.events ?? []).map((e) => ({ timeUnixNano: ns(e.atMs), name: e.name, attributes: kvs(e.attributes) })),
            links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
            status: s.error ? { code: 2, message: 'card declined' } : {},
          })),
        },
      ],
    })),
  });
}

/** Pushes one trace over OTLP/HTTP JSON; throws on anything but 200. */
export async function pushJsonTrace(otlpHttpPort: number, body: string, tenant?: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${otlpHttpPort}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(tenant ? { 'x-scope-orgid': tenant } : {}) },
    body,
  });
  if (res.status !== 200) throw new Error(`push answered ${res.status}: ${await res.text()}`);
}

/**
 * A wide and deep trace of `n` spans (for the 20,000-span bench): every span has up to `fanout` children,
 * laid out over `services` services, durations nested inside their parents.
 */
export function bigTrace(n: number, fanout = 8, services = 12): SpanSpec[] {
  const spans: SpanSpec[] = [{ id: spanHex(0), service: 'svc-0', name: 'root', startMs: 0, durationMs: 10_000 }];
  for (let i = 1; i < n; i++) {
    const p = spans[Math.floor((i - 1) / fanout)]!;
    const k = (i - 1) % fanout;
    const slot = p.durationMs / fanout;
    spans.push({
      id: spanHex(i),
      parent: p.id,
      service: `svc-${i % services}`,
      name: `operation-${i % 97}`,
      startMs: p.startMs + k * slot + slot * 0.05,
      durationMs: slot * 0.9,
      error: i % 211 === 0,
      attributes: { 'http.route': `/api/v1/items/${i % 50}`, 'item.index': i },
    });
  }
  return spans;
}

export function spanHex(i: number): string {
  return (0x1000_0000_0000 + i).toString(16).padStart(16, '0');
}
