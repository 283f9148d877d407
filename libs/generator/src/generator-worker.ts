// The metrics-generator's worker thread: a whole Generator (tenants, processors, registries, expiry and
// collection timers) and the RemoteWriter its collections go to, off the process's event loop, driven by
// GeneratorHost (generator-host.ts) over messages. See generator-host.ts for the protocol.

import { create } from '@bufbuild/protobuf';
import { parentPort, workerData } from 'node:worker_threads';
import { ConnectError, Logger, threadCpuSeconds } from '@stave/core';
import { PushSpansRequestSchema, ServiceGraphRequestSchema } from '@stave/proto';
import { RemoteWriter } from '@stave/remote-write';
import { Registry as PromRegistry, type Gauge } from 'prom-client';
import { Generator } from './generator';
import type { HostMessage, WorkerInit, WorkerMessage } from './generator-host';
import type { TenantOverrides } from './instance';
import { SpanRingReader } from './span-ring';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: WorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

/** Every tenant's overrides as the host last sent them (it sends them with each call). */
const overrides = new Map<string, TenantOverrides>();
const NONE: TenantOverrides = { processors: [], maxActiveSeries: 0, collectionIntervalMs: 0, disableCollection: false };
const registry = new PromRegistry();
// Log lines go to the host, which writes them with its own logger (level and format).
const logger = new Logger('debug', 'json', {}, { write: (line) => post({ type: 'log', line }) });
// Collections are encoded, compressed, queued on disk and sent from here, off the event loop that serves
// pushes. A saturated machine delays sends; the queue on disk holds what waits, within its bounds, as it
// does through a receiver's outage.
const writer = new RemoteWriter({ ...init.remoteWrite, registry, logger: logger.child({ component: 'remote-write' }) });
const generator = new Generator({
  config: init.config,
  instanceLabel: init.instanceLabel,
  // Histograms keep exemplars only for an endpoint that sends them (remote write encodes none otherwise).
  exemplars: writer.sendsExemplars,
  overrides: (tenant) => overrides.get(tenant) ?? NONE,
  appender: writer,
  registry,
  logger,
});

// Spans the host offered (span-ring.ts): drained every few milliseconds, and before each message, so a
// call the host makes after an offer sees the offered spans processed.
const ring = new SpanRingReader(init.ring);
/**
 * Poll delay while records keep coming; after an empty look it doubles up to the longest while the ring
 * stays empty. Each wake-up of the thread costs tens of µs of CPU (the timer, a turn of its event loop, a
 * context switch) whether it finds one push or a hundred: at 1 ms, under the ingest bench's load, the
 * thread woke for about every push. 5 ms is 200 wake-ups a second at most while busy; 5 ms of the ingest
 * bench's spans at 100k spans/s (~0.2 MB) is about a hundredth of the ring.
 */
const POLL_MIN_MS = 5;
const POLL_MAX_MS = 20;
let pollDelay = POLL_MIN_MS;
let polling = false;

/** Processes every record in the ring; whether there was any. */
function drainRing(): boolean {
  if (!polling) return false;
  let any = false;
  for (let r = ring.read(); r !== undefined; r = ring.read()) {
    any = true;
    if (r.overrides !== undefined) overrides.set(r.tenant, JSON.parse(r.overrides) as TenantOverrides);
    try {
      generator.pushRanges(r.tenant, r.data, r.ranges, r.count, r.bytes);
    } catch (err) {
      // The distributor validated these spans already: this is a bug or a stopping generator, not bad input.
      logger.warn('metrics-generator: offered spans not processed', { tenant: r.tenant, err: err instanceof Error ? err.message : String(err) });
    }
  }
  return any;
}

function poll(): void {
  pollDelay = drainRing() ? POLL_MIN_MS : Math.min(POLL_MAX_MS, pollDelay * 2);
  if (polling) setTimeout(poll, pollDelay);
}

function reply(id: number, run: () => unknown): void {
  Promise.resolve()
    .then(run)
    .then(
      (value) => post({ type: 'reply', id, value }),
      (err: unknown) =>
        post({
          type: 'reply',
          id,
          error: { code: err instanceof ConnectError ? err.code : undefined, message: err instanceof Error ? err.message : String(err) },
        }),
    );
}

port.on('message', (m: HostMessage) => {
  drainRing();
  switch (m.type) {
    case 'push':
      overrides.set(m.tenant, m.overrides);
      reply(m.id, () => {
        const traces: Uint8Array[] = [];
        const all = new Uint8Array(m.buffer);
        let at = 0;
        for (const n of m.lengths) traces.push(all.subarray(at, (at += n)));
        generator.pushSpans(create(PushSpansRequestSchema, { tenant: m.tenant, traces }));
        return undefined;
      });
      break;
    case 'service-graph':
      overrides.set(m.tenant, m.overrides);
      reply(m.id, () => {
        const r = generator.serviceGraph(create(ServiceGraphRequestSchema, { tenant: m.tenant }));
        return { enabled: r.enabled, windowSeconds: r.windowSeconds, edges: r.edges.map(({ $typeName: _, ...e }) => e) };
      });
      break;
    case 'metrics':
      reply(m.id, () => {
        const cpu = threadCpuSeconds();
        if (cpu !== undefined) (registry.getSingleMetric('stave_metrics_generator_thread_cpu_seconds') as Gauge).set(cpu);
        return registry.getMetricsAsJSON();
      });
      break;
    case 'stop':
      polling = false;
      // The last collection reaches the writer before it flushes and stops.
      reply(m.id, () => generator.stop().finally(() => writer.stop()));
      break;
  }
});

writer
  .start()
  .then(() => generator.start())
  .then(
    () => {
      polling = true;
      poll();
      post({ type: 'ready' });
    },
    (err: unknown) => post({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
