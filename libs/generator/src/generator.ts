// The metrics-generator: spans forwarded by distributors, per tenant, into the tenant's processors; every
// collection interval each tenant's registry hands its samples to the SampleAppender (remote write).

import { create } from '@bufbuild/protobuf';
import { BasicService, Code, ConnectError, State, type Logger } from '@stave/core';
import {
  PushSpansResponseSchema,
  ServiceGraphResponseSchema,
  type PushSpansRequest,
  type PushSpansResponse,
  type ServiceGraphRequest,
  type ServiceGraphResponse,
} from '@stave/proto';
import type { Registry as PromRegistry } from 'prom-client';
import type { SampleAppender } from '@stave/remote-write';
import { TenantInstance, type GeneratorConfig, type TenantOverrides } from './instance';
import { GeneratorMetrics } from './metrics';
import { SERVICE_GRAPHS } from './processors/processor';
import type { ServiceGraphsProcessor } from './processors/service-graphs';
import { SpanBatch } from './spans';

export interface GeneratorOptions {
  config: GeneratorConfig;
  overrides: (tenant: string) => TenantOverrides;
  appender: SampleAppender;
  registry: PromRegistry;
  logger: Logger;
  /** The `__metrics_gen_instance` label of every series (default: the host name, as Tempo). */
  instanceLabel?: string;
  /** Whether the registries' histograms keep exemplars (default true; see RegistryOptions.exemplars). */
  exemplars?: boolean;
  now?: () => number;
  /** false in tests that drive collection and expiry by hand. */
  timers?: boolean;
}

export class Generator extends BasicService {
  private readonly instances = new Map<string, TenantInstance>();
  private readonly metrics: GeneratorMetrics;
  private readonly log: Logger;
  /** The spans of the call being processed (reused: calls are processed one at a time, synchronously). */
  private readonly batch = new SpanBatch();

  constructor(private readonly opts: GeneratorOptions) {
    super('metrics-generator');
    this.metrics = new GeneratorMetrics(opts.registry);
    this.log = opts.logger.child({ component: 'metrics-generator' });
  }

  /** The tenant's instance, if it has received spans. */
  instance(tenant: string): TenantInstance | undefined {
    return this.instances.get(tenant);
  }

  pushSpans(req: PushSpansRequest): PushSpansResponse {
    this.checkPush(req.tenant);
    try {
      this.batch.decode(req.traces);
    } catch (err) {
      throw invalidTraces(err);
    }
    let bytes = 0;
    for (const t of req.traces) bytes += t.length;
    this.instanceFor(req.tenant).pushSpans(this.batch, bytes);
    return create(PushSpansResponseSchema, {});
  }

  /**
   * pushSpans() of the `count` traces buf[ranges[2i], ranges[2i + 1]) (`bytes` of them): a span ring
   * record, without a request object or a view per trace.
   */
  pushRanges(tenant: string, buf: Uint8Array, ranges: Int32Array, count: number, bytes: number): void {
    this.checkPush(tenant);
    try {
      this.batch.decodeRanges(buf, ranges, count);
    } catch (err) {
      throw invalidTraces(err);
    }
    this.instanceFor(tenant).pushSpans(this.batch, bytes);
  }

  private checkPush(tenant: string): void {
    if (this.state !== State.Running) throw new ConnectError(`metrics-generator is ${this.state}, not running`, Code.Unavailable);
    if (tenant === '') throw new ConnectError('PushSpans: tenant is empty', Code.InvalidArgument);
  }

  /**
   * The tenant's service-graph edges as this generator counts them. `enabled` follows the tenant's
   * overrides; a tenant that sent nothing here yet has no edges.
   */
  serviceGraph(req: ServiceGraphRequest): ServiceGraphResponse {
    if (this.state !== State.Running) throw new ConnectError(`metrics-generator is ${this.state}, not running`, Code.Unavailable);
    if (req.tenant === '') throw new ConnectError('ServiceGraph: tenant is empty', Code.InvalidArgument);
    const enabled = this.opts.overrides(req.tenant).processors.includes(SERVICE_GRAPHS);
    const inst = this.instances.get(req.tenant);
    inst?.updateProcessors();
    const p = inst?.processor(SERVICE_GRAPHS) as ServiceGraphsProcessor | undefined;
    const graph = enabled && p ? p.serviceGraph() : { windowSeconds: 0, edges: [] };
    return create(ServiceGraphResponseSchema, { enabled, windowSeconds: graph.windowSeconds, edges: graph.edges });
  }

  private instanceFor(tenant: string): TenantInstance {
    let inst = this.instances.get(tenant);
    if (!inst) {
      inst = new TenantInstance({
        tenant,
        config: this.opts.config,
        overrides: this.opts.overrides,
        appender: this.opts.appender,
        metrics: this.metrics,
        logger: this.log.child({ tenant }),
        instanceLabel: this.opts.instanceLabel,
        exemplars: this.opts.exemplars,
        now: this.opts.now,
        timers: this.opts.timers,
      });
      this.instances.set(tenant, inst);
    }
    return inst;
  }

  protected override async stopping(): Promise<void> {
    for (const inst of this.instances.values()) inst.shutdown();
    this.instances.clear();
  }
}

function invalidTraces(err: unknown): ConnectError {
  return new ConnectError(`PushSpans: traces are not valid OTLP TracesData: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
}
