// The metrics-generator on a worker thread. Decoding spans and updating the processors costs several times
// what the write path spends on a span (bench/results/metrics-generator.md); in `-target=all` that work
// shared the event loop with the distributor and ingester and tripled push latency. GeneratorHost runs the
// Generator (generator-worker.ts) on its own thread and answers the same calls (PushSpans, ServiceGraph),
// each a message round trip. Remote write (its on-disk queues and senders) runs on the same thread: a
// collection is encoded, compressed, queued and sent there, never on the event loop that serves pushes
// (there it cost ~0.5 µs per span of the ingest bench: snappy in JS, cursor writes, fetch, queue reads).
// The thread's log lines come to this logger, and its metrics (tempo_metrics_generator_*, remote write's
// prometheus_remote_storage_* and stave_remote_write_*) are read from it when /metrics is scraped.
//
// Messages, host → worker: push {id, tenant, overrides, buffer (transferred), lengths}, service-graph {id,
// tenant, overrides}, metrics {id}, stop {id}. Worker → host: ready, failed {message}, reply {id, value |
// error {code, message}}, log {line}. A tenant's overrides travel with each call, so reloads of the
// per-tenant file reach the thread without a channel of their own.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { create } from '@bufbuild/protobuf';
import { BasicService, Code, ConnectError, State, type LogLevel } from '@stave/core';
import {
  PushSpansResponseSchema,
  ServiceGraphResponseSchema,
  type PushSpansRequest,
  type PushSpansResponse,
  type ServiceGraphRequest,
  type ServiceGraphResponse,
} from '@stave/proto';
import { RemoteWriteMetrics, type RemoteWriterOptions } from '@stave/remote-write';
import { Registry as PromRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { GeneratorOptions } from './generator';
import type { GeneratorConfig, TenantOverrides } from './instance';
import { GeneratorMetrics } from './metrics';
import type { ServiceGraphViewResult } from './processors/service-graph-view';
import { createSpanRing, SpanRingWriter, type SpanRingBuffers } from './span-ring';

/** What the Connect handlers and the clients need of a generator, in this thread or another. */
export interface GeneratorApi {
  pushSpans(req: PushSpansRequest): PushSpansResponse | Promise<PushSpansResponse>;
  serviceGraph(req: ServiceGraphRequest): ServiceGraphResponse | Promise<ServiceGraphResponse>;
  /**
   * Hands a tenant's traces to the generator without waiting (this process's own generator on its
   * thread): true when they were taken, false when they were not (its bounded queue is full, or it is not
   * running). Absent where only `pushSpans` exists.
   */
  offer?(tenant: string, traces: readonly Uint8Array[]): boolean;
}

export interface WorkerInit {
  config: GeneratorConfig;
  instanceLabel?: string;
  /** The remote writer the thread runs (plain data: the thread adds its own registry and logger). */
  remoteWrite: RemoteWriteThreadOptions;
  /** The ring that `offer` writes to (span-ring.ts). */
  ring: SpanRingBuffers;
}

export type HostMessage =
  | { type: 'push'; id: number; tenant: string; overrides: TenantOverrides; buffer: ArrayBuffer; lengths: number[] }
  | { type: 'service-graph'; id: number; tenant: string; overrides: TenantOverrides }
  | { type: 'metrics'; id: number }
  | { type: 'stop'; id: number };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; value?: unknown; error?: { code?: Code; message: string } }
  | { type: 'log'; line: string };

/** The compiled worker script; absent when running from the TypeScript sources (unit tests). */
export const GENERATOR_WORKER_SCRIPT = path.join(__dirname, 'generator-worker.js');

export function generatorWorkerAvailable(): boolean {
  return existsSync(GENERATOR_WORKER_SCRIPT);
}

/** RemoteWriter's options that cross to the thread: everything but the registry, logger, clock and callbacks. */
export type RemoteWriteThreadOptions = Omit<RemoteWriterOptions, 'registry' | 'logger' | 'now' | 'tenantHeaders'>;

/** Calls waiting for the thread at most (the forwarders above bound it already; this is a backstop). */
const MAX_PENDING = 10_000;
/**
 * Bytes of spans `offer` keeps waiting for the thread (span-ring.ts): about 55,000 spans of the ingest
 * bench, a second or more of a saturated 2-core machine's pushes, more than the forwarder's queue of 100
 * pushes held.
 */
export const DEFAULT_RING_BYTES = 16 * 1024 * 1024;

/** How long `offer` uses a tenant's overrides before it reads them again (reloads take effect within it). */
const OVERRIDES_RECHECK_MS = 1000;

/** A short string that changes when a tenant's overrides do (what the ring compares). */
function overridesKey(o: TenantOverrides): string {
  return `${o.processors.join(',')}|${o.maxActiveSeries}|${o.collectionIntervalMs}|${o.disableCollection ? 1 : 0}`;
}

function plainOverrides(o: TenantOverrides): TenantOverrides {
  return {
    processors: [...o.processors],
    maxActiveSeries: o.maxActiveSeries,
    collectionIntervalMs: o.collectionIntervalMs,
    disableCollection: o.disableCollection,
  };
}

export class GeneratorHost extends BasicService implements GeneratorApi {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private metricsCache: { at: number; json: Promise<MetricObjectWithValues<MetricValue<string>>[]> } | undefined;
  private ring: SpanRingWriter | undefined;
  /** Each tenant's overrides as `offer` last read them (read again after OVERRIDES_RECHECK_MS). */
  private readonly offerOverrides = new Map<string, { at: number; key: string; json: () => string }>();

  constructor(
    private readonly opts: Omit<GeneratorOptions, 'now' | 'timers' | 'appender' | 'exemplars'> & {
      /** Where the thread's collections go: a RemoteWriter on the thread, built from these. */
      remoteWrite: RemoteWriteThreadOptions;
      /**
       * The write path shares this process (`-target=all`): the ring's pages are touched at start, so that
       * pushes do not fault them in (createSpanRing).
       */
      sharesWritePath?: boolean;
      /** Bytes of spans `offer` keeps waiting for the thread (default DEFAULT_RING_BYTES). */
      ringBytes?: number;
    },
  ) {
    super('metrics-generator');
    this.registerMetricProxies(opts.registry);
  }

  /**
   * Each of the thread's metrics, registered here under its name, reads its values from the thread at
   * scrape time (one round trip per scrape, shared by all of them).
   */
  private registerMetricProxies(registry: Registry): void {
    const names = new PromRegistry();
    new GeneratorMetrics(names);
    new RemoteWriteMetrics(names, { queueBytes: () => [], pending: () => [] });
    for (const m of names.getMetricsAsArray()) {
      const { name, help } = m as unknown as { name: string; help: string };
      const type = (m as unknown as { type: string }).type;
      registry.registerMetric({
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => {
          const all = await this.threadMetrics();
          return all.find((x) => x.name === name) ?? { name, help, type, aggregator: 'sum', values: [] };
        },
        reset: () => undefined,
      } as unknown as Parameters<Registry['registerMetric']>[0]);
    }
  }

  private threadMetrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    if (this.state !== State.Running) return Promise.resolve([]);
    const now = Date.now();
    if (!this.metricsCache || now - this.metricsCache.at > 100) {
      this.metricsCache = { at: now, json: this.call({ type: 'metrics', id: 0 }).catch(() => []) as Promise<MetricObjectWithValues<MetricValue<string>>[]> };
    }
    return this.metricsCache.json;
  }

  protected override async starting(): Promise<void> {
    // Its pages are touched up front only where the distributor shares the process and offers every push;
    // elsewhere nothing offers (remote distributors call pushSpans) and the untouched ring takes no memory.
    const ring = createSpanRing(this.opts.ringBytes ?? DEFAULT_RING_BYTES, { prefault: this.opts.sharesWritePath ?? false });
    const init: WorkerInit = {
      config: this.opts.config,
      instanceLabel: this.opts.instanceLabel,
      remoteWrite: this.opts.remoteWrite,
      ring,
    };
    this.ring = new SpanRingWriter(ring);
    const w = new Worker(GENERATOR_WORKER_SCRIPT, { workerData: init });
    this.worker = w;
    await new Promise<void>((resolve, reject) => {
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'failed') reject(new Error(`metrics-generator thread failed to start: ${m.message}`));
        else this.onMessage(m);
      });
      w.once('error', (err) => {
        reject(err);
        this.onThreadGone(err);
      });
      w.once('exit', (code) => {
        const err = new Error(`metrics-generator thread exited (code ${code})`);
        reject(err);
        this.onThreadGone(err);
      });
    });
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'log') this.relayLog(m.line);
    else if (m.type === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new ConnectError(m.error.message, m.error.code ?? Code.Internal));
      else p.resolve(m.value);
    }
  }

  private relayLog(line: string): void {
    try {
      const { ts: _ts, level, msg, ...fields } = JSON.parse(line) as { ts: string; level: LogLevel; msg: string } & Record<string, unknown>;
      this.opts.logger.log(level, msg, fields);
    } catch {
      this.opts.logger.warn('metrics-generator thread wrote a line that is not a log entry', { line: line.slice(0, 200) });
    }
  }

  private onThreadGone(err: Error): void {
    for (const p of this.pending.values()) p.reject(new ConnectError(err.message, Code.Unavailable));
    this.pending.clear();
    // Only a thread lost while running is a failure; a stop ends it on purpose.
    if (this.state === State.Running) this.fail(err);
  }

  private call(m: HostMessage, transfer?: ArrayBuffer[]): Promise<unknown> {
    const w = this.worker;
    if (!w || (this.state !== State.Running && m.type !== 'stop')) {
      return Promise.reject(new ConnectError(`metrics-generator is ${this.state}, not running`, Code.Unavailable));
    }
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new ConnectError(`metrics-generator has ${MAX_PENDING} calls waiting`, Code.ResourceExhausted));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...m, id }, transfer);
    });
  }

  async pushSpans(req: PushSpansRequest): Promise<PushSpansResponse> {
    if (req.tenant === '') throw new ConnectError('PushSpans: tenant is empty', Code.InvalidArgument);
    // One buffer for all traces, moved (not copied) to the thread.
    let size = 0;
    for (const t of req.traces) size += t.length;
    const buffer = new ArrayBuffer(size);
    const all = new Uint8Array(buffer);
    let at = 0;
    for (const t of req.traces) {
      all.set(t, at);
      at += t.length;
    }
    const lengths = req.traces.map((t) => t.length);
    await this.call({ type: 'push', id: 0, tenant: req.tenant, overrides: this.opts.overrides(req.tenant), buffer, lengths }, [buffer]);
    return create(PushSpansResponseSchema, {});
  }

  /**
   * Copies the traces into the ring the thread drains (span-ring.ts) and returns: no message, no reply,
   * no promise. False when the ring is full or the generator is not running (the caller counts the drop).
   */
  offer(tenant: string, traces: readonly Uint8Array[]): boolean {
    if (this.state !== State.Running || !this.ring || tenant === '') return false;
    const now = Date.now();
    let o = this.offerOverrides.get(tenant);
    if (!o || now - o.at > OVERRIDES_RECHECK_MS) {
      const overrides = this.opts.overrides(tenant);
      o = { at: now, key: overridesKey(overrides), json: () => JSON.stringify(plainOverrides(overrides)) };
      if (this.offerOverrides.size >= 10_000) this.offerOverrides.clear();
      this.offerOverrides.set(tenant, o);
    }
    return this.ring.write(tenant, traces, o.key, o.json);
  }

  async serviceGraph(req: ServiceGraphRequest): Promise<ServiceGraphResponse> {
    if (req.tenant === '') throw new ConnectError('ServiceGraph: tenant is empty', Code.InvalidArgument);
    const r = (await this.call({ type: 'service-graph', id: 0, tenant: req.tenant, overrides: this.opts.overrides(req.tenant) })) as {
      enabled: boolean;
    } & ServiceGraphViewResult;
    return create(ServiceGraphResponseSchema, r);
  }

  /**
   * The thread collects each tenant once more, gives remote write its flush deadline (what is left stays
   * queued on disk), then ends.
   */
  protected override async stopping(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    await this.call({ type: 'stop', id: 0 }).catch((err: unknown) =>
      this.opts.logger.warn('metrics-generator thread did not stop cleanly', { err: String(err) }),
    );
    await w.terminate();
  }
}
