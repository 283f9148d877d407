// How a distributor (and the query-frontend's service graph) reaches a metrics-generator: one interface,
// over Connect/gRPC to a remote generator (every call with a deadline), or a direct call to this
// process's own (`all`).

import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import {
  MetricsGenerator,
  ServiceGraphRequestSchema,
  type PushSpansRequest,
  type PushSpansResponse,
  type ServiceGraphRequest,
  type ServiceGraphResponse,
} from '@stave/proto';
import type { GeneratorApi } from './generator-host';
import { grpcTransport } from '@stave/server';

export interface GeneratorClient {
  pushSpans(req: PushSpansRequest): Promise<PushSpansResponse>;
  /** This process's own generator on its thread: takes the traces without waiting (GeneratorApi.offer). */
  offer?(tenant: string, traces: readonly Uint8Array[]): boolean;
  /** The tenant's service-graph edges as this generator counts them. */
  serviceGraph(tenant: string): Promise<ServiceGraphResponse>;
}

export interface RemoteGeneratorClientOptions {
  /** host:port of the generator's gRPC server. */
  address: string;
  /** metrics_generator_client.remote_timeout */
  timeoutMs: number;
  maxMessageBytes: number;
}

export function remoteGeneratorClient(opts: RemoteGeneratorClientOptions): GeneratorClient {
  const transport = grpcTransport({
    baseUrl: `http://${opts.address}`,
    readMaxBytes: opts.maxMessageBytes,
    writeMaxBytes: opts.maxMessageBytes,
    defaultTimeoutMs: opts.timeoutMs,
  });
  const client = createClient(MetricsGenerator, transport);
  return { pushSpans: (req) => client.pushSpans(req), serviceGraph: (tenant) => client.serviceGraph({ tenant }) };
}

/** The Connect handlers of the MetricsGenerator service, for a gRPC router. */
export function generatorHandlers(g: GeneratorApi) {
  return { pushSpans: (req: PushSpansRequest) => g.pushSpans(req), serviceGraph: (req: ServiceGraphRequest) => g.serviceGraph(req) };
}

/**
 * This process's own generator (`all`): called directly, as the distributor calls its own ingester (going
 * through an in-process Connect transport encoded and decoded every forwarded byte once more on the event
 * loop the write path shares). On its own thread (GeneratorHost) it takes spans through `offer`: a copy
 * into a shared ring, with no message or promise per push.
 */
export function inProcessGeneratorClient(g: GeneratorApi): GeneratorClient {
  return {
    ...(g.offer ? { offer: (tenant: string, traces: readonly Uint8Array[]) => g.offer!(tenant, traces) } : {}),
    pushSpans: async (req) => g.pushSpans(req),
    serviceGraph: async (tenant) => g.serviceGraph(create(ServiceGraphRequestSchema, { tenant })),
  };
}
