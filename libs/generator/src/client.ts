// How a distributor reaches a metrics-generator: one interface, over Connect/gRPC to a remote generator
// (every call with a deadline), or on an in-process transport to this process's own (`all`): the same
// MetricsGenerator service and codec, without the sockets.

import { createClient, createRouterTransport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { MetricsGenerator, type PushSpansRequest, type PushSpansResponse, type ServiceGraphRequest, type ServiceGraphResponse } from '@stave/proto';
import type { Generator } from './generator';

export interface GeneratorClient {
  pushSpans(req: PushSpansRequest): Promise<PushSpansResponse>;
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
  const transport = createGrpcTransport({
    baseUrl: `http://${opts.address}`,
    readMaxBytes: opts.maxMessageBytes,
    writeMaxBytes: opts.maxMessageBytes,
    defaultTimeoutMs: opts.timeoutMs,
  });
  const client = createClient(MetricsGenerator, transport);
  return { pushSpans: (req) => client.pushSpans(req), serviceGraph: (tenant) => client.serviceGraph({ tenant }) };
}

/** The Connect handlers of the MetricsGenerator service, for a gRPC router. */
export function generatorHandlers(g: Generator) {
  return { pushSpans: (req: PushSpansRequest) => g.pushSpans(req), serviceGraph: (req: ServiceGraphRequest) => g.serviceGraph(req) };
}

export function inProcessGeneratorClient(g: Generator, timeoutMs: number): GeneratorClient {
  const transport = createRouterTransport(({ service }) => service(MetricsGenerator, generatorHandlers(g)), { transport: { defaultTimeoutMs: timeoutMs } });
  const client = createClient(MetricsGenerator, transport);
  return { pushSpans: (req) => client.pushSpans(req), serviceGraph: (tenant) => client.serviceGraph({ tenant }) };
}
