// The receivers the distributor runs: exactly those listed under distributor.receivers, as in Tempo.
// Message size caps follow server.grpc_server_max_recv_msg_size.

import {
  JaegerGrpcReceiver,
  JaegerThriftHttpReceiver,
  JaegerUdpReceiver,
  OtlpGrpcReceiver,
  OtlpHttpReceiver,
  ZipkinReceiver,
  type TracePusher,
} from '@stave/receivers';
import type { AppContext, Service } from '@stave/server';

export function receiverServices(ctx: AppContext, pusher: TracePusher): Service[] {
  const r = ctx.config.distributor.receivers;
  const logger = ctx.logger.child({ component: 'distributor' });
  const maxBytes = ctx.config.server.grpc_server_max_recv_msg_size;
  const out: Service[] = [];
  const otlp = r.otlp?.protocols;
  if (otlp?.grpc) out.push(new OtlpGrpcReceiver({ pusher, logger, endpoint: otlp.grpc.endpoint, maxRecvBytes: maxBytes }));
  if (otlp?.http) out.push(new OtlpHttpReceiver({ pusher, logger, endpoint: otlp.http.endpoint, maxRequestBytes: maxBytes, maxDecompressedBytes: maxBytes }));
  const jaeger = r.jaeger?.protocols;
  if (jaeger?.grpc) out.push(new JaegerGrpcReceiver({ pusher, logger, endpoint: jaeger.grpc.endpoint, maxRecvBytes: maxBytes }));
  if (jaeger?.thrift_http) out.push(new JaegerThriftHttpReceiver({ pusher, logger, endpoint: jaeger.thrift_http.endpoint, maxRequestBytes: maxBytes }));
  if (jaeger?.thrift_compact) {
    out.push(new JaegerUdpReceiver({ protocol: 'compact', pusher, logger, registry: ctx.registry, endpoint: jaeger.thrift_compact.endpoint }));
  }
  if (jaeger?.thrift_binary) {
    out.push(new JaegerUdpReceiver({ protocol: 'binary', pusher, logger, registry: ctx.registry, endpoint: jaeger.thrift_binary.endpoint }));
  }
  if (r.zipkin) out.push(new ZipkinReceiver({ pusher, logger, endpoint: r.zipkin.endpoint, maxRequestBytes: maxBytes }));
  return out;
}
