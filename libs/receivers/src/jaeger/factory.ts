// Builds the Jaeger receivers a config lists, in Tempo's shape
// (distributor.receivers.jaeger.protocols.{grpc,thrift_http,thrift_compact,thrift_binary}.endpoint):
// a protocol runs only when it is listed, as in Tempo.

import type { Registry } from 'prom-client';
import type { Logger } from '@stave/server';
import type { TracePusher } from '../pusher';
import { JaegerGrpcReceiver } from './grpc-receiver';
import { JaegerThriftHttpReceiver } from './thrift-http-receiver';
import { JaegerUdpReceiver } from './udp-receiver';

interface EndpointConfig {
  endpoint: string;
}

export interface JaegerReceiversConfig {
  protocols: {
    grpc?: EndpointConfig | undefined;
    thrift_http?: EndpointConfig | undefined;
    thrift_compact?: EndpointConfig | undefined;
    thrift_binary?: EndpointConfig | undefined;
  };
}

export interface ReceiverDeps {
  pusher: TracePusher;
  logger: Logger;
  registry?: Registry;
}

export type JaegerReceiver = JaegerGrpcReceiver | JaegerThriftHttpReceiver | JaegerUdpReceiver;

export function createJaegerReceivers(cfg: JaegerReceiversConfig | undefined, deps: ReceiverDeps): JaegerReceiver[] {
  if (!cfg) return [];
  const { pusher, logger, registry } = deps;
  const out: JaegerReceiver[] = [];
  const p = cfg.protocols;
  if (p.grpc) out.push(new JaegerGrpcReceiver({ pusher, logger, endpoint: p.grpc.endpoint }));
  if (p.thrift_http) out.push(new JaegerThriftHttpReceiver({ pusher, logger, endpoint: p.thrift_http.endpoint }));
  if (p.thrift_compact) out.push(new JaegerUdpReceiver({ protocol: 'compact', pusher, logger, endpoint: p.thrift_compact.endpoint, ...(registry ? { registry } : {}) }));
  if (p.thrift_binary) out.push(new JaegerUdpReceiver({ protocol: 'binary', pusher, logger, endpoint: p.thrift_binary.endpoint, ...(registry ? { registry } : {}) }));
  return out;
}
