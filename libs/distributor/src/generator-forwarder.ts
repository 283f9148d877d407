// Forwarding spans to metrics-generators, off the write path. For a tenant whose overrides enable
// processors, the distributor hands each accepted push here: every trace goes to the generator that owns
// its token (tenant + trace ID, the ingesters' token) in the metrics-generator ring, so both sides of an
// edge meet in one generator. Each generator has its own bounded queue and a few senders; `send` only
// enqueues and never throws or waits. A full queue drops the push, a failed or timed-out call is not
// retried: both are counted in tempo_distributor_metrics_generator_pushes_failures_total{metrics_generator}
// (label: the generator's address; empty when the ring has no healthy generator). This process's own
// generator (`-target=all`) has a bounded queue of its own that takes spans without waiting (`offer`): its
// pushes go straight there, and a refusal (full) is counted the same way.

import { create } from '@bufbuild/protobuf';
import type { TraceSplit } from '@stave/model';
import { PushSpansRequestSchema, type PushSpansRequest } from '@stave/proto';
import { RingUnavailableError, tokenFor, type InstanceDesc, type ReadRing } from '@stave/ring';
import { BasicService, type Logger } from '@stave/server';
import { Counter, type Registry } from 'prom-client';

export interface GeneratorPushClient {
  pushSpans(req: PushSpansRequest): Promise<unknown>;
  /**
   * Takes the traces at once, without waiting, or refuses them (false: its own bounded queue is full):
   * this process's own generator on its thread. Such a client gets no queue here.
   */
  offer?(tenant: string, traces: readonly Uint8Array[]): boolean;
}

export interface GeneratorForwarderOptions {
  ring: ReadRing;
  /** The client for a generator (remote, or in-process in `all`); each call has its own deadline. */
  client: (instance: InstanceDesc) => GeneratorPushClient;
  /** Pushes waiting per generator (Tempo's forwarder queue_size default, 100). */
  queueSize?: number;
  /** Bytes waiting per generator. */
  queueBytes?: number;
  /** Calls in flight per generator (Tempo's forwarder workers default, 2). */
  concurrency?: number;
  logger: Logger;
  registry: Registry;
}

const DEFAULT_QUEUE_SIZE = 100;
const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 2;
/** Queued pushes of one tenant merged into one call, up to this many bytes. */
const MAX_CALL_BYTES = 4 * 1024 * 1024;

interface Pending {
  readonly tenant: string;
  readonly traces: Uint8Array[];
  readonly bytes: number;
}

/** One push's traces for one generator. */
interface Group {
  readonly instance: InstanceDesc;
  readonly traces: Uint8Array[];
  bytes: number;
}

class GeneratorQueue {
  readonly items: Pending[] = [];
  bytes = 0;
  inFlight = 0;
  constructor(
    readonly instance: InstanceDesc,
    readonly client: GeneratorPushClient,
  ) {}
}

export class GeneratorForwarder extends BasicService {
  private readonly queues = new Map<string, GeneratorQueue>();
  private readonly pushes: Counter<'metrics_generator'>;
  private readonly failures: Counter<'metrics_generator'>;
  private readonly log: Logger;
  private readonly idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly opts: GeneratorForwarderOptions) {
    super('metrics-generator-forwarder');
    this.log = opts.logger.child({ component: 'metrics-generator-forwarder' });
    const reg = { registers: [opts.registry] };
    this.pushes = new Counter({
      name: 'tempo_distributor_metrics_generator_pushes_total',
      help: 'Span pushes sent to metrics-generators.',
      labelNames: ['metrics_generator'],
      ...reg,
    });
    this.failures = new Counter({
      name: 'tempo_distributor_metrics_generator_pushes_failures_total',
      help: 'Span pushes to metrics-generators that failed or were dropped (queue full, no healthy generator).',
      labelNames: ['metrics_generator'],
      ...reg,
    });
  }

  /**
   * Queues the traces for their generators. Never throws, never waits. True when a queue here keeps views
   * of the traces' bytes until its call ends; false when every generator took a copy at once (`offer`) or
   * nothing was taken, so the caller may reuse the bytes' memory.
   */
  send(tenant: string, traces: readonly TraceSplit[]): boolean {
    if (this.stopped || traces.length === 0) return false;
    const byInstance = new Map<string, Group>();
    for (const t of traces) {
      const instance = this.owner(tenant, t.id);
      if (!instance) {
        this.failures.inc({ metrics_generator: '' });
        continue;
      }
      let g = byInstance.get(instance.id);
      if (!g) byInstance.set(instance.id, (g = { instance, traces: [], bytes: 0 }));
      g.traces.push(t.bytes);
      g.bytes += t.bytes.length;
    }
    let kept = false;
    for (const g of byInstance.values()) if (this.forward(tenant, g)) kept = true;
    return kept;
  }

  /** The generator that owns the trace's token, or undefined when the ring has no healthy one. */
  private owner(tenant: string, id: Uint8Array): InstanceDesc | undefined {
    try {
      return this.opts.ring.get(tokenFor(tenant, id)).instances[0];
    } catch (err) {
      if (!(err instanceof RingUnavailableError)) throw err;
      return undefined;
    }
  }

  /** True when the group's views were queued (kept until their call ends). */
  private forward(tenant: string, g: Group): boolean {
    const client = this.opts.client(g.instance);
    if (client.offer) {
      this.pushes.inc({ metrics_generator: g.instance.addr });
      if (!client.offer(tenant, g.traces)) this.failures.inc({ metrics_generator: g.instance.addr });
      return false;
    }
    return this.enqueue(g.instance, client, { tenant, traces: g.traces, bytes: g.bytes });
  }

  private enqueue(instance: InstanceDesc, client: GeneratorPushClient, p: Pending): boolean {
    let q = this.queues.get(instance.addr);
    if (!q) this.queues.set(instance.addr, (q = new GeneratorQueue(instance, client)));
    if (q.items.length >= (this.opts.queueSize ?? DEFAULT_QUEUE_SIZE) || q.bytes + p.bytes > (this.opts.queueBytes ?? DEFAULT_QUEUE_BYTES)) {
      this.failures.inc({ metrics_generator: instance.addr });
      return false;
    }
    q.items.push(p);
    q.bytes += p.bytes;
    this.drain(q);
    return true;
  }

  private drain(q: GeneratorQueue): void {
    while (q.inFlight < (this.opts.concurrency ?? DEFAULT_CONCURRENCY) && q.items.length > 0) {
      // One call per tenant: the first waiting push, with the next ones of the same tenant merged in.
      const first = q.items.shift()!;
      const traces = [...first.traces];
      let bytes = first.bytes;
      while (q.items.length > 0 && q.items[0]!.tenant === first.tenant && bytes + q.items[0]!.bytes <= MAX_CALL_BYTES) {
        const next = q.items.shift()!;
        traces.push(...next.traces);
        bytes += next.bytes;
      }
      q.bytes -= bytes;
      q.inFlight++;
      const addr = q.instance.addr;
      this.pushes.inc({ metrics_generator: addr });
      q.client
        .pushSpans(create(PushSpansRequestSchema, { tenant: first.tenant, traces }))
        .catch((err: unknown) => {
          this.failures.inc({ metrics_generator: addr });
          this.log.warn('push to metrics-generator failed', { metrics_generator: addr, err: err instanceof Error ? err.message : String(err) });
        })
        .finally(() => {
          q.inFlight--;
          this.drain(q);
          // An idle queue is forgotten, so generators that left the ring leave nothing behind.
          if (q.inFlight === 0 && q.items.length === 0 && this.queues.get(addr) === q) this.queues.delete(addr);
          this.notifyIdle();
        });
    }
  }

  private get busy(): boolean {
    for (const q of this.queues.values()) if (q.inFlight > 0 || q.items.length > 0) return true;
    return false;
  }

  private notifyIdle(): void {
    if (this.busy) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once nothing is queued or in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking pushes, drops what waits, and lets the calls in flight finish (each has a deadline). */
  protected override async stopping(): Promise<void> {
    this.stopped = true;
    for (const q of this.queues.values()) {
      q.items.length = 0;
      q.bytes = 0;
    }
    await this.idle();
  }
}
