// The contract between receivers and the distributor. Every receiver, whatever its protocol, hands the
// distributor one OTLP ExportTraceServiceRequest in its protobuf wire form: OTLP/HTTP protobuf bodies
// pass through without being decoded; other protocols are converted to OTLP and encoded once.

export type ReceiverProtocol =
  | 'otlp_grpc'
  | 'otlp_http_proto'
  | 'otlp_http_json'
  | 'jaeger_grpc'
  | 'jaeger_thrift_http'
  | 'jaeger_thrift_compact'
  | 'jaeger_thrift_binary'
  | 'zipkin_json'
  | 'zipkin_proto';

export interface PushContext {
  /** The raw X-Scope-OrgID header (or gRPC metadata) value; the distributor resolves and validates it. */
  readonly orgID: string | undefined;
  readonly protocol: ReceiverProtocol;
  /**
   * The receiver does not touch the request bytes after handing them over: the pusher may move their memory
   * to another thread (the caller's view of them becomes empty) instead of copying it.
   */
  readonly bodyDisposable?: boolean;
}

export interface PushOutcome {
  /** Spans refused (over a per-trace or live-trace limit); the rest were accepted. */
  readonly rejectedSpans: number;
  /** Why spans were refused, for OTLP partial success. */
  readonly errorMessage: string;
}

/**
 * Accepts a batch; resolves once it is durable (write quorum reached). Rejects with a ConnectError whose
 * code says what the client should do: InvalidArgument (malformed; do not retry), Unauthenticated (no
 * org ID), ResourceExhausted (over a rate limit; retry later), Unavailable (retry).
 */
export interface TracePusher {
  pushOtlp(ctx: PushContext, exportTraceServiceRequest: Uint8Array): Promise<PushOutcome>;
}
