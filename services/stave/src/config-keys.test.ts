// Every config key is honest: each leaf key the schema declares is either read by the running code, or
// marked `c.ignored()` (Stave will not do it) or `c.pending()` (not in effect yet), both of which warn
// when set, or `c.only()` (one value, the one the code does). "Read" is measured, not declared: the
// loaded config is wrapped in a recording proxy, every target is started in process with a little traffic
// (push, query by ID, flush), and each remote backend is built and asked to do every operation.
// A read proves the code looked at the value, not that it used it well: that is each component's tests.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createObjectStore } from '@stave/backend';
import { BLOCK_CACHE_DEFAULTS, FORMAT } from '@stave/block';
import {
  App,
  c,
  declaredKeys,
  defaultConfig,
  LEGACY_OVERRIDES,
  Logger,
  Overrides,
  staveConfigSchema,
  type DeclaredKey,
  type Field,
  type StaveConfig,
} from '@stave/server';
import { runCli } from './cli';
import { ringConfig } from './options';
import { COMPONENTS, staveModules } from './modules';

/** Wraps `value` so that every own property read through it adds its dotted path to `read`. */
function recording<T>(value: T, read: Set<string>, at = ''): T {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value as object, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop === 'symbol' || !Object.prototype.hasOwnProperty.call(target, prop)) return v;
      const p = Array.isArray(target) ? (/^\d+$/.test(prop) ? `${at}[]` : at) : at ? `${at}.${prop}` : prop;
      read.add(p);
      return recording(v, read, p);
    },
  }) as T;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'stave-config-keys-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function configYaml(dir: string): string {
  const overrides = path.join(dir, 'overrides.yaml');
  writeFileSync(overrides, 'overrides:\n  tenant-a:\n    ingestion:\n      rate_limit_bytes: 1000000\n');
  return `
server:
  http_listen_address: 127.0.0.1
  http_listen_port: 0
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: 0
  log_level: error
distributor:
  receivers:
    otlp:
      protocols:
        grpc: { endpoint: "127.0.0.1:0" }
        http: { endpoint: "127.0.0.1:0" }
    jaeger:
      protocols:
        grpc: { endpoint: "127.0.0.1:0" }
        thrift_http: { endpoint: "127.0.0.1:0" }
        thrift_compact: { endpoint: "127.0.0.1:0" }
        thrift_binary: { endpoint: "127.0.0.1:0" }
    zipkin: { endpoint: "127.0.0.1:0" }
ingester:
  lifecycler:
    interface_names: [lo] # no address: the ingester advertises lo's, 127.0.0.1
    min_ready_duration: 0s
  trace_idle_period: 1s
memberlist:
  bind_addr: [127.0.0.1]
  bind_port: 0
  advertise_addr: 127.0.0.1
  advertise_port: 0 # the bound port
storage:
  trace:
    wal: { path: ${JSON.stringify(path.join(dir, 'wal'))} }
    local: { path: ${JSON.stringify(path.join(dir, 'blocks'))} }
    blocklist_poll: 1s
compactor:
  ring:
    wait_stability_min_duration: 0s
  compaction:
    compaction_cycle: 100ms
metrics_generator:
  registry:
    collection_interval: 100ms
  storage:
    path: ${JSON.stringify(path.join(dir, 'generator'))}
    remote_write_flush_deadline: 100ms
    remote_write: # nothing listens: the sender retries until the flush deadline at stop
      - url: http://127.0.0.1:1/api/v1/write
        name: nowhere
        headers: { x-test: config-keys }
        send_exemplars: true
        authorization: { credentials: config-keys }
overrides:
  defaults:
    metrics_generator:
      processors: [span-metrics, service-graphs]
  per_tenant_override_config: ${JSON.stringify(overrides)}
`;
}

/** Loads the config the way the CLI does, and returns it wrapped in a recorder. */
async function loadRecorded(dir: string, read: Set<string>, target: string, args: string[] = []): Promise<StaveConfig> {
  const file = path.join(dir, 'stave.yaml');
  writeFileSync(file, `target: ${target}\n${configYaml(dir)}`);
  let wrapped: StaveConfig | undefined;
  const code = await runCli([`-config.file=${file}`, '-config.verify', ...args], {
    stdout: () => undefined,
    stderr: () => undefined,
    wrapConfig: (config) => (wrapped = recording(structuredClone(config), read)),
  });
  expect(code).toBe(0);
  return wrapped!;
}

type LogLine = Record<string, unknown>;

function capturingLogger(lines: LogLine[]): Logger {
  return new Logger('info', 'json', {}, { write: (line) => void lines.push(JSON.parse(line) as LogLine) });
}

const buildInfo = { version: '0.0.0', revision: 'test', branch: 'test', buildUser: '', buildDate: '' };

interface Running {
  readonly app: App;
  readonly base: string;
  readonly logs: LogLine[];
}

async function startTarget(target: string, read: Set<string>, args: string[] = []): Promise<Running> {
  const dir = mkdtempSync(path.join(tmp, `${target}-`));
  const config = await loadRecorded(dir, read, target, args);
  const logs: LogLine[] = [];
  const app = new App(staveModules(), { config, target, buildInfo, logger: capturingLogger(logs) });
  try {
    await app.start();
  } catch (err) {
    await app.shutdown();
    throw err;
  }
  return { app, base: `http://127.0.0.1:${app.ctx.http.address().port}`, logs };
}

async function runTarget(target: string, read: Set<string>, traffic?: (r: Running) => Promise<void>): Promise<void> {
  const r = await startTarget(target, read);
  try {
    if (traffic) await traffic(r);
  } finally {
    expect(await r.app.shutdown()).toBe(true);
  }
}

/** Bounded wait for a real condition (no sleeping a guessed time). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const TRACE_ID = '0123456789abcdef0123456789abcdef';

/** Pushes one trace to the process's OTLP HTTP receiver; resolves with the HTTP status. */
async function pushTrace({ logs }: Running): Promise<number> {
  const listening = logs.find((l) => l.msg === 'receiver listening' && l.receiver === 'otlp_http');
  expect(listening).toBeDefined();
  const now = BigInt(Date.now()) * 1_000_000n;
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'config-keys' } }] },
        scopeSpans: [
          {
            spans: [{ traceId: TRACE_ID, spanId: '0123456789abcdef', name: 'op', startTimeUnixNano: String(now - 1_000_000n), endTimeUnixNano: String(now) }],
          },
        ],
      },
    ],
  };
  const res = await fetch(`http://127.0.0.1:${String(listening!.port)}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Push one trace, read it back by ID, flush, read it again, and ask the search API. Not /status/config:
 * printing the config reads every key.
 */
async function pushQueryFlush(r: Running): Promise<void> {
  const { base } = r;
  expect(await pushTrace(r)).toBe(200);
  // Read-your-writes: an acknowledged push is readable at once.
  expect((await fetch(`${base}/api/traces/${TRACE_ID}`)).status).toBe(200);
  expect((await fetch(`${base}/flush`)).status).toBe(204);
  expect((await fetch(`${base}/api/traces/${TRACE_ID}`)).status).toBe(200);
  // A compaction cycle over the flushed block: retention reads the tenant's block_retention.
  await until('the compactor to write the tenant index', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /^stave_compactor_tenant_index_writes_total [1-9]/m.test(text);
  });
  // The metrics-generator got the trace (forwarded in process) and its registry collected it.
  await until('the metrics-generator to collect the tenant', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /^tempo_metrics_generator_registry_collections_total\{tenant="single-tenant"\} [1-9]/m.test(text);
  });
  for (const p of [
    '/api/search?tags=service.name%3Dconfig-keys',
    '/api/search/tags',
    '/api/v2/search/tags',
    '/api/search/tag/service.name/values',
    '/ready',
    '/metrics',
  ]) {
    await (await fetch(`${base}${p}`)).arrayBuffer();
  }
}

/** Every operation of the store, each allowed to fail (nothing listens): the keys read on the way count. */
async function exerciseStore(config: StaveConfig): Promise<void> {
  const store = createObjectStore(config.storage.trace, { sleep: () => Promise.resolve() });
  try {
    const data = new Uint8Array(16);
    const ops = [
      () => store.write('t/b/meta.json', data),
      () => store.read('t/b/meta.json'),
      () => store.readRange('t/b/data', 0, 4),
      () => store.stat('t/b/data'),
      () => store.list('t/', { delimiter: '/' }),
      () => store.delete('t/b/meta.json'),
    ];
    for (const op of ops) await op().catch(() => undefined);
  } finally {
    await store.close();
  }
}

// Each remote backend, pointed at a closed port. Azure reads one credential of three: one store each.
const UNREACHABLE = '127.0.0.1:1';
const BACKENDS: Record<string, string[]> = {
  s3: [
    '-storage.trace.backend=s3',
    '-storage.trace.s3.bucket=b',
    `-storage.trace.s3.endpoint=${UNREACHABLE}`,
    '-storage.trace.s3.insecure=true',
    '-storage.trace.s3.access-key=k',
    '-storage.trace.s3.secret-key=s',
    '-storage.trace.s3.session-token=t',
  ],
  gcs: ['-storage.trace.backend=gcs', '-storage.trace.gcs.bucket-name=b', `-storage.trace.gcs.endpoint=${UNREACHABLE}`, '-storage.trace.gcs.insecure=true'],
  'azure (connection string)': [
    '-storage.trace.backend=azure',
    '-storage.trace.azure.container-name=c',
    `-storage.trace.azure.connection-string=DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://${UNREACHABLE}/a;`,
  ],
  'azure (account key)': [
    '-storage.trace.backend=azure',
    '-storage.trace.azure.container-name=c',
    '-storage.trace.azure.storage-account-name=a',
    '-storage.trace.azure.storage-account-key=a2V5',
    `-storage.trace.azure.endpoint-suffix=${UNREACHABLE}`,
  ],
  'azure (SAS token)': [
    '-storage.trace.backend=azure',
    '-storage.trace.azure.container-name=c',
    '-storage.trace.azure.storage-account-name=a',
    '-storage.trace.azure.sas-token=sv=1',
    `-storage.trace.azure.endpoint-suffix=${UNREACHABLE}`,
  ],
};

/**
 * Keys read only where nothing started here can reach, each mapped to the code that reads it. Empty today:
 * prefer covering a key by starting a target with the config that makes the code read it (as the backends
 * and the distributor with a remote ingester are, below).
 */
const READ_ELSEWHERE: Record<string, string> = {};

const EXCEPTIONS = new Set(Object.keys(READ_ELSEWHERE));

/**
 * Holds every declared key to its kind: a key marked read must have been read (or be an exception); a key
 * marked ignored or pending must not have been (then the code honours it: drop the marker); an exception
 * must be a declared, unread key.
 */
function audit(keys: readonly DeclaredKey[], wasRead: (key: string) => boolean) {
  const declared = new Map(keys.map((k) => [k.path, k]));
  return {
    readByNothing: keys.filter((k) => k.status === 'read' && !wasRead(k.path) && !EXCEPTIONS.has(k.path)).map((k) => k.path),
    markedButRead: keys.filter((k) => (k.status === 'ignored' || k.status === 'pending') && wasRead(k.path)).map((k) => `${k.path} (${k.status})`),
    staleExceptions: [...EXCEPTIONS].filter((p) => declared.get(p)?.status !== 'read' || wasRead(p)),
  };
}

describe('config keys', () => {
  const read = new Set<string>();
  // defaultLimits() copies the whole `overrides.defaults` section to lay the legacy flat keys over it,
  // which reads every key and proves nothing: limits count as read when a component reads them from
  // Overrides.forTenant, the one way components get them (the result is cloned: parsed limits are frozen,
  // and a proxy may not hand out wrapped values of frozen properties).
  const limitsRead = new Set<string>();
  const forTenant = Overrides.prototype.forTenant;
  beforeAll(() => {
    jest.spyOn(Overrides.prototype, 'forTenant').mockImplementation(function (this: Overrides, tenant: string) {
      return recording(structuredClone(forTenant.call(this, tenant)), limitsRead, 'overrides.defaults');
    });
  });
  afterAll(() => jest.restoreAllMocks());
  // A legacy flat key (`overrides.max_bytes_per_trace`) is as real as its scoped twin.
  const legacy = new Map(LEGACY_OVERRIDES.map(([flat, scoped]) => [`overrides.${flat}`, `overrides.defaults.${scoped.join('.')}`]));
  const wasRead = (key: string): boolean => {
    const k = legacy.get(key) ?? key;
    return k.startsWith('overrides.defaults.') ? limitsRead.has(k) : read.has(k);
  };

  it.each([...COMPONENTS])('records the keys -target=%s reads', async (target) => {
    await runTarget(target, read);
  });

  it.each(['all', 'scalable-single-binary'])('records the keys -target=%s reads while it takes, serves and flushes a trace', async (target) => {
    await runTarget(target, read, pushQueryFlush);
  });

  it('records the keys a distributor reads when its ingester runs in another process', async () => {
    const ingester = await startTarget('ingester', read);
    try {
      const gossip = ingester.logs.find((l) => l.msg === 'memberlist listening')?.advertise;
      expect(gossip).toEqual(expect.any(String));
      const distributor = await startTarget('distributor', read, [`-memberlist.join-members=${String(gossip)}`]);
      try {
        await until('the distributor to see the ingester ACTIVE', async () => {
          const res = await fetch(`${distributor.base}/ingester/ring`, { headers: { accept: 'application/json' } });
          const ring = (await res.json()) as { shards: Array<{ state: string }> };
          return ring.shards.some((s) => s.state === 'ACTIVE');
        });
        expect(await pushTrace(distributor)).toBe(200);
      } finally {
        expect(await distributor.app.shutdown()).toBe(true);
      }
    } finally {
      expect(await ingester.app.shutdown()).toBe(true);
    }
  });

  it.each(Object.keys(BACKENDS))('records the keys the %s backend reads', async (backend) => {
    const dir = mkdtempSync(path.join(tmp, 'backend-'));
    const flags = [...BACKENDS[backend]!, '-storage.trace.request-timeout=1s', '-storage.trace.backoff.max-retries=1'];
    await exerciseStore(await loadRecorded(dir, read, 'all', flags));
  });

  // Processes here bind gRPC to 127.0.0.1, which rings advertise; the interface keys choose the address only
  // when gRPC listens on every interface. Ring options are built without starting anything: no traffic
  // leaves loopback.
  it('records the keys ring options read when gRPC listens on every interface', async () => {
    const dir = mkdtempSync(path.join(tmp, 'rings-'));
    const config = await loadRecorded(dir, read, 'all', ['-server.grpc-listen-address=0.0.0.0']);
    for (const kind of ['ingester', 'distributor', 'compactor', 'metrics-generator'] as const) expect(ringConfig(config, kind).instanceHost).toBeDefined();
  });

  it('finds every key read by the code, or marked ignored or pending', () => {
    const { readByNothing } = audit(declaredKeys(staveConfigSchema), wasRead);
    // A key here is accepted and then has no effect: wire it where its component reads config, or mark
    // it c.ignored(why) / c.pending(field, why) in libs/server/src/config/stave-config.ts.
    expect(readByNothing).toEqual([]);
  });

  it('finds no ignored or pending key read by the code (drop the marker of a key that now works)', () => {
    expect(audit(declaredKeys(staveConfigSchema), wasRead).markedButRead).toEqual([]);
  });

  it('finds every exception still needed', () => {
    expect(audit(declaredKeys(staveConfigSchema), wasRead).staleExceptions).toEqual([]);
  });

  it('catches a new key that nothing reads, and accepts it once it is marked', () => {
    const withKey = (field: Field<unknown>) => declaredKeys(c.object({ ...staveConfigSchema.shape, new_key: field }));
    expect(audit(withKey(c.int(1)), wasRead).readByNothing).toEqual(['new_key']);
    expect(audit(withKey(c.ignored('no')), wasRead).readByNothing).toEqual([]);
    expect(audit(withKey(c.pending(c.int(1), 'later')), wasRead).readByNothing).toEqual([]);
  });

  it('reports the block format Stave writes', () => {
    expect(defaultConfig().storage.trace.block.version).toBe(FORMAT);
  });

  it("declares the block cache's budgets as the cache's own defaults (one truth: BLOCK_CACHE_DEFAULTS)", () => {
    const bc = defaultConfig().storage.trace.block_cache;
    expect({ bytes: bc.max_size_bytes, pageBytes: bc.trace_pages_max_size_bytes }).toEqual({ ...BLOCK_CACHE_DEFAULTS });
  });
});
