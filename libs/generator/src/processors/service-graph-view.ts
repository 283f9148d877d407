// The service graph as the explorer shows it, read from the service-graphs processor's own registry
// series (so it shows exactly what remote write sends: max_active_series and stale removal apply). Edges
// are the traces_service_graph_* series summed over everything but client, server and connection_type.
//
// Rates are the increase over the last RATE_WINDOW_MS, per second, as PromQL's rate() over that window
// would give: the view keeps a snapshot of every edge's counters at each expiry tick of the processor
// (every EXPIRE_INTERVAL_MS), bounded to the window, and compares the current counters with the oldest
// snapshot inside it. A counter below its snapshot (the series went stale and came back) counts from 0.

import type { ServiceGraphEdge } from '@stave/proto';
import type { Counter, Histogram } from '../registry/metric';

/** The window request and failure rates are measured over. */
export const RATE_WINDOW_MS = 60_000;

/** One edge of the graph, summed over the dimensions (stave.v1.ServiceGraphEdge's fields). */
export type ServiceGraphViewEdge = Omit<ServiceGraphEdge, '$typeName' | '$unknown'>;

export interface ServiceGraphViewResult {
  windowSeconds: number;
  edges: ServiceGraphViewEdge[];
}

interface Snapshot {
  readonly atMs: number;
  /** edge key → [requests, failed] */
  readonly counts: ReadonlyMap<string, readonly [number, number]>;
}

interface Totals {
  client: string;
  server: string;
  connectionType: string;
  requests: number;
  failed: number;
  serverSecondsSum: number;
  clientSecondsSum: number;
}

/** Where client, server and connection_type sit in the processor's label sets (always its first three). */
const CLIENT = 0;
const SERVER = 1;
const CONNECTION_TYPE = 2;
const SEP = '\xff';

export interface ServiceGraphSeries {
  requestTotal: Counter;
  requestFailedTotal: Counter;
  serverSeconds: Histogram;
  clientSeconds: Histogram;
}

export class ServiceGraphView {
  private readonly snapshots: Snapshot[];

  constructor(
    private readonly series: ServiceGraphSeries,
    createdAtMs: number,
  ) {
    // Before the first tick, rates count from the processor's start (every edge was 0 then).
    this.snapshots = [{ atMs: createdAtMs, counts: new Map() }];
  }

  private totals(): Map<string, Totals> {
    const out = new Map<string, Totals>();
    const edge = (values: readonly string[]): Totals => {
      const key = values[CLIENT]! + SEP + values[SERVER]! + SEP + values[CONNECTION_TYPE]!;
      let t = out.get(key);
      if (!t) {
        t = {
          client: values[CLIENT]!,
          server: values[SERVER]!,
          connectionType: values[CONNECTION_TYPE]!,
          requests: 0,
          failed: 0,
          serverSecondsSum: 0,
          clientSecondsSum: 0,
        };
        out.set(key, t);
      }
      return t;
    };
    this.series.requestTotal.forEachSeries((l, v) => (edge(l.values).requests += v));
    this.series.requestFailedTotal.forEachSeries((l, v) => (edge(l.values).failed += v));
    this.series.serverSeconds.forEachSeries((l, sum) => (edge(l.values).serverSecondsSum += sum));
    this.series.clientSeconds.forEachSeries((l, sum) => (edge(l.values).clientSecondsSum += sum));
    return out;
  }

  /** Records the counters now, and forgets snapshots that left the window (keeping at least one). */
  snapshot(nowMs: number): void {
    const counts = new Map<string, readonly [number, number]>();
    for (const [key, t] of this.totals()) counts.set(key, [t.requests, t.failed]);
    this.snapshots.push({ atMs: nowMs, counts });
    while (this.snapshots.length > 1 && this.snapshots[0]!.atMs < nowMs - RATE_WINDOW_MS) this.snapshots.shift();
  }

  view(nowMs: number): ServiceGraphViewResult {
    const base = this.snapshots.find((s) => s.atMs >= nowMs - RATE_WINDOW_MS) ?? this.snapshots[this.snapshots.length - 1]!;
    const seconds = Math.max(0, (nowMs - base.atMs) / 1000);
    const rate = (now: number, then: number) => (seconds > 0 ? (now >= then ? now - then : now) / seconds : 0);
    const edges: ServiceGraphViewEdge[] = [];
    for (const [key, t] of this.totals()) {
      const [requests0, failed0] = base.counts.get(key) ?? [0, 0];
      edges.push({ ...t, requestRate: rate(t.requests, requests0), failedRate: rate(t.failed, failed0) });
    }
    return { windowSeconds: seconds, edges };
  }
}
