// The chaos load generator: a seeded stream of small OTLP/HTTP protobuf pushes from `concurrency` workers
// that runs until stopped, and a ledger of every span it sent and every span a 2xx acknowledged, per
// trace. Some traces continue over later requests (a trace's spans arrive in several pushes, as from a
// collector), so reads must combine pushes. The seed fixes trace IDs, span counts and which traces
// continue; the interleaving with faults is the test's.

import http from 'node:http';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { httpRequest, keepAliveAgent, Prng } from '@stave/bench';
import { ExportTraceServiceRequestSchema, ExportTraceServiceResponseSchema, SpanSchema, Span_SpanKind, type Span } from '@stave/proto';

export interface Target {
  host: string;
  port: number;
}

export interface TraceRecord {
  /** Span IDs (hex) some request carried: what a read may return. */
  sent: Set<string>;
  /** Span IDs (hex) a 2xx acknowledged: what a read must return. */
  acked: Set<string>;
}

/** Every trace the generator touched, by trace ID (hex). */
export class SpanLedger {
  readonly traces = new Map<string, TraceRecord>();

  record(trace: string): TraceRecord {
    let r = this.traces.get(trace);
    if (!r) this.traces.set(trace, (r = { sent: new Set(), acked: new Set() }));
    return r;
  }

  /** Traces with at least one acknowledged span. */
  ackedTraces(): Array<[string, TraceRecord]> {
    return [...this.traces].filter(([, r]) => r.acked.size > 0);
  }

  ackedSpans(): number {
    let n = 0;
    for (const r of this.traces.values()) n += r.acked.size;
    return n;
  }
}

export interface Outcome {
  /** Date.now() when the answer (or the failure) came. */
  at: number;
  ms: number;
  /** HTTP status, or 0 for a network error / timeout. */
  status: number;
  /** `HTTP 503`, `ECONNREFUSED`, `TIMEOUT`, ... for failures. */
  kind?: string;
  /** The body of a non-2xx answer (first 300 characters). */
  message?: string;
}

export interface ChaosLoadOptions {
  seed: number;
  targets: Target[];
  tenant?: string;
  concurrency?: number;
  tracesPerRequest?: number;
  /** Spans per trace per request, inclusive. */
  spansPerTrace?: [number, number];
  /** Chance that a trace slot continues an earlier acknowledged trace instead of starting one. */
  continueChance?: number;
  /** Pause of each worker between requests (sets the rate). */
  pauseMs?: number;
  timeoutMs?: number;
}

export class ChaosLoad {
  readonly ledger = new SpanLedger();
  readonly outcomes: Outcome[] = [];
  /** Receivers pushed to, round-robin; a scenario may change the list while the load runs. */
  targets: Target[];
  private readonly rng: Prng;
  private readonly agent: http.Agent;
  private running = false;
  private workers: Array<Promise<void>> = [];
  private spanCounter = 0;
  private requestCounter = 0;
  private readonly openTraces: string[] = [];

  constructor(private readonly opts: ChaosLoadOptions) {
    this.rng = new Prng(opts.seed);
    this.targets = opts.targets;
    this.agent = keepAliveAgent(opts.concurrency ?? 2);
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.workers = Array.from({ length: this.opts.concurrency ?? 2 }, () => this.worker());
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    this.workers = [];
    // Idle keep-alive sockets would outlive the test; the agent opens new ones if the load goes on.
    this.agent.destroy();
  }

  /** Sends `n` requests one after another (outside `start`/`stop`), for a fixed amount of data. */
  async send(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.pushOne();
  }

  between(t0: number, t1 = Infinity): Outcome[] {
    return this.outcomes.filter((o) => o.at >= t0 && o.at <= t1);
  }

  /** Outcomes at or after `t0` as `{ ok, failed, kinds }`. */
  summary(t0 = 0, t1 = Infinity): { ok: number; failed: number; kinds: Record<string, number> } {
    const kinds: Record<string, number> = {};
    let ok = 0;
    for (const o of this.between(t0, t1)) {
      if (o.status >= 200 && o.status < 300) ok++;
      else kinds[o.kind!] = (kinds[o.kind!] ?? 0) + 1;
    }
    return { ok, failed: Object.values(kinds).reduce((a, b) => a + b, 0), kinds };
  }

  /** The distinct messages of failed requests at or after `t0`, most frequent first, with their counts. */
  failureMessages(t0 = 0, max = 3): string[] {
    const counts = new Map<string, number>();
    for (const o of this.between(t0)) {
      if (o.kind === undefined) continue;
      const key = `${o.kind}: ${o.message ?? ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, max)
      .map(([m, n]) => `${n}× ${m}`);
  }

  /** Waits until `n` more requests were acknowledged (bounded by `timeoutMs`). */
  async untilAcked(n: number, timeoutMs = 30_000): Promise<void> {
    const start = this.summary().ok;
    const deadline = Date.now() + timeoutMs;
    while (this.summary().ok < start + n) {
      if (Date.now() > deadline) throw new Error(`load: fewer than ${n} acknowledgements in ${timeoutMs} ms (${JSON.stringify(this.summary().kinds)})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async worker(): Promise<void> {
    while (this.running) {
      await this.pushOne();
      if (this.opts.pauseMs) await new Promise((r) => setTimeout(r, this.opts.pauseMs));
    }
  }

  private nextSpanId(): Uint8Array {
    const id = new Uint8Array(8);
    const v = new DataView(id.buffer);
    v.setUint32(0, this.opts.seed >>> 0);
    v.setUint32(4, ++this.spanCounter);
    return id;
  }

  private build(): { body: Buffer; spans: Array<{ trace: string; span: string }> } {
    const [lo, hi] = this.opts.spansPerTrace ?? [1, 5];
    const now = BigInt(Date.now()) * 1_000_000n;
    const spans: Span[] = [];
    const ids: Array<{ trace: string; span: string }> = [];
    const used = new Set<string>();
    for (let t = 0; t < (this.opts.tracesPerRequest ?? 4); t++) {
      let traceHex: string;
      const open = this.openTraces.filter((x) => !used.has(x));
      if (open.length > 0 && this.rng.chance(this.opts.continueChance ?? 0.2)) traceHex = this.rng.pick(open);
      else {
        traceHex = Buffer.from(this.rng.bytes(new Uint8Array(16))).toString('hex');
        this.openTraces.push(traceHex);
        if (this.openTraces.length > 64) this.openTraces.shift();
      }
      used.add(traceHex);
      const traceId = Buffer.from(traceHex, 'hex');
      const n = this.rng.int(lo, hi);
      for (let s = 0; s < n; s++) {
        const spanId = this.nextSpanId();
        ids.push({ trace: traceHex, span: Buffer.from(spanId).toString('hex') });
        spans.push(
          create(SpanSchema, {
            traceId,
            spanId,
            name: `chaos-op-${s}`,
            kind: Span_SpanKind.INTERNAL,
            startTimeUnixNano: now,
            endTimeUnixNano: now + 1_000_000n,
          }),
        );
      }
    }
    const req = create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'chaos' } } }] },
          scopeSpans: [{ scope: { name: 'chaos-load' }, spans }],
        },
      ],
    });
    return { body: Buffer.from(toBinary(ExportTraceServiceRequestSchema, req)), spans: ids };
  }

  private async pushOne(): Promise<void> {
    const targets = this.targets;
    if (targets.length === 0) throw new Error('load: no target to push to');
    const target = targets[this.requestCounter++ % targets.length]!;
    const { body, spans } = this.build();
    for (const s of spans) this.ledger.record(s.trace).sent.add(s.span);
    const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
    if (this.opts.tenant) headers['x-scope-orgid'] = this.opts.tenant;
    const t0 = performance.now();
    const res = await httpRequest(this.agent, {
      host: target.host,
      port: target.port,
      method: 'POST',
      path: '/v1/traces',
      headers,
      body,
      timeoutMs: this.opts.timeoutMs ?? 5000,
    });
    const ms = performance.now() - t0;
    if (res.status >= 200 && res.status < 300) {
      const rejected = res.body.length ? Number(fromBinary(ExportTraceServiceResponseSchema, res.body).partialSuccess?.rejectedSpans ?? 0n) : 0;
      // A partial success does not say which spans were kept: none of this request counts as acknowledged.
      if (rejected === 0) for (const s of spans) this.ledger.record(s.trace).acked.add(s.span);
      this.outcomes.push({ at: Date.now(), ms, status: res.status });
      return;
    }
    const kind = res.status === 0 ? (res.error ?? 'network error') : `HTTP ${res.status}`;
    this.outcomes.push({ at: Date.now(), ms, status: res.status, kind, message: res.body.toString('utf8').slice(0, 300) });
  }
}
