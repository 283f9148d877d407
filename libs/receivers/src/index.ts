// @stave/receivers: the protocol front doors of the distributor. Each section is owned by one area.
export type { PushContext, PushOutcome, ReceiverProtocol, TracePusher } from './pusher';

// --- OTLP (otlp/) ---
export {
  OTLP_DEFAULT_MAX_REQUEST_BYTES,
  OTLP_HTTP_DEFAULT_ENDPOINT,
  OTLP_HTTP_TRACES_PATH,
  OtlpHttpReceiver,
  type OtlpHttpReceiverOptions,
} from './otlp/http-receiver';
export { OTLP_GRPC_DEFAULT_ENDPOINT, OtlpGrpcReceiver, type OtlpGrpcReceiverOptions } from './otlp/grpc-receiver';
export { parseOtlpEndpoint, type OtlpEndpoint } from './otlp/common';

// --- Jaeger and Zipkin (jaeger/, zipkin/) ---
export { JAEGER_GRPC_DEFAULT_ENDPOINT, JaegerGrpcReceiver, type JaegerGrpcReceiverOptions } from './jaeger/grpc-receiver';
export {
  JAEGER_THRIFT_CONTENT_TYPES,
  JAEGER_THRIFT_HTTP_DEFAULT_ENDPOINT,
  JAEGER_THRIFT_HTTP_PATH,
  JaegerThriftHttpReceiver,
  type JaegerThriftHttpReceiverOptions,
} from './jaeger/thrift-http-receiver';
export {
  JAEGER_BINARY_DEFAULT_ENDPOINT,
  JAEGER_COMPACT_DEFAULT_ENDPOINT,
  JaegerUdpReceiver,
  UDP_DROP_MALFORMED,
  UDP_DROP_PUSH_FAILED,
  UDP_DROP_QUEUE_FULL,
  UDP_DROPPED_METRIC,
  type JaegerUdpProtocol,
  type JaegerUdpReceiverOptions,
  type UdpDropReason,
} from './jaeger/udp-receiver';
export { parseEndpoint as parseReceiverEndpoint, type Endpoint as ReceiverEndpoint } from './endpoint';
export { ZIPKIN_DEFAULT_ENDPOINT, ZIPKIN_V1_PATH, ZIPKIN_V2_PATH, ZipkinReceiver, type ZipkinReceiverOptions } from './zipkin/zipkin-receiver';
