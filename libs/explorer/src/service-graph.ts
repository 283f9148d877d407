// The service graph the explorer draws, merged from every metrics-generator's answer. Traces are
// partitioned between generators (each owns the trace IDs of its tokens), so the same edge seen by two
// generators is two disjoint sets of requests: counts, rates and latency sums add. No Node imports: the
// pages import the types from here.

/** One generator's answer (stave.v1.ServiceGraphResponse, as the generated message has it). */
export interface GeneratorServiceGraph {
  readonly enabled: boolean;
  readonly windowSeconds: number;
  readonly edges: ReadonlyArray<{
    readonly client: string;
    readonly server: string;
    readonly connectionType: string;
    readonly requests: number;
    readonly failed: number;
    readonly requestRate: number;
    readonly failedRate: number;
    readonly serverSecondsSum: number;
    readonly clientSecondsSum: number;
  }>;
}

/** The answer of one generator asked, or why it gave none. */
export type GeneratorAnswer = { readonly generator: string; readonly graph: GeneratorServiceGraph } | { readonly generator: string; readonly error: string };

export interface ServiceGraphEdgeJson {
  client: string;
  server: string;
  /** "", "messaging_system", "database" or "virtual_node" (the series' connection_type). */
  connectionType: string;
  /** Requests (and failed requests) since the generators first saw the edge. */
  requests: number;
  failed: number;
  /** Per second, over the last `windowSeconds`. */
  requestRate: number;
  failedRate: number;
  /** Average over every request counted, seconds. */
  serverLatencySeconds: number;
  clientLatencySeconds: number;
}

export interface ServiceGraphNodeJson {
  /** The service name (or a virtual node: `user`, a database, a peer.service). */
  id: string;
  /** Requests it served (edges into it). */
  requests: number;
  failed: number;
  requestRate: number;
  failedRate: number;
}

/**
 * `ok`: at least one generator has service-graphs on for the tenant; `disabled`: every generator that
 * answered has it off; `no-generators`: the metrics-generator ring has no healthy member.
 */
export type ServiceGraphStatus = 'ok' | 'disabled' | 'no-generators';

export interface ServiceGraphJson {
  status: ServiceGraphStatus;
  /** Healthy generators in the ring, and those of them that did not answer (the graph is then partial). */
  generators: number;
  failedGenerators: number;
  errors: string[];
  /** The longest rate window among the answers, seconds. */
  windowSeconds: number;
  nodes: ServiceGraphNodeJson[];
  edges: ServiceGraphEdgeJson[];
}

/** Adds up the generators' answers (commutative and associative: any order gives the same graph). */
export function mergeServiceGraphs(answers: readonly GeneratorAnswer[]): ServiceGraphJson {
  const errors: string[] = [];
  let enabled = false;
  let answered = 0;
  let windowSeconds = 0;
  const edges = new Map<string, ServiceGraphEdgeJson & { serverSum: number; clientSum: number }>();
  for (const a of answers) {
    if ('error' in a) {
      errors.push(`${a.generator}: ${a.error}`);
      continue;
    }
    answered++;
    if (!a.graph.enabled) continue;
    enabled = true;
    windowSeconds = Math.max(windowSeconds, a.graph.windowSeconds);
    for (const e of a.graph.edges) {
      const key = JSON.stringify([e.client, e.server, e.connectionType]);
      let m = edges.get(key);
      if (!m) {
        m = {
          client: e.client,
          server: e.server,
          connectionType: e.connectionType,
          requests: 0,
          failed: 0,
          requestRate: 0,
          failedRate: 0,
          serverLatencySeconds: 0,
          clientLatencySeconds: 0,
          serverSum: 0,
          clientSum: 0,
        };
        edges.set(key, m);
      }
      m.requests += e.requests;
      m.failed += e.failed;
      m.requestRate += e.requestRate;
      m.failedRate += e.failedRate;
      m.serverSum += e.serverSecondsSum;
      m.clientSum += e.clientSecondsSum;
    }
  }
  const out: ServiceGraphEdgeJson[] = [];
  const nodes = new Map<string, ServiceGraphNodeJson>();
  const node = (id: string): ServiceGraphNodeJson => {
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { id, requests: 0, failed: 0, requestRate: 0, failedRate: 0 }));
    return n;
  };
  for (const { serverSum, clientSum, ...e } of edges.values()) {
    e.serverLatencySeconds = e.requests > 0 ? serverSum / e.requests : 0;
    e.clientLatencySeconds = e.requests > 0 ? clientSum / e.requests : 0;
    out.push(e);
    node(e.client);
    const s = node(e.server);
    s.requests += e.requests;
    s.failed += e.failed;
    s.requestRate += e.requestRate;
    s.failedRate += e.failedRate;
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  out.sort((a, b) => byName(a.client, b.client) || byName(a.server, b.server) || byName(a.connectionType, b.connectionType));
  return {
    status: answers.length === 0 ? 'no-generators' : enabled || answered === 0 ? 'ok' : 'disabled',
    generators: answers.length,
    failedGenerators: errors.length,
    errors,
    windowSeconds,
    nodes: [...nodes.values()].sort((a, b) => byName(a.id, b.id)),
    edges: out,
  };
}
