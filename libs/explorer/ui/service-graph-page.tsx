// The service-graph page: services as nodes, the requests between them as edges, drawn from the
// metrics-generators' traces_service_graph_* counters (what Grafana's service graph reads from Prometheus).
// Each edge shows its request rate and error rate over the generators' last minute; each node the
// requests it served. Clicking a node searches for that service's traces. Refreshed every 15 s.

import { useEffect, useState } from 'preact/hooks';
import { ApiError, serviceGraph, type Settings } from './api';
import { formatDuration } from '../src/trace-model';
import type { ServiceGraphEdgeJson, ServiceGraphJson, ServiceGraphNodeJson } from '../src/service-graph';

const REFRESH_MS = 15_000;
const NODE_W = 150;
const NODE_H = 46;
const COL_GAP = 110;
const ROW_GAP = 28;
const PAD = 24;

interface Placed {
  node: ServiceGraphNodeJson;
  x: number;
  y: number;
}

/**
 * Columns by call depth: a service nobody calls (a root, or `user`) is in column 0, every other one
 * column after the deepest of its callers (cycles are cut at the number of nodes).
 */
export function layout(nodes: readonly ServiceGraphNodeJson[], edges: readonly ServiceGraphEdgeJson[]): Map<string, Placed> {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.client === e.server) continue;
      const d = depth.get(e.client)! + 1;
      if (d > depth.get(e.server)! && d < nodes.length) {
        depth.set(e.server, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = new Map<number, ServiceGraphNodeJson[]>();
  for (const n of nodes) {
    const d = depth.get(n.id)!;
    columns.set(d, [...(columns.get(d) ?? []), n]);
  }
  const out = new Map<string, Placed>();
  for (const [d, col] of columns) {
    col.forEach((node, i) => out.set(node.id, { node, x: PAD + d * (NODE_W + COL_GAP), y: PAD + i * (NODE_H + ROW_GAP) }));
  }
  return out;
}

function rate(perSecond: number): string {
  return perSecond >= 10 ? `${perSecond.toFixed(0)}/s` : perSecond >= 0.1 ? `${perSecond.toFixed(2)}/s` : `${(perSecond * 60).toFixed(2)}/min`;
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '0%';
}

/** A side with no spans (the virtual `user`, a database) has no latency of its own. */
function latency(seconds: number): string {
  return seconds > 0 ? formatDuration(seconds * 1e9) : '—';
}

function searchHash(service: string): string {
  return `#/search?${new URLSearchParams({ q: `{ resource.service.name = ${JSON.stringify(service)} }` }).toString()}`;
}

function Graph(props: { graph: ServiceGraphJson; go: (hash: string) => void }) {
  const { graph, go } = props;
  const placed = layout(graph.nodes, graph.edges);
  let width = 0;
  let height = 0;
  for (const p of placed.values()) {
    width = Math.max(width, p.x + NODE_W + PAD);
    height = Math.max(height, p.y + NODE_H + PAD);
  }
  return (
    <svg class="sg-graph" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Service graph">
      <defs>
        <marker id="sg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a3" />
        </marker>
      </defs>
      {graph.edges.map((e) => {
        const a = placed.get(e.client)!;
        const b = placed.get(e.server)!;
        const back = b.x <= a.x;
        const x1 = back ? a.x + NODE_W / 2 : a.x + NODE_W;
        const y1 = back ? a.y + NODE_H : a.y + NODE_H / 2;
        const x2 = back ? b.x + NODE_W / 2 : b.x;
        const y2 = back ? b.y + NODE_H : b.y + NODE_H / 2;
        const failing = e.failed > 0;
        return (
          <g class={`sg-edge${failing ? ' failing' : ''}`} data-client={e.client} data-server={e.server}>
            <line x1={x1} y1={y1} x2={x2} y2={y2} marker-end="url(#sg-arrow)" />
            <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6} text-anchor="middle">
              {rate(e.requestRate)} · {percent(e.failed, e.requests)} err
            </text>
          </g>
        );
      })}
      {[...placed.values()].map(({ node, x, y }) => (
        <g
          class={`sg-node${node.failed > 0 ? ' failing' : ''}`}
          data-service={node.id}
          transform={`translate(${x},${y})`}
          onClick={() => go(searchHash(node.id))}
          role="link"
          tabIndex={0}
          onKeyDown={(ev) => ev.key === 'Enter' && go(searchHash(node.id))}
        >
          <title>{`${node.id}: search its traces`}</title>
          <rect width={NODE_W} height={NODE_H} rx={6} />
          <text x={NODE_W / 2} y={19} text-anchor="middle" class="sg-name">
            {node.id.length > 20 ? `${node.id.slice(0, 19)}…` : node.id}
          </text>
          <text x={NODE_W / 2} y={36} text-anchor="middle" class="sg-stats">
            {node.requests > 0 ? `${rate(node.requestRate)} · ${percent(node.failed, node.requests)} err` : 'calls only'}
          </text>
        </g>
      ))}
    </svg>
  );
}

/** What the page says instead of a graph, or undefined when there is one to draw. */
function emptyText(g: ServiceGraphJson): string | undefined {
  if (g.status === 'no-generators')
    return 'No metrics-generator is running: the service graph comes from the metrics-generator (run -target=all, or a metrics-generator in the fleet).';
  if (g.status === 'disabled')
    return 'The service-graphs processor is off for this tenant: enable it with overrides.defaults.metrics_generator.processors: [service-graphs] (or metrics_generator_processors).';
  if (g.edges.length === 0)
    return 'No requests between services yet: the graph shows client/server (and producer/consumer) span pairs once the metrics-generator has seen some.';
  return undefined;
}

export function ServiceGraphPage(props: { settings: Settings; go: (hash: string) => void }) {
  const { settings, go } = props;
  const [graph, setGraph] = useState<ServiceGraphJson | undefined>(undefined);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    serviceGraph(settings).then(
      (g) => {
        if (!live) return;
        setGraph(g);
        setError('');
      },
      (e: unknown) => {
        if (!live) return;
        setGraph(undefined);
        setError(
          e instanceof ApiError && e.status === 404
            ? 'This API serves no service graph (/api/explorer/service-graph is Stave’s own: a Tempo shows its graph in Grafana, from Prometheus).'
            : e instanceof Error
              ? e.message
              : String(e),
        );
      },
    );
    const timer = setTimeout(() => setTick((t) => t + 1), REFRESH_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [settings.apiUrl, settings.orgId, tick]);

  const empty = graph && emptyText(graph);
  return (
    <div class="service-graph-page">
      <div class="sg-head">
        <h2>Service graph</h2>
        <button type="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
        {graph && graph.status === 'ok' && (
          <span class="muted">
            rates over the last {Math.round(graph.windowSeconds)} s · {graph.generators} metrics-generator{graph.generators === 1 ? '' : 's'}
          </span>
        )}
      </div>
      {error && <div class="error-box">{error}</div>}
      {graph && graph.failedGenerators > 0 && (
        <div class="error-box">
          Partial graph: {graph.failedGenerators} of {graph.generators} metrics-generators did not answer ({graph.errors.join('; ')}).
        </div>
      )}
      {!graph && !error && <div class="loading muted">Loading…</div>}
      {empty && <div class="sg-empty muted">{empty}</div>}
      {graph && !empty && (
        <>
          <div class="sg-canvas">
            <Graph graph={graph} go={go} />
          </div>
          <table class="results sg-edges">
            <thead>
              <tr>
                <th>Client</th>
                <th>Server</th>
                <th>Type</th>
                <th class="num">Requests</th>
                <th class="num">Rate</th>
                <th class="num">Errors</th>
                <th class="num">Server latency (avg)</th>
                <th class="num">Client latency (avg)</th>
              </tr>
            </thead>
            <tbody>
              {graph.edges.map((e) => (
                <tr class="sg-edge-row" data-client={e.client} data-server={e.server}>
                  <td>
                    <a href={searchHash(e.client)}>{e.client}</a>
                  </td>
                  <td>
                    <a href={searchHash(e.server)}>{e.server}</a>
                  </td>
                  <td class="muted">{e.connectionType || 'request'}</td>
                  <td class="num requests">{e.requests}</td>
                  <td class="num">{rate(e.requestRate)}</td>
                  <td class={`num failed${e.failed > 0 ? ' err' : ''}`}>
                    {e.failed} ({percent(e.failed, e.requests)})
                  </td>
                  <td class="num">{latency(e.serverLatencySeconds)}</td>
                  <td class="num">{latency(e.clientLatencySeconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
