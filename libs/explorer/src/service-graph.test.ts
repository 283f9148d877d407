// Merging the metrics-generators' service graphs: edges of the same client, server and connection type add
// up (each generator counts the traces it owns), in any order; statuses say why there is no graph.

import { mergeServiceGraphs, type GeneratorAnswer, type GeneratorServiceGraph } from './service-graph';

type EdgeIn = GeneratorServiceGraph['edges'][number];

function edge(client: string, server: string, requests: number, failed: number, over: Partial<EdgeIn> = {}): EdgeIn {
  return {
    client,
    server,
    connectionType: '',
    requests,
    failed,
    requestRate: requests / 60,
    failedRate: failed / 60,
    serverSecondsSum: requests * 0.1,
    clientSecondsSum: requests * 0.12,
    ...over,
  };
}

const g1: GeneratorAnswer = {
  generator: 'generator-1',
  graph: {
    enabled: true,
    windowSeconds: 60,
    edges: [edge('frontend', 'payments', 30, 3), edge('user', 'frontend', 40, 0, { connectionType: 'virtual_node' })],
  },
};
const g2: GeneratorAnswer = {
  generator: 'generator-2',
  graph: {
    enabled: true,
    windowSeconds: 45,
    edges: [edge('frontend', 'payments', 10, 1), edge('payments', 'postgres', 20, 2, { connectionType: 'database', serverSecondsSum: 1, clientSecondsSum: 1 })],
  },
};

describe('mergeServiceGraphs', () => {
  it('adds up the same edge across generators; averages latency over every request; nodes sum what they served', () => {
    const m = mergeServiceGraphs([g1, g2]);
    expect(m).toMatchObject({ status: 'ok', generators: 2, failedGenerators: 0, errors: [], windowSeconds: 60 });
    expect(m.edges.map((e) => [e.client, e.server, e.connectionType, e.requests, e.failed])).toEqual([
      ['frontend', 'payments', '', 40, 4],
      ['payments', 'postgres', 'database', 20, 2],
      ['user', 'frontend', 'virtual_node', 40, 0],
    ]);
    const fp = m.edges[0]!;
    expect(fp.requestRate).toBeCloseTo(40 / 60, 12);
    expect(fp.failedRate).toBeCloseTo(4 / 60, 12);
    expect(fp.serverLatencySeconds).toBeCloseTo(0.1, 12);
    expect(fp.clientLatencySeconds).toBeCloseTo(0.12, 12);
    expect(m.edges[1]!.serverLatencySeconds).toBeCloseTo(1 / 20, 12);
    expect(m.nodes.map((n) => [n.id, n.requests, n.failed])).toEqual([
      ['frontend', 40, 0],
      ['payments', 40, 4],
      ['postgres', 20, 2],
      ['user', 0, 0],
    ]);
  });

  it('gives the same graph whatever order the answers come in', () => {
    const failed: GeneratorAnswer = { generator: 'generator-3 (10.0.0.3:9095)', error: 'deadline exceeded' };
    const orders = [
      [g1, g2, failed],
      [failed, g2, g1],
      [g2, failed, g1],
    ];
    const [first, ...rest] = orders.map((o) => mergeServiceGraphs(o));
    for (const m of rest) expect({ ...m, errors: [...m.errors].sort() }).toEqual({ ...first!, errors: [...first!.errors].sort() });
  });

  it.each<[string, GeneratorAnswer[], Partial<ReturnType<typeof mergeServiceGraphs>>]>([
    ['no generator in the ring', [], { status: 'no-generators', generators: 0, edges: [], nodes: [] }],
    [
      'every generator has service-graphs off for the tenant',
      [
        { generator: 'a', graph: { enabled: false, windowSeconds: 0, edges: [] } },
        { generator: 'b', graph: { enabled: false, windowSeconds: 0, edges: [] } },
      ],
      { status: 'disabled', generators: 2, edges: [] },
    ],
    [
      'one generator did not answer: the rest is a partial graph',
      [g1, { generator: 'b (127.0.0.1:9096)', error: 'connection refused' }],
      { status: 'ok', generators: 2, failedGenerators: 1, errors: ['b (127.0.0.1:9096): connection refused'] },
    ],
    [
      'enabled but nothing seen yet',
      [{ generator: 'a', graph: { enabled: true, windowSeconds: 4, edges: [] } }],
      { status: 'ok', edges: [], windowSeconds: 4 },
    ],
  ])('%s', (_name, answers, want) => {
    expect(mergeServiceGraphs(answers)).toMatchObject(want);
  });
});
