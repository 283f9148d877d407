/**
 * @jest-environment ./libs/ring/src/testing/node-import-environment.ts
 */
// Kubernetes discovery through the real @kubernetes/client-node against the API double in
// test/support/k8s-api.ts. The client is an ES module, loaded with Node's own loader (see the environment).
import path from 'node:path';
import { resolveJoinMembers, type KubernetesClientModule } from './discovery';

// The double lives in the cross-package test folder (outside this package's TypeScript root), so it is
// imported by a computed path at run time and typed by the part of its API this test uses; test/'s own
// TypeScript project type-checks the file itself.
interface EndpointSliceFixture {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  ports?: Array<{ name?: string; port: number; protocol?: string }>;
  endpoints: Array<{ addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }>;
}
interface FakeKubernetesApi {
  readonly url: string;
  readonly requests: Array<{ path: string; query: Record<string, string>; authorization: string | undefined }>;
  put(slice: EndpointSliceFixture): void;
  close(): Promise<void>;
}
type K8sApiModule = { FakeKubernetesApi: { start(opts?: { token?: string }): Promise<FakeKubernetesApi> } };
const doublePath = path.resolve(__dirname, '../../../test/support/k8s-api');

const loadClient = () =>
  (globalThis as unknown as { __nodeImport: (s: string) => Promise<KubernetesClientModule> }).__nodeImport(require.resolve('@kubernetes/client-node'));

describe('kubernetes+ join members', () => {
  let api: FakeKubernetesApi;

  beforeAll(async () => {
    const { FakeKubernetesApi } = (await import(doublePath)) as K8sApiModule;
    api = await FakeKubernetesApi.start({ token: 'sekret' });
    const gossipPorts = [
      { name: 'gossip-ring', port: 7946, protocol: 'TCP' },
      { name: 'http', port: 3200 },
    ];
    api.put({
      namespace: 'tempo',
      name: 'gossip-ring-abc12',
      labels: { 'kubernetes.io/service-name': 'gossip-ring', 'app.kubernetes.io/name': 'tempo' },
      ports: gossipPorts,
      endpoints: [
        { addresses: ['10.0.0.1'], conditions: { ready: true } },
        { addresses: ['10.0.0.2'], conditions: { ready: false } },
        { addresses: ['10.0.0.3'], conditions: { ready: false, terminating: true } },
      ],
    });
    api.put({
      namespace: 'tempo',
      name: 'gossip-ring-def34',
      labels: { 'kubernetes.io/service-name': 'gossip-ring', 'app.kubernetes.io/name': 'tempo' },
      ports: gossipPorts,
      endpoints: [{ addresses: ['10.0.0.4'] }],
    });
    api.put({
      namespace: 'tempo',
      name: 'query-frontend-x',
      labels: { 'kubernetes.io/service-name': 'query-frontend', 'app.kubernetes.io/name': 'tempo' },
      ports: [{ name: 'http', port: 3200 }],
      endpoints: [{ addresses: ['10.0.9.9'] }],
    });
    api.put({
      namespace: 'other',
      name: 'gossip-ring-zzz',
      labels: { 'kubernetes.io/service-name': 'gossip-ring', 'app.kubernetes.io/name': 'tempo' },
      ports: gossipPorts,
      endpoints: [{ addresses: ['10.9.0.1'] }],
    });
  });
  afterAll(async () => {
    await api.close();
  });

  const opts = (extra: object = {}) => ({ defaultPort: 7946, timeoutMs: 5000, kubernetes: { server: api.url, token: 'sekret', loadClient, ...extra } });

  test('lists EndpointSlices in the namespace by label selector, with a named port; terminating endpoints skipped', async () => {
    const r = await resolveJoinMembers(['kubernetes+tempo/kubernetes.io/service-name=gossip-ring:gossip-ring'], opts());
    expect(r.errors).toEqual([]);
    expect(r.addresses).toEqual(['10.0.0.1:7946', '10.0.0.2:7946', '10.0.0.4:7946']);
    const last = api.requests[api.requests.length - 1]!;
    expect(last.path).toBe('/apis/discovery.k8s.io/v1/namespaces/tempo/endpointslices');
    expect(last.query.labelSelector).toBe('kubernetes.io/service-name=gossip-ring');
    expect(last.authorization).toBe('Bearer sekret');
  });

  test('set-based selectors and a numeric port', async () => {
    const r = await resolveJoinMembers(['kubernetes+tempo/app.kubernetes.io/name=tempo,kubernetes.io/service-name notin (query-frontend):9000'], opts());
    expect(r.errors).toEqual([]);
    expect(r.addresses).toEqual(['10.0.0.1:9000', '10.0.0.2:9000', '10.0.0.4:9000']);
  });

  test('follows continue tokens page by page', async () => {
    const before = api.requests.length;
    const r = await resolveJoinMembers(['kubernetes+tempo/app.kubernetes.io/name=tempo:gossip-ring'], opts({ pageSize: 1 }));
    expect(r.errors).toEqual([]);
    expect(r.addresses).toEqual(['10.0.0.1:7946', '10.0.0.2:7946', '10.0.0.4:7946']);
    const pages = api.requests.slice(before);
    expect(pages.map((p) => p.query.limit)).toEqual(['1', '1', '1']);
    expect(pages[0]!.query.continue).toBeUndefined();
    expect(pages[1]!.query.continue).toBeTruthy();
  });

  test('a page limit bounds the listing and says so', async () => {
    const r = await resolveJoinMembers(['kubernetes+tempo/app.kubernetes.io/name=tempo:gossip-ring'], opts({ pageSize: 1, maxPages: 2 }));
    expect(r.addresses).toEqual([]);
    expect(r.errors[0]).toMatch(/more than 2 pages of 1 EndpointSlices in namespace tempo/);
  });

  test('API errors name the namespace, selector and status', async () => {
    const unauthorized = await resolveJoinMembers(['kubernetes+tempo/app=x:7946'], opts({ token: 'wrong' }));
    expect(unauthorized.errors[0]).toMatch(/listing EndpointSlices in namespace tempo with selector "app=x": HTTP 401/);
    const badSelector = await resolveJoinMembers(['kubernetes+tempo/app in (x:7946'], opts());
    expect(badSelector.errors[0]).toMatch(/HTTP 400: unable to parse requirement/);
  });

  test('no matching slices is an empty list, not an error', async () => {
    const r = await resolveJoinMembers(['kubernetes+nowhere/app=tempo:7946'], opts());
    expect(r).toEqual({ addresses: [], errors: [] });
  });
});
