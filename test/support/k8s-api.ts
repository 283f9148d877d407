// A small Kubernetes API server double for peer-discovery tests (no cluster can run here). It answers what
// discovery uses, the way the real API server does:
//
//   GET /apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices
//   GET /apis/discovery.k8s.io/v1/endpointslices                       (all namespaces)
//
// with `labelSelector` (=, ==, !=, in, notin, exists, !exists — the full equality- and set-based grammar;
// a malformed selector is a 400), `limit` + `continue` pagination (an opaque token; a bad one is a 400;
// items in namespace/name order), an optional bearer token (401 without it), and every error as a
// `Status` object. Anything else is a 404 Status. HTTP on 127.0.0.1, port 0.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndpointSliceFixture {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  ports?: Array<{ name?: string; port: number; protocol?: string }>;
  endpoints: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    hostname?: string;
    nodeName?: string;
  }>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
}

type Requirement =
  { key: string; op: 'exists' | '!exists' } | { key: string; op: '=' | '!='; value: string } | { key: string; op: 'in' | 'notin'; values: string[] };

const NAME = '([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)';
const KEY_RE = new RegExp(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?${NAME}$`);
const VALUE_RE = new RegExp(`^(${NAME})?$`);

export class SelectorError extends Error {}

/** Parses a Kubernetes label selector; throws SelectorError naming the problem. */
export function parseLabelSelector(selector: string): Requirement[] {
  const reqs: Requirement[] = [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new SelectorError(`unbalanced parentheses in "${selector}"`);
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (depth !== 0) throw new SelectorError(`unbalanced parentheses in "${selector}"`);
  parts.push(cur);
  if (selector.trim() === '') return [];
  for (const raw of parts) {
    const p = raw.trim();
    if (p === '') throw new SelectorError(`empty requirement in "${selector}"`);
    let m: RegExpMatchArray | null;
    const checkKey = (k: string) => {
      if (!KEY_RE.test(k)) throw new SelectorError(`invalid label key "${k}"`);
      return k;
    };
    const checkValue = (v: string) => {
      if (!VALUE_RE.test(v)) throw new SelectorError(`invalid label value "${v}"`);
      return v;
    };
    if ((m = p.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim()));
      reqs.push({ key: checkKey(m[1]!), op: m[2] as 'in' | 'notin', values });
    } else if ((m = p.match(/^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      reqs.push({ key: checkKey(m[1]!), op: m[2] === '!=' ? '!=' : '=', value: checkValue(m[3]!) });
    } else if ((m = p.match(/^!\s*(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!), op: '!exists' });
    } else if ((m = p.match(/^(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!), op: 'exists' });
    } else {
      throw new SelectorError(`unable to parse requirement "${p}"`);
    }
  }
  return reqs;
}

export function matchesSelector(labels: Readonly<Record<string, string>>, reqs: readonly Requirement[]): boolean {
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && v === r.value;
      case '!=':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
    }
  });
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class FakeKubernetesApi {
  readonly requests: RecordedRequest[] = [];
  private readonly slices = new Map<string, EndpointSliceFixture & { resourceVersion: number; uid: string }>();
  private resourceVersion = 1000;

  private constructor(
    private readonly server: http.Server,
    private readonly token: string | undefined,
  ) {}

  /** Starts on 127.0.0.1:0. With `token`, every request needs `Authorization: Bearer <token>`. */
  static async start(opts: { token?: string } = {}): Promise<FakeKubernetesApi> {
    const holder: { api?: FakeKubernetesApi } = {};
    const server = http.createServer((req, res) => holder.api!.handle(req, res));
    const api = new FakeKubernetesApi(server, opts.token);
    holder.api = api;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return api;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  /** Creates or replaces an EndpointSlice. */
  put(slice: EndpointSliceFixture): void {
    this.resourceVersion++;
    this.slices.set(`${slice.namespace}/${slice.name}`, { ...slice, resourceVersion: this.resourceVersion, uid: `uid-${slice.namespace}-${slice.name}` });
  }

  remove(namespace: string, name: string): void {
    this.resourceVersion++;
    this.slices.delete(`${namespace}/${name}`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams.entries());
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, authorization: req.headers.authorization });
    req.resume();
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const m = url.pathname.match(/^\/apis\/discovery\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?endpointslices$/);
    if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (req.method !== 'GET') return status(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const namespace = m[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
    if (query.fieldSelector) return status(res, 400, 'BadRequest', 'field selectors are not supported by this test double');
    let reqs: Requirement[];
    try {
      reqs = parseLabelSelector(query.labelSelector ?? '');
    } catch (err) {
      return status(res, 400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`);
    }
    const all = [...this.slices.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, s]) => s)
      .filter((s) => (namespace === undefined || s.namespace === namespace) && matchesSelector(s.labels ?? {}, reqs));
    let offset = 0;
    if (query.continue) {
      try {
        const tok = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { o?: unknown };
        if (typeof tok.o !== 'number' || !Number.isInteger(tok.o) || tok.o < 0) throw new Error('bad offset');
        offset = tok.o;
      } catch {
        return status(res, 400, 'BadRequest', 'continue key is not valid');
      }
    }
    const limit = query.limit ? Number(query.limit) : 0;
    if (!Number.isInteger(limit) || limit < 0) return status(res, 400, 'BadRequest', `invalid limit "${query.limit}"`);
    const page = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next = limit > 0 && offset + limit < all.length ? Buffer.from(JSON.stringify({ o: offset + limit })).toString('base64url') : undefined;
    const body = JSON.stringify({
      kind: 'EndpointSliceList',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { resourceVersion: String(this.resourceVersion), ...(next ? { continue: next, remainingItemCount: all.length - offset - limit } : {}) },
      items: page.map((s) => ({
        metadata: { name: s.name, namespace: s.namespace, labels: s.labels ?? {}, resourceVersion: String(s.resourceVersion), uid: s.uid },
        addressType: s.addressType ?? 'IPv4',
        endpoints: s.endpoints,
        ports: s.ports ?? [],
      })),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
