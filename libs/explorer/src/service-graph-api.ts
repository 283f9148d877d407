// `GET <http_api_prefix>/api/explorer/service-graph`: the service graph of the request's tenant, from
// every healthy metrics-generator of the ring, merged (service-graph.ts). Stave's own endpoint (Tempo has
// none: Grafana draws its graph from the traces_service_graph_* series in Prometheus); the explorer's
// service-graph page reads it. A generator that does not answer within its deadline makes the graph
// partial (`failedGenerators`, `errors`); when none answers, 503.

import { Code, ConnectError, resolveTenant } from '@stave/core';
import { sendJson, type Router } from '@stave/server';
import { mergeServiceGraphs, type GeneratorAnswer, type GeneratorServiceGraph } from './service-graph';

export const SERVICE_GRAPH_PATH = '/api/explorer/service-graph';

export interface ServiceGraphApiOptions<G extends GeneratorRef = GeneratorRef> {
  /** `http_api_prefix` */
  apiPrefix: string;
  multitenancy: boolean;
  /** The healthy members of the metrics-generator ring. */
  generators(): readonly G[];
  /** Asks one generator for a tenant's graph (the call carries its own deadline). */
  ask(generator: G, tenant: string): Promise<GeneratorServiceGraph>;
}

/** A ring member: its ID and gRPC address. */
export interface GeneratorRef {
  readonly id: string;
  readonly addr: string;
}

export function mountServiceGraphApi<G extends GeneratorRef>(router: Router, opts: ServiceGraphApiOptions<G>): void {
  const prefix = opts.apiPrefix.replace(/\/$/, '');
  router.handle('GET', `${prefix}${SERVICE_GRAPH_PATH}`, async (req, res) => {
    const org = req.headers['x-scope-orgid'];
    const tenant = resolveTenant(Array.isArray(org) ? org[0] : org, opts.multitenancy);
    const answers = await Promise.all(
      opts.generators().map(async (g): Promise<GeneratorAnswer> =>
        opts.ask(g, tenant).then(
          (graph) => ({ generator: g.id, graph }),
          (err: unknown) => ({ generator: `${g.id} (${g.addr})`, error: err instanceof Error ? err.message : String(err) }),
        ),
      ),
    );
    const graph = mergeServiceGraphs(answers);
    if (answers.length > 0 && graph.failedGenerators === answers.length) {
      throw new ConnectError(`no metrics-generator answered (${graph.errors.join('; ')})`, Code.Unavailable);
    }
    sendJson(res, 200, graph);
  });
}
