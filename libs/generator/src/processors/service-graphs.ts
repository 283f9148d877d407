// service-graphs: requests between services, paired from the two sides of each call, as Tempo 2.6's
// servicegraphs processor pairs them.
//
// Pairing. A CLIENT span opens (or completes) the edge keyed by its trace ID and its own span ID; a SERVER
// span the edge keyed by its trace ID and its parent span ID. PRODUCER and CONSUMER pair the same way
// with connection_type "messaging_system". A client span with `db.name` or `db.system` is a database call
// and completes its edge at once (connection_type "database"): the server is the first of `peer.service`,
// `server.address`, `network.peer.address` (":" `network.peer.port` when present) and `db.name`; its server
// latency is the client span's. Spans of a resource without `service.name`, and INTERNAL/UNSPECIFIED
// spans, make no edge.
//
// Limits. An edge waits at most `wait` for its other side, and at most `max_items` edges wait: a span that
// would store one more is dropped (traces_service_graph_dropped_spans_total, and Tempo's
// tempo_metrics_generator_processor_service_graphs_dropped_spans). An edge that expires counts one
// unpaired span (traces_service_graph_unpaired_spans_total, labelled with the side it has) and may still be
// counted as a request to a virtual node, as Tempo does: a root SERVER span without a client is a request
// from "user"; a CLIENT span without a server whose span has a peer attribute (`peer_attributes`) is a
// request to that peer. Both then have connection_type "virtual_node".
//
// Metrics per completed edge, labelled client, server, connection_type and the configured dimensions
// (each sanitised; with enable_client_server_prefix, a client_ and a server_ label per dimension):
// request_total +1, request_failed_total +1 when either side has status ERROR, and request_server_seconds
// / request_client_seconds observe each side's duration (exemplar: the trace ID).

import { findAttribute, spanMultiplier } from '../attributes';
import type { GeneratorMetrics } from '../metrics';
import { sanitizeLabelName } from '../registry/labels';
import type { Counter, Histogram } from '../registry/metric';
import type { Registry } from '../registry/registry';
import type { AttributeList } from '../attributes';
import type { ResourceBatch, SpanLite } from '../spans';
import { durationSeconds, SERVICE_GRAPHS, withoutLeadingZeros, type Processor } from './processor';
import { EdgeStore, type ConnectionType, type Edge } from './edge-store';
import { ServiceGraphView, type ServiceGraphViewResult } from './service-graph-view';

export const METRIC_REQUEST_TOTAL = 'traces_service_graph_request_total';
export const METRIC_REQUEST_FAILED_TOTAL = 'traces_service_graph_request_failed_total';
export const METRIC_REQUEST_SERVER_SECONDS = 'traces_service_graph_request_server_seconds';
export const METRIC_REQUEST_CLIENT_SECONDS = 'traces_service_graph_request_client_seconds';
export const METRIC_REQUEST_MESSAGING_SYSTEM_SECONDS = 'traces_service_graph_request_messaging_system_seconds';
export const METRIC_UNPAIRED_SPANS_TOTAL = 'traces_service_graph_unpaired_spans_total';
export const METRIC_DROPPED_SPANS_TOTAL = 'traces_service_graph_dropped_spans_total';

/** Tempo's default buckets: 0.1 s doubling 8 times. */
export const DEFAULT_SERVICE_GRAPHS_BUCKETS = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
export const DEFAULT_PEER_ATTRIBUTES = ['peer.service', 'db.name', 'db.system'];

/** How often waiting edges are checked for expiry (Tempo's ticker). */
export const EXPIRE_INTERVAL_MS = 2000;

export interface ServiceGraphsConfig {
  waitMs: number;
  maxItems: number;
  histogramBuckets: readonly number[];
  dimensions: readonly string[];
  enableClientServerPrefix: boolean;
  enableMessagingSystemLatencyHistogram: boolean;
  enableVirtualNodeLabel: boolean;
  peerAttributes: readonly string[];
  spanMultiplierKey: string;
}

const VIRTUAL_NODE_LABEL = 'virtual_node';

const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const KIND_PRODUCER = 4;
const KIND_CONSUMER = 5;
const STATUS_ERROR = 2;

export class ServiceGraphsProcessor implements Processor {
  readonly name = SERVICE_GRAPHS;
  readonly metricNames: string[];
  private readonly store: EdgeStore;
  private readonly labelNames: string[];
  /** Configured dimensions, plus virtual_node when enable_virtual_node_label is on. */
  private readonly dimensions: string[];
  private readonly requestTotal: Counter;
  private readonly requestFailedTotal: Counter;
  private readonly serverSeconds: Histogram;
  private readonly clientSeconds: Histogram;
  private readonly messagingSeconds: Histogram | undefined;
  private readonly unpaired: Counter;
  private readonly dropped: Counter;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly graph: ServiceGraphView;
  private readonly now: () => number;

  constructor(
    private readonly cfg: ServiceGraphsConfig,
    private readonly registry: Registry,
    private readonly tenant: string,
    private readonly metrics: GeneratorMetrics,
    opts: { now?: () => number; expireTimer?: boolean } = {},
  ) {
    this.dimensions = [...cfg.dimensions, ...(cfg.enableVirtualNodeLabel ? [VIRTUAL_NODE_LABEL] : [])];
    this.labelNames = ['client', 'server', 'connection_type'];
    for (const d of this.dimensions) {
      if (cfg.enableClientServerPrefix && d !== VIRTUAL_NODE_LABEL) this.labelNames.push(sanitizeLabelName(`client_${d}`), sanitizeLabelName(`server_${d}`));
      else this.labelNames.push(sanitizeLabelName(d));
    }
    this.requestTotal = registry.newCounter(METRIC_REQUEST_TOTAL);
    this.requestFailedTotal = registry.newCounter(METRIC_REQUEST_FAILED_TOTAL);
    this.serverSeconds = registry.newHistogram(METRIC_REQUEST_SERVER_SECONDS, cfg.histogramBuckets);
    this.clientSeconds = registry.newHistogram(METRIC_REQUEST_CLIENT_SECONDS, cfg.histogramBuckets);
    this.messagingSeconds = cfg.enableMessagingSystemLatencyHistogram
      ? registry.newHistogram(METRIC_REQUEST_MESSAGING_SYSTEM_SECONDS, cfg.histogramBuckets)
      : undefined;
    this.unpaired = registry.newCounter(METRIC_UNPAIRED_SPANS_TOTAL);
    this.dropped = registry.newCounter(METRIC_DROPPED_SPANS_TOTAL);
    this.metricNames = [
      METRIC_REQUEST_TOTAL,
      METRIC_REQUEST_FAILED_TOTAL,
      METRIC_REQUEST_SERVER_SECONDS,
      METRIC_REQUEST_CLIENT_SECONDS,
      ...(this.messagingSeconds ? [METRIC_REQUEST_MESSAGING_SYSTEM_SECONDS] : []),
      METRIC_UNPAIRED_SPANS_TOTAL,
      METRIC_DROPPED_SPANS_TOTAL,
    ];
    this.now = opts.now ?? Date.now;
    this.graph = new ServiceGraphView(
      { requestTotal: this.requestTotal, requestFailedTotal: this.requestFailedTotal, serverSeconds: this.serverSeconds, clientSeconds: this.clientSeconds },
      this.now(),
    );
    this.store = new EdgeStore(
      cfg.waitMs,
      cfg.maxItems,
      (e) => this.onComplete(e),
      (e) => this.onExpire(e),
      opts.now,
    );
    if (opts.expireTimer ?? true) {
      this.timer = setInterval(() => this.expire(), EXPIRE_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Edges waiting for their other side. */
  get waitingEdges(): number {
    return this.store.size;
  }

  /** Expires edges that waited `wait`, and snapshots the edges' counters for their rates (every EXPIRE_INTERVAL_MS). */
  expire(): void {
    this.registry.tick();
    this.store.expire();
    this.graph.snapshot(this.now());
  }

  /** The edges as the explorer's service-graph page shows them (service-graph-view.ts). */
  serviceGraph(): ServiceGraphViewResult {
    return this.graph.view(this.now());
  }

  shutdown(): void {
    clearInterval(this.timer);
  }

  pushSpans(batches: readonly ResourceBatch[]): void {
    for (const { resourceAttributes, spans } of batches) {
      const service = findAttribute('service.name', resourceAttributes);
      if (service === undefined) continue;
      for (const { span } of spans) {
        const multiplier = spanMultiplier(this.cfg.spanMultiplierKey, span.attributes);
        const messaging = span.kind === KIND_PRODUCER || span.kind === KIND_CONSUMER;
        const connectionType: ConnectionType = messaging ? 'messaging_system' : '';
        let result;
        // The client side keys its edge by its own span ID, the server side by its parent's.
        if (span.kind === KIND_CLIENT || span.kind === KIND_PRODUCER)
          result = this.upsertSide('client', `${span.traceIdHex}-${span.spanIdHex}`, service, resourceAttributes, span, connectionType, multiplier);
        else if (span.kind === KIND_SERVER || span.kind === KIND_CONSUMER)
          result = this.upsertSide('server', `${span.traceIdHex}-${span.parentSpanIdHex}`, service, resourceAttributes, span, connectionType, multiplier);
        else continue;
        if (result === 'stored') this.metrics.serviceGraphEdges.inc({ tenant: this.tenant });
      }
    }
  }

  private upsertSide(
    side: 'client' | 'server',
    key: string,
    service: string,
    resource: AttributeList,
    span: SpanLite,
    connectionType: ConnectionType,
    multiplier: number,
  ) {
    return this.store.upsert(
      key,
      (e) => {
        e.traceID = withoutLeadingZeros(span.traceIdHex);
        e.connectionType = connectionType;
        const latency = durationSeconds(span.startTimeUnixNano, span.endTimeUnixNano);
        if (side === 'client') {
          e.clientService = service;
          e.clientLatencySec = latency;
          e.clientEndUnixNano = span.endTimeUnixNano;
        } else {
          e.serverService = service;
          e.serverLatencySec = latency;
          e.serverStartUnixNano = span.startTimeUnixNano;
        }
        e.failed ||= span.status?.code === STATUS_ERROR;
        this.upsertDimensions(`${side}_`, e.dimensions, resource, span.attributes);
        e.spanMultiplier = multiplier;
        this.upsertPeerNode(e, span.attributes);
        if (side === 'client') upsertDatabaseRequest(e, resource, span);
      },
      (e) => this.onDropped(e),
    );
  }

  private upsertDimensions(prefix: string, m: Map<string, string>, resource: AttributeList, span: AttributeList): void {
    for (const d of this.cfg.dimensions) {
      const v = findAttribute(d, resource, span);
      if (v !== undefined) m.set(this.cfg.enableClientServerPrefix ? prefix + d : d, v);
    }
  }

  private upsertPeerNode(e: Edge, span: AttributeList): void {
    for (const key of this.cfg.peerAttributes) {
      const v = findAttribute(key, span);
      if (v !== undefined) {
        e.peerNode = v;
        return;
      }
    }
  }

  private labelsOf(e: Edge) {
    const values = [e.clientService, e.serverService, e.connectionType];
    for (const d of this.dimensions) {
      if (this.cfg.enableClientServerPrefix && d !== VIRTUAL_NODE_LABEL)
        values.push(e.dimensions.get(`client_${d}`) ?? '', e.dimensions.get(`server_${d}`) ?? '');
      else values.push(e.dimensions.get(d) ?? '');
    }
    return this.registry.labels(this.labelNames, values);
  }

  private onComplete(e: Edge): void {
    const labels = this.labelsOf(e);
    this.requestTotal.inc(labels, e.spanMultiplier);
    if (e.failed) this.requestFailedTotal.inc(labels, e.spanMultiplier);
    this.serverSeconds.observe(labels, e.serverLatencySec, e.traceID, e.spanMultiplier);
    this.clientSeconds.observe(labels, e.clientLatencySec, e.traceID, e.spanMultiplier);
    if (this.messagingSeconds && e.connectionType === 'messaging_system' && e.clientEndUnixNano < e.serverStartUnixNano) {
      this.messagingSeconds.observe(labels, durationSeconds(e.clientEndUnixNano, e.serverStartUnixNano), e.traceID, e.spanMultiplier);
    }
  }

  private onDropped(e: Edge): void {
    this.metrics.serviceGraphDroppedSpans.inc({ tenant: this.tenant });
    this.dropped.inc(this.labelsOf(e), 1);
  }

  private onExpire(e: Edge): void {
    this.metrics.serviceGraphExpiredEdges.inc({ tenant: this.tenant });
    this.unpaired.inc(this.labelsOf(e), 1);
    e.connectionType = 'virtual_node';
    if (e.clientService === '') {
      // A server span nobody called that we know of: a root span is a request from a user (a browser, curl).
      if (e.key.endsWith('-')) {
        e.clientService = 'user';
        if (this.cfg.enableVirtualNodeLabel) e.dimensions.set(VIRTUAL_NODE_LABEL, 'client');
        this.onComplete(e);
      }
    } else if (e.serverService === '' && e.peerNode !== '') {
      // A call to a service that sends no spans (an external API, a database): named by its peer attribute.
      e.serverService = e.peerNode;
      if (this.cfg.enableVirtualNodeLabel) e.dimensions.set(VIRTUAL_NODE_LABEL, 'server');
      this.onComplete(e);
    }
  }
}

/** A client span with db.name or db.system is a database call: its edge is complete with the database as server. */
function upsertDatabaseRequest(e: Edge, resource: AttributeList, span: SpanLite): void {
  const dbName = findAttribute('db.name', resource, span.attributes);
  if (dbName === undefined && findAttribute('db.system', resource, span.attributes) === undefined) return;
  e.connectionType = 'database';
  e.serverLatencySec = durationSeconds(span.startTimeUnixNano, span.endTimeUnixNano);
  const peer = findAttribute('peer.service', resource, span.attributes) ?? findAttribute('server.address', resource, span.attributes);
  if (peer !== undefined) {
    e.serverService = peer;
    return;
  }
  const host = findAttribute('network.peer.address', resource, span.attributes);
  if (host !== undefined) {
    const port = findAttribute('network.peer.port', resource, span.attributes);
    e.serverService = port === undefined ? host : `${host}:${port}`;
    return;
  }
  if (dbName) e.serverService = dbName;
}
