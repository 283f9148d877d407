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

import { Interner } from '../byte-table';
import type { GeneratorMetrics } from '../metrics';
import type { CounterSeries } from '../registry/counter';
import type { HistogramSeries } from '../registry/histogram';
import { sanitizeLabelName, type LabelSet } from '../registry/labels';
import type { Counter, Histogram } from '../registry/metric';
import type { Registry } from '../registry/registry';
import {
  anyValueString,
  AttributeKeys,
  S_END_HI,
  S_END_LO,
  S_ID,
  S_KEPT,
  S_KIND,
  S_PARENT,
  S_START_HI,
  S_START_LO,
  S_STATUS,
  S_TRACE,
  spanMultiplier,
  type SpanBatch,
} from '../spans';
import { SERVICE_GRAPHS, type Processor } from './processor';
import { EdgeStore, isComplete, LATENCY_CLIENT, LATENCY_MESSAGING, LATENCY_SERVER, type ConnectionType, type Edge } from './edge-store';
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

/** An edge label set's series, kept while they are not removed (looked up again then, as a refused one is). */
interface EdgeSeries {
  readonly labels: LabelSet;
  total: CounterSeries | undefined;
  failed: CounterSeries | undefined;
  server: HistogramSeries | undefined;
  client: HistogramSeries | undefined;
  messaging: HistogramSeries | undefined;
  unpaired: CounterSeries | undefined;
  dropped: CounterSeries | undefined;
}

const CONNECTION_TYPES: readonly ConnectionType[] = ['', 'messaging_system', 'database', 'virtual_node'];
/** Edge label sets kept by (client, server, connection type) at most; past it the cache starts over. */
const MAX_CACHED_EDGE_LABELS = 64 * 1024;

/** Attribute keys read from resources and spans, at fixed places in the key set. */
const K_SERVICE = 0;
const K_DB_NAME = 1;
const K_DB_SYSTEM = 2;
const K_PEER_SERVICE = 3;
const K_SERVER_ADDRESS = 4;
const K_NETWORK_PEER_ADDRESS = 5;
const K_NETWORK_PEER_PORT = 6;
const FIXED_KEYS = ['service.name', 'db.name', 'db.system', 'peer.service', 'server.address', 'network.peer.address', 'network.peer.port'];

/** Interner kinds: attribute values (AnyValue bytes). */
const ANY_VALUE = 1;

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
  private readonly keys: AttributeKeys;
  /** Index in `keys` of each peer attribute and each dimension. */
  private readonly peerKeys: number[];
  private readonly dimensionKeys: number[];
  private readonly multiplierKey: Buffer | undefined;
  private readonly strings = new Interner();
  /** client → server → series per connection type; only without dimensions (their labels vary per edge). */
  private readonly edgeSeries = new Map<string, Map<string, Array<EdgeSeries | undefined>>>();
  private cachedEdgeLabels = 0;
  // Counts for the process's own metrics, added once per push or expiry sweep.
  private storedEdges = 0;
  private droppedSpans = 0;
  private expiredEdges = 0;

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
    const keyNames = [...FIXED_KEYS];
    const indexOf = (k: string) => {
      let i = keyNames.indexOf(k);
      if (i < 0) i = keyNames.push(k) - 1;
      return i;
    };
    this.peerKeys = cfg.peerAttributes.map(indexOf);
    this.dimensionKeys = cfg.dimensions.map(indexOf);
    this.keys = new AttributeKeys(keyNames);
    this.multiplierKey = cfg.spanMultiplierKey === '' ? undefined : Buffer.from(cfg.spanMultiplierKey, 'utf8');
    this.now = opts.now ?? Date.now;
    this.graph = new ServiceGraphView(
      { requestTotal: this.requestTotal, requestFailedTotal: this.requestFailedTotal, serverSeconds: this.serverSeconds, clientSeconds: this.clientSeconds },
      this.now(),
    );
    this.store = new EdgeStore(cfg.waitMs, cfg.maxItems, opts.now);
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
    this.store.expire((e) => this.onExpire(e));
    this.flushCounts();
    this.graph.snapshot(this.now());
  }

  /** The edges as the explorer's service-graph page shows them (service-graph-view.ts). */
  serviceGraph(): ServiceGraphViewResult {
    return this.graph.view(this.now());
  }

  shutdown(): void {
    clearInterval(this.timer);
  }

  pushSpans(b: SpanBatch): void {
    const keys = this.keys;
    this.store.tick();
    let resource = -1;
    let service: string | undefined;
    for (let s = 0; s < b.n; s++) {
      if (b.get(s, S_KEPT) === 0) continue;
      const kind = b.get(s, S_KIND);
      const clientSide = kind === KIND_CLIENT || kind === KIND_PRODUCER;
      if (!clientSide && kind !== KIND_SERVER && kind !== KIND_CONSUMER) continue;
      const buf = b.bufOf(s);
      const r = b.resourceOf(s);
      if (r !== resource) {
        resource = r;
        keys.scanResource(b, r, buf);
        service =
          this.keys.resourceStart[K_SERVICE] === -2 ? undefined : this.value(buf, this.keys.resourceStart[K_SERVICE]!, this.keys.resourceEnd[K_SERVICE]!);
      }
      if (service === undefined) continue;
      // The span's own attributes matter for dimensions and, on the client side, for the peer and database
      // attributes; a server side without dimensions reads none of them.
      if (clientSide || this.dimensionKeys.length > 0) keys.scanSpan(b, s, buf);
      const multiplier = this.multiplierKey ? spanMultiplier(b, s, this.multiplierKey) : 1;
      // The client side keys its edge by its own span ID, the server side by its parent's.
      const id = clientSide ? S_ID : S_PARENT;
      this.store.setKey(buf, b.get(s, S_TRACE), b.get(s, S_TRACE + 1), b.get(s, id), b.get(s, id + 1));
      let e = this.store.find();
      const stored = e !== undefined;
      e ??= this.store.create();
      this.update(e, clientSide, kind === KIND_PRODUCER || kind === KIND_CONSUMER, service, b, s, buf, multiplier);
      if (isComplete(e)) {
        if (stored) this.store.remove(e);
        this.onComplete(e);
        this.store.release(e);
      } else if (!stored) {
        if (this.store.full) {
          this.onDropped(e);
          this.store.release(e);
        } else {
          this.store.insert(e);
          this.storedEdges++;
        }
      }
    }
    this.flushCounts();
  }

  private flushCounts(): void {
    const tenant = { tenant: this.tenant };
    if (this.storedEdges > 0) this.metrics.serviceGraphEdges.inc(tenant, this.storedEdges);
    if (this.droppedSpans > 0) this.metrics.serviceGraphDroppedSpans.inc(tenant, this.droppedSpans);
    if (this.expiredEdges > 0) this.metrics.serviceGraphExpiredEdges.inc(tenant, this.expiredEdges);
    this.storedEdges = this.droppedSpans = this.expiredEdges = 0;
  }

  /** An attribute value as a label value, decoded once per distinct bytes. */
  private value(buf: Uint8Array, start: number, end: number): string {
    return start < 0 ? '' : this.strings.intern(ANY_VALUE, buf, start, end, anyValueString);
  }

  /** The value of key `k` in the resource, else in the span (Tempo's FindAttributeValue over both); undefined when absent. */
  private find(buf: Uint8Array, k: number): string | undefined {
    if (this.keys.resourceStart[k] !== -2) return this.value(buf, this.keys.resourceStart[k]!, this.keys.resourceEnd[k]!);
    if (this.keys.valueStart[k] !== -2) return this.value(buf, this.keys.valueStart[k]!, this.keys.valueEnd[k]!);
    return undefined;
  }

  /** One side of the edge from span `s` (whose attributes `keys` holds). */
  private update(e: Edge, clientSide: boolean, messaging: boolean, service: string, b: SpanBatch, s: number, buf: Uint8Array, multiplier: number): void {
    e.connectionType = messaging ? 'messaging_system' : '';
    if (clientSide) {
      e.clientService = service;
      e.latency[LATENCY_CLIENT] = b.durations[s]!;
      e.clientEndHi = b.get(s, S_END_HI) >>> 0;
      e.clientEndLo = b.get(s, S_END_LO) >>> 0;
    } else {
      e.serverService = service;
      e.latency[LATENCY_SERVER] = b.durations[s]!;
      e.serverStartHi = b.get(s, S_START_HI) >>> 0;
      e.serverStartLo = b.get(s, S_START_LO) >>> 0;
    }
    e.failed ||= b.get(s, S_STATUS) === STATUS_ERROR;
    if (this.dimensionKeys.length > 0) {
      const prefix = clientSide ? 'client_' : 'server_';
      for (let d = 0; d < this.dimensionKeys.length; d++) {
        const v = this.find(buf, this.dimensionKeys[d]!);
        const name = this.cfg.dimensions[d]!;
        if (v !== undefined) (e.dimensions ??= new Map()).set(this.cfg.enableClientServerPrefix ? prefix + name : name, v);
      }
    }
    e.spanMultiplier = multiplier;
    if (!clientSide) return;
    // A peer attribute of the client span itself (not its resource): the server's name if none answers. (A
    // server side's would never be read: its edge has a server.)
    for (const k of this.peerKeys) {
      if (this.keys.valueStart[k] === -2) continue;
      e.peerNode = this.value(buf, this.keys.valueStart[k]!, this.keys.valueEnd[k]!);
      break;
    }
    this.databaseRequest(e, buf);
  }

  /** A client span with db.name or db.system is a database call: its edge is complete with the database as server. */
  private databaseRequest(e: Edge, buf: Uint8Array): void {
    const dbName = this.find(buf, K_DB_NAME);
    if (dbName === undefined && this.find(buf, K_DB_SYSTEM) === undefined) return;
    e.connectionType = 'database';
    e.latency[LATENCY_SERVER] = e.latency[LATENCY_CLIENT]!;
    const peer = this.find(buf, K_PEER_SERVICE) ?? this.find(buf, K_SERVER_ADDRESS);
    if (peer !== undefined) {
      e.serverService = peer;
      return;
    }
    const host = this.find(buf, K_NETWORK_PEER_ADDRESS);
    if (host !== undefined) {
      const port = this.find(buf, K_NETWORK_PEER_PORT);
      e.serverService = port === undefined ? host : `${host}:${port}`;
      return;
    }
    if (dbName) e.serverService = dbName;
  }

  private labelsOf(e: Edge): LabelSet {
    const values = [e.clientService, e.serverService, e.connectionType];
    for (const d of this.dimensions) {
      if (this.cfg.enableClientServerPrefix && d !== VIRTUAL_NODE_LABEL)
        values.push(e.dimensions?.get(`client_${d}`) ?? '', e.dimensions?.get(`server_${d}`) ?? '');
      else values.push(e.dimensions?.get(d) ?? '');
    }
    return this.registry.labels(this.labelNames, values);
  }

  /** The series of an edge's labels: kept per (client, server, connection type) when there are no dimensions. */
  private seriesOf(e: Edge): EdgeSeries {
    if (this.dimensions.length > 0) return this.freshSeries(e);
    let byServer = this.edgeSeries.get(e.clientService);
    if (!byServer) {
      if (this.cachedEdgeLabels >= MAX_CACHED_EDGE_LABELS) {
        this.edgeSeries.clear();
        this.cachedEdgeLabels = 0;
      }
      this.edgeSeries.set(e.clientService, (byServer = new Map()));
    }
    let byType = byServer.get(e.serverService);
    if (!byType) byServer.set(e.serverService, (byType = new Array<EdgeSeries | undefined>(CONNECTION_TYPES.length)));
    const t = CONNECTION_TYPES.indexOf(e.connectionType);
    let h = byType[t];
    if (!h) {
      h = byType[t] = this.freshSeries(e);
      this.cachedEdgeLabels++;
    }
    return h;
  }

  /** An edge label set with no series asked for yet (a method, not a closure: seriesOf runs per edge). */
  private freshSeries(e: Edge): EdgeSeries {
    return {
      labels: this.labelsOf(e),
      total: undefined,
      failed: undefined,
      server: undefined,
      client: undefined,
      messaging: undefined,
      unpaired: undefined,
      dropped: undefined,
    };
  }

  /**
   * Counts a completed edge. Each series is asked of the registry when missing or removed (stale), in
   * Tempo's order, so that max_active_series refuses (and counts) exactly as per-call updates would.
   */
  private onComplete(e: Edge): void {
    const h = this.seriesOf(e);
    const m = e.spanMultiplier;
    const tS = e.traceIdStart;
    const tE = e.traceIdEnd;
    if (!h.total || h.total.removed) h.total = this.requestTotal.seriesFor(h.labels);
    if (h.total) this.requestTotal.add(h.total, m);
    if (e.failed) {
      if (!h.failed || h.failed.removed) h.failed = this.requestFailedTotal.seriesFor(h.labels);
      if (h.failed) this.requestFailedTotal.add(h.failed, m);
    }
    if (!h.server || h.server.removed) h.server = this.serverSeconds.seriesFor(h.labels);
    if (h.server) this.serverSeconds.observeWithTraceId(h.server, e.latency, LATENCY_SERVER, m, e.key, tS, tE);
    if (!h.client || h.client.removed) h.client = this.clientSeconds.seriesFor(h.labels);
    if (h.client) this.clientSeconds.observeWithTraceId(h.client, e.latency, LATENCY_CLIENT, m, e.key, tS, tE);
    const clientEndsBeforeServerStarts = e.clientEndHi < e.serverStartHi || (e.clientEndHi === e.serverStartHi && e.clientEndLo < e.serverStartLo);
    if (this.messagingSeconds && e.connectionType === 'messaging_system' && clientEndsBeforeServerStarts) {
      if (!h.messaging || h.messaging.removed) h.messaging = this.messagingSeconds.seriesFor(h.labels);
      // Exact as Number(serverStart - clientEnd) on BigInts: the product is exact, the sum rounds once.
      e.latency[LATENCY_MESSAGING] = ((e.serverStartHi - e.clientEndHi) * 4294967296 + (e.serverStartLo - e.clientEndLo)) / 1e9;
      if (h.messaging) this.messagingSeconds.observeWithTraceId(h.messaging, e.latency, LATENCY_MESSAGING, m, e.key, tS, tE);
    }
  }

  private onDropped(e: Edge): void {
    this.droppedSpans++;
    const h = this.seriesOf(e);
    if (!h.dropped || h.dropped.removed) h.dropped = this.dropped.seriesFor(h.labels);
    if (h.dropped) this.dropped.add(h.dropped, 1);
  }

  private onExpire(e: Edge): void {
    this.expiredEdges++;
    const h = this.seriesOf(e);
    if (!h.unpaired || h.unpaired.removed) h.unpaired = this.unpaired.seriesFor(h.labels);
    if (h.unpaired) this.unpaired.add(h.unpaired, 1);
    e.connectionType = 'virtual_node';
    if (e.clientService === '') {
      // A server span nobody called that we know of: a root span is a request from a user (a browser, curl).
      if (e.spanIdEmpty) {
        e.clientService = 'user';
        if (this.cfg.enableVirtualNodeLabel) (e.dimensions ??= new Map()).set(VIRTUAL_NODE_LABEL, 'client');
        this.onComplete(e);
      }
    } else if (e.serverService === '' && e.peerNode !== '') {
      // A call to a service that sends no spans (an external API, a database): named by its peer attribute.
      e.serverService = e.peerNode;
      if (this.cfg.enableVirtualNodeLabel) (e.dimensions ??= new Map()).set(VIRTUAL_NODE_LABEL, 'server');
      this.onComplete(e);
    }
  }
}
