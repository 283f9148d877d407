// How other components reach an ingester: one interface, bound in-process (the single binary) or over
// Connect/gRPC to a remote ingester. Every remote call has a deadline.

import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { GrpcUnaryClient, grpcTransport } from '@stave/server';
import { decodePushResponse, encodePushFramed, PUSH_BYTES_PATH, type PushPiece } from './push-encoding';
import {
  PushBytesRequestSchema,
  Querier,
  SearchRequestSchema,
  SearchTagsRequestSchema,
  TraceByIDRequestSchema,
  type PushBytesRequest,
  type PushResponse,
  type SearchRequest,
  type SearchResponse,
  type SearchTagsRequest,
  type SearchTagsResponse,
  type TraceByIDRequest,
  type TraceByIDResponse,
} from '@stave/proto';

export interface IngesterClient {
  /**
   * `pieces`, when given, are req's traces in order, in pieces that other replicas' calls share: a remote
   * client sends each piece's encoding (made once) instead of encoding req.
   */
  pushBytes(req: PushBytesRequest, pieces?: readonly PushPiece[]): Promise<PushResponse>;
  findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse>;
  search(req: SearchRequest): Promise<SearchResponse>;
  searchTags(req: SearchTagsRequest): Promise<SearchTagsResponse>;
}

export type PushBytesInit = MessageInitShape<typeof PushBytesRequestSchema>;
export type TraceByIDInit = MessageInitShape<typeof TraceByIDRequestSchema>;

export function pushBytesRequest(init: PushBytesInit): PushBytesRequest {
  return create(PushBytesRequestSchema, init);
}

export function searchRequest(init: MessageInitShape<typeof SearchRequestSchema>): SearchRequest {
  return create(SearchRequestSchema, init);
}

export function searchTagsRequest(init: MessageInitShape<typeof SearchTagsRequestSchema>): SearchTagsRequest {
  return create(SearchTagsRequestSchema, init);
}

export function traceByIDRequest(init: TraceByIDInit): TraceByIDRequest {
  return create(TraceByIDRequestSchema, init);
}

export interface RemoteClientOptions {
  /** host:port of the ingester's gRPC server. */
  address: string;
  timeoutMs: number;
  maxMessageBytes: number;
}

export function remoteIngesterClient(opts: RemoteClientOptions): IngesterClient {
  const transport = grpcTransport({
    baseUrl: `http://${opts.address}`,
    readMaxBytes: opts.maxMessageBytes,
    writeMaxBytes: opts.maxMessageBytes,
    defaultTimeoutMs: opts.timeoutMs,
  });
  const querier = createClient(Querier, transport);
  // The push carries every span: a bare gRPC call on its own HTTP/2 session, the request written by hand
  // into one buffer (push-encoding.ts, grpc-unary.ts).
  const pusher = new GrpcUnaryClient({ address: opts.address, timeoutMs: opts.timeoutMs, maxResponseBytes: opts.maxMessageBytes });
  return {
    pushBytes: async (req, pieces) =>
      decodePushResponse(
        await pusher.call(
          PUSH_BYTES_PATH,
          encodePushFramed(req.tenant, pieces ?? [{ traces: req.traces, ids: req.ids, startSeconds: req.startSeconds, endSeconds: req.endSeconds }]),
        ),
      ),
    findTraceByID: (req) => querier.findTraceByID(req),
    search: (req) => querier.search(req),
    searchTags: (req) => querier.searchTags(req),
  };
}

/**
 * Remote clients by ingester address, made on first use. A new address first forgets those no longer in
 * the ring (pods come back on new addresses), so the pool stays the size of the ring however often
 * ingesters are replaced.
 */
export class IngesterClientPool {
  private readonly clients = new Map<string, IngesterClient>();
  constructor(
    private readonly ringAddresses: () => Iterable<string>,
    private readonly connect: (address: string) => IngesterClient,
  ) {}

  get(address: string): IngesterClient {
    let c = this.clients.get(address);
    if (c) return c;
    const inRing = new Set(this.ringAddresses());
    for (const addr of this.clients.keys()) if (!inRing.has(addr)) this.clients.delete(addr);
    c = this.connect(address);
    this.clients.set(address, c);
    return c;
  }

  get size(): number {
    return this.clients.size;
  }
}
