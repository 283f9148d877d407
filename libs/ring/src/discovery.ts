// Resolving memberlist.join_members into "host:port" addresses to push/pull with. Forms (dskit's, plus one
// for Kubernetes):
//
//   host:port, [v6]:port, host         static (the port defaults to memberlist.bind_port)
//   dns+name:port                      A and AAAA records of name (then the hosts file, so localhost works)
//   dnssrv+_service._proto.name        SRV records: each target:port, targets resolved to A/AAAA
//   dnssrvnoa+_service._proto.name     SRV records: each target:port, targets left as names
//   kubernetes+namespace/selector:port EndpointSlices in `namespace` matching the label selector, listed
//                                      through @kubernetes/client-node; `port` is a number or the name of
//                                      a port in the slice (e.g. gossip-ring); endpoints that are
//                                      terminating are skipped, not-ready ones kept (a member joins the
//                                      ring before it is ready, as Tempo's publishNotReadyAddresses does)
//
// A member that fails to resolve is reported in `errors` and the rest are still used.

import dns from 'node:dns';
import { hostPort, splitHostPort } from './memberlist-addr';

export type JoinMember =
  | { kind: 'static'; host: string; port: number }
  | { kind: 'dns'; name: string; port: number }
  | { kind: 'dnssrv'; name: string; resolveTargets: boolean }
  | { kind: 'kubernetes'; namespace: string; labelSelector: string; port: number | string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses one join_members entry; throws an Error naming the entry and what is wrong with it. */
export function parseJoinMember(entry: string, defaultPort: number): JoinMember {
  const s = entry.trim();
  if (s === '') throw new Error('memberlist.join_members: empty entry');
  if (s.startsWith('dns+')) {
    const { host, port } = splitHostPort(s.slice(4), defaultPort);
    return { kind: 'dns', name: host, port };
  }
  if (s.startsWith('dnssrv+') || s.startsWith('dnssrvnoa+')) {
    const noA = s.startsWith('dnssrvnoa+');
    const name = s.slice(noA ? 10 : 7);
    if (name === '' || name.includes(':')) throw new Error(`memberlist.join_members: "${entry}": dnssrv+ takes a record name without a port`);
    return { kind: 'dnssrv', name, resolveTargets: !noA };
  }
  if (s.startsWith('kubernetes+')) {
    const rest = s.slice('kubernetes+'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new Error(`memberlist.join_members: "${entry}": expected kubernetes+<namespace>/<label selector>[:<port>]`);
    const namespace = rest.slice(0, slash);
    if (!DNS_LABEL.test(namespace) || namespace.length > 63) throw new Error(`memberlist.join_members: "${entry}": "${namespace}" is not a namespace name`);
    let selector = rest.slice(slash + 1);
    let port: number | string = defaultPort;
    const colon = selector.lastIndexOf(':');
    if (colon >= 0) {
      const p = selector.slice(colon + 1);
      selector = selector.slice(0, colon);
      if (/^\d+$/.test(p)) {
        port = Number(p);
        if (port < 1 || port > 65535) throw new Error(`memberlist.join_members: "${entry}": port ${p} out of range`);
      } else if (PORT_NAME.test(p) && p.length <= 15) {
        port = p;
      } else {
        throw new Error(`memberlist.join_members: "${entry}": "${p}" is neither a port number nor a port name`);
      }
    }
    if (selector.trim() === '') throw new Error(`memberlist.join_members: "${entry}": the label selector is empty (it would join every pod in ${namespace})`);
    return { kind: 'kubernetes', namespace, labelSelector: selector, port };
  }
  const { host, port } = splitHostPort(s, defaultPort);
  return { kind: 'static', host, port };
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The part of node:dns's Resolver that discovery uses (a Resolver pointed at a test server in tests). */
export interface DnsResolver {
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

export type KubernetesClientModule = typeof import('@kubernetes/client-node');

export interface KubernetesDiscoveryOptions {
  /**
   * Loads @kubernetes/client-node, an ES module, on first use (so processes that never use the kubernetes+
   * form never load it). Default: a native import(). Jest on Node 20 cannot import ES modules, so tests
   * inject a loader that runs outside its module registry.
   */
  loadClient?: () => Promise<KubernetesClientModule>;
  /** API server URL and bearer token. Default: the in-cluster service account, else ~/.kube/config. */
  server?: string;
  token?: string;
  /** EndpointSlices per list page (500) and pages at most (20). */
  pageSize?: number;
  maxPages?: number;
}

export interface DiscoveryOptions {
  /** The port for entries without one (memberlist.bind_port). */
  defaultPort: number;
  dns?: DnsResolver;
  /** Hosts-file fallback for dns+ names with no A/AAAA records. Default: dns.promises.lookup. */
  lookup?: (name: string) => Promise<string[]>;
  kubernetes?: KubernetesDiscoveryOptions;
  /** Deadline for each lookup or API call (5 s). */
  timeoutMs?: number;
}

export interface ResolvedMembers {
  /** "host:port", deduplicated, in the order found. */
  addresses: string[];
  /** One line per entry that failed, naming it. */
  errors: string[];
}

export async function resolveJoinMembers(entries: readonly string[], opts: DiscoveryOptions): Promise<ResolvedMembers> {
  const errors: string[] = [];
  const found = await Promise.all(
    entries.map(async (entry) => {
      try {
        return await resolveOne(parseJoinMember(entry, opts.defaultPort), opts);
      } catch (err) {
        errors.push(`${entry}: ${err instanceof Error ? err.message : String(err)}`);
        return [];
      }
    }),
  );
  return { addresses: [...new Set(found.flat())], errors };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    t.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

function defaultResolver(timeoutMs: number): DnsResolver {
  return new dns.promises.Resolver({ timeout: Math.min(timeoutMs, 2000), tries: 2 });
}

async function defaultLookup(name: string): Promise<string[]> {
  const all = await dns.promises.lookup(name, { all: true });
  return all.map((a) => a.address);
}

async function resolveAddresses(name: string, opts: DiscoveryOptions): Promise<string[]> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const resolver = opts.dns ?? defaultResolver(timeoutMs);
  const [v4, v6] = await Promise.allSettled([
    withTimeout(resolver.resolve4(name), timeoutMs, `A lookup of ${name}`),
    withTimeout(resolver.resolve6(name), timeoutMs, `AAAA lookup of ${name}`),
  ]);
  const out = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (out.length > 0) return out;
  try {
    const fromHosts = await withTimeout((opts.lookup ?? defaultLookup)(name), timeoutMs, `lookup of ${name}`);
    if (fromHosts.length > 0) return fromHosts;
  } catch {
    // Report the DNS error below: it says more than the hosts-file miss.
  }
  const reason = v4.status === 'rejected' ? String((v4.reason as Error)?.message ?? v4.reason) : 'no A or AAAA records';
  throw new Error(`no addresses for ${name} (${reason})`);
}

async function resolveOne(m: JoinMember, opts: DiscoveryOptions): Promise<string[]> {
  switch (m.kind) {
    case 'static':
      return [hostPort(m.host, m.port)];
    case 'dns':
      return (await resolveAddresses(m.name, opts)).map((a) => hostPort(a, m.port));
    case 'dnssrv': {
      const timeoutMs = opts.timeoutMs ?? 5000;
      const resolver = opts.dns ?? defaultResolver(timeoutMs);
      const records = await withTimeout(resolver.resolveSrv(m.name), timeoutMs, `SRV lookup of ${m.name}`);
      if (records.length === 0) throw new Error(`no SRV records for ${m.name}`);
      const out: string[] = [];
      for (const r of records) {
        if (!m.resolveTargets) {
          out.push(hostPort(r.name, r.port));
          continue;
        }
        try {
          for (const a of await resolveAddresses(r.name, opts)) out.push(hostPort(a, r.port));
        } catch {
          out.push(hostPort(r.name, r.port)); // leave the name for the dialer to resolve
        }
      }
      return out;
    }
    case 'kubernetes':
      return listEndpointSlices(m, opts.kubernetes ?? {}, opts.timeoutMs ?? 5000);
  }
}

interface SlicePort {
  name?: string;
  port?: number;
}

async function listEndpointSlices(m: Extract<JoinMember, { kind: 'kubernetes' }>, opts: KubernetesDiscoveryOptions, timeoutMs: number): Promise<string[]> {
  const k8s = await (opts.loadClient ?? (() => import('@kubernetes/client-node')))();
  const kc = new k8s.KubeConfig();
  if (opts.server) {
    kc.loadFromOptions({
      // client-node refuses plain http unless told to skip TLS verification; there is no TLS to verify.
      clusters: [{ name: 'stave', server: opts.server, skipTLSVerify: opts.server.startsWith('http://') }],
      users: [{ name: 'stave', ...(opts.token ? { token: opts.token } : {}) }],
      contexts: [{ name: 'stave', cluster: 'stave', user: 'stave' }],
      currentContext: 'stave',
    });
  } else {
    kc.loadFromDefault();
  }
  const api = kc.makeApiClient(k8s.DiscoveryV1Api);
  const out: string[] = [];
  const pageSize = opts.pageSize ?? 500;
  const maxPages = opts.maxPages ?? 20;
  let cont: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    let res;
    try {
      res = await withTimeout(
        api.listNamespacedEndpointSlice({ namespace: m.namespace, labelSelector: m.labelSelector, limit: pageSize, ...(cont ? { _continue: cont } : {}) }),
        timeoutMs,
        `listing EndpointSlices in ${m.namespace}`,
      );
    } catch (err) {
      throw new Error(`listing EndpointSlices in namespace ${m.namespace} with selector "${m.labelSelector}": ${describeApiError(err)}`, { cause: err });
    }
    for (const slice of res.items ?? []) {
      const port = slicePort(slice.ports ?? [], m.port);
      if (port === undefined) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.terminating === true) continue;
        for (const a of ep.addresses ?? []) out.push(hostPort(a, port));
      }
    }
    cont = res.metadata?._continue || undefined;
    if (!cont) return out;
  }
  throw new Error(`more than ${maxPages} pages of ${pageSize} EndpointSlices in namespace ${m.namespace} for selector "${m.labelSelector}"`);
}

function slicePort(ports: readonly SlicePort[], want: number | string): number | undefined {
  if (typeof want === 'number') return want;
  return ports.find((p) => p.name === want)?.port;
}

function describeApiError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    const msg = statusMessage(e.body);
    return `HTTP ${e.code}${msg ? `: ${msg}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The `message` of a Kubernetes Status body (a string or already parsed), else the body itself. */
function statusMessage(body: unknown): string {
  try {
    const parsed = typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string } | undefined);
    return parsed?.message ?? '';
  } catch {
    return String(body ?? '');
  }
}
