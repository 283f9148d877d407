// Stave's module graph: which modules exist, what each depends on, and which are valid -target values.
// Modules wire config to libraries; this file holds no business logic.

import { createObjectStore } from '@stave/backend';
import { BlockCache } from '@stave/block';
import { Compactor, MergeWorker, type MergeRunner } from '@stave/compactor';
import { Distributor, GeneratorForwarder } from '@stave/distributor';
import { mountExplorer, mountServiceGraphApi } from '@stave/explorer';
import {
  Generator,
  GeneratorHost,
  generatorHandlers,
  generatorWorkerAvailable,
  inProcessGeneratorClient,
  remoteGeneratorClient,
  type GeneratorApi,
  type GeneratorClient,
} from '@stave/generator';
import { RemoteWriter, remoteWriterOptions } from '@stave/remote-write';
import {
  compactionJobBytes,
  Ingester,
  IngesterClientPool,
  PUSH_BYTES_PATH,
  pushBytesUnaryHandler,
  remoteIngesterClient,
  WorkMemoryGate,
  type IngesterClient,
} from '@stave/ingester';
import os from 'node:os';
import { Blocklist, frontendProcessHandler, FrontendWorker, inProcessFrontendTransport, jobRunner, Querier, QueryFrontend, RequestQueue } from '@stave/query';
import {
  createLifecycler,
  createRing,
  InMemoryKV,
  JobOwnership,
  memberlistPage,
  MemberlistKV,
  RING_PAGE_PATHS,
  RING_PAGE_TITLES,
  ringKVClient,
  ringPage,
  resolveJoinMembers,
  RingUnavailableError,
  waitInstanceState,
  waitRingStability,
  type InstanceDesc,
  type KVStore,
  type Lifecycler,
  type Ring,
  type RingConfig,
  type RingKind,
} from '@stave/ring';
import {
  BasicService,
  EventLoopCpu,
  ModuleManager,
  Overrides,
  pageHandler,
  ServerService,
  State,
  sendText,
  type AppContext,
  type Service,
} from '@stave/server';
import { Frontend, MetricsGenerator, Pusher, Querier as QuerierService } from '@stave/proto';
import { blockWriteOptions, compactorConfig, generatorConfig, generatorOverrides, memberlistKVOptions, objectStoreOptions, ringConfig } from './options';
import { receiverServices } from './receivers';

/** The components a fleet scales separately; each is also its own deployable under services/. */
export const COMPONENTS = ['distributor', 'ingester', 'querier', 'query-frontend', 'compactor', 'metrics-generator'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The frontend address a single binary's querier uses for its own process's frontend. */
const SELF_FRONTEND = 'in-process';

/** Values modules publish for the modules that depend on them. */
const keys = {
  kv: 'kv-stores',
  ringConfig: 'ingester-ring-config',
  overrides: 'overrides',
  store: 'store',
  ring: 'ring',
  ingesters: 'ingester-clients',
  ingesterReaders: 'ingester-read-clients',
  frontendTransport: 'query-frontend-in-process-transport',
  ingester: 'ingester',
  blockCache: 'block-cache',
  workMemory: 'work-memory',
  blocklist: 'blocklist',
  generatorRingConfig: 'metrics-generator-ring-config',
  generatorRing: 'metrics-generator-ring',
  generator: 'metrics-generator',
} as const;

function get<T>(ctx: AppContext, key: string): T {
  const v = ctx.provided.get(key);
  if (v === undefined) throw new Error(`module value ${key} is not available in target ${ctx.target}`);
  return v as T;
}

/**
 * The process's one block cache, shared by its ingester and querier: blocks are immutable and keyed by
 * tenant and ID, so in one process a just-flushed block held by the ingester and its copy in the backend
 * are read and decompressed once.
 */
function blockCache(ctx: AppContext): BlockCache {
  let c = ctx.provided.get(keys.blockCache) as BlockCache | undefined;
  const budget = ctx.config.storage.trace.block_cache;
  if (!c) ctx.provided.set(keys.blockCache, (c = new BlockCache(budget.max_size_bytes, budget.trace_pages_max_size_bytes)));
  return c;
}

/**
 * The budget for block builds and compaction jobs together (ingester.max_block_building_bytes,
 * @stave/ingester's WorkMemoryGate), in a process that runs both an ingester and a compactor.
 */
function workMemory(ctx: AppContext): WorkMemoryGate | undefined {
  if (ctx.target !== 'all' && ctx.target !== 'scalable-single-binary') return undefined;
  let g = ctx.provided.get(keys.workMemory) as WorkMemoryGate | undefined;
  if (!g) ctx.provided.set(keys.workMemory, (g = new WorkMemoryGate(ctx.config.ingester.max_block_building_bytes)));
  return g;
}

/** A compactor's merges, each waiting for room in `gate` (compactionJobBytes) when there is one. */
function gatedMerger(merger: MergeRunner, gate: WorkMemoryGate | undefined, rowGroupSizeBytes: number): MergeRunner {
  if (!gate) return merger;
  return {
    get available() {
      return merger.available;
    },
    run: (job, check) => gate.run(compactionJobBytes(rowGroupSizeBytes), () => merger.run(job, check)),
    close: () => merger.close(),
  };
}

/** A ring's config, with `all` forced onto the in-process store (one process, nobody to gossip with). */
function ringConfigFor(ctx: AppContext, kind: RingKind): RingConfig {
  const rc = ringConfig(ctx.config, kind);
  if (ctx.target === 'all') rc.store = 'inmemory';
  return rc;
}

/** The read side of a ring, with its status page mounted where Tempo serves it. */
function readRing(ctx: AppContext, rc: RingConfig): Ring {
  const ring = createRing(rc, { kv: ringKVClient(get(ctx, keys.kv), rc), registry: ctx.registry });
  ctx.http.router.handle(['GET', 'POST'], RING_PAGE_PATHS[rc.kind], pageHandler(ringPage(ring, { title: RING_PAGE_TITLES[rc.kind] })));
  return ring;
}

/**
 * This process's entry in a ring: joined once the services before it in the module are running (the
 * lifecycler needs the bound gRPC port), and counted in readiness. On stop: LEAVING, then
 * `beforeUnregister` (the ingester drains here: writes refused, blocks flushed or sealed in the WAL),
 * then gone (unregister_on_shutdown).
 */
function ringMembership(
  ctx: AppContext,
  rc: RingConfig,
  hooks: { beforeUnregister?: () => Promise<void> } = {},
): Service & { lifecycler(): Lifecycler | undefined } {
  let lc: Lifecycler | undefined;
  ctx.readiness.push(() => (lc ? lc.notReadyReason() : `${rc.kind} has not joined its ring`));
  const svc = new BasicService(`${rc.kind}-lifecycler`, {
    starting: async () => {
      lc = createLifecycler(rc, {
        kv: ringKVClient(get(ctx, keys.kv), rc),
        grpcPort: ctx.grpc.address().port,
        logger: ctx.logger.child({ component: 'lifecycler', ring: rc.kind }),
        ...hooks,
      });
      await lc.start();
    },
    stopping: async () => {
      await lc?.stop();
    },
  });
  return Object.assign(svc, { lifecycler: () => lc });
}

/**
 * Runs several services as one module: started in order, stopped in reverse. The group watches its
 * children: one that fails while running fails the group (and so the module: the process exits 1).
 */
class ServiceGroup extends BasicService {
  constructor(
    name: string,
    private readonly services: readonly Service[],
  ) {
    super(name);
    for (const s of services) s.onFailure((err) => this.fail(new Error(`${s.name} failed: ${err.message}`, { cause: err })));
  }

  protected override async starting(): Promise<void> {
    for (const s of this.services) await s.start();
    // A child that failed while a later one was starting: the group does not report Running over it.
    const failed = this.services.find((s) => s.state === State.Failed);
    if (failed) throw new Error(`${failed.name} failed while ${this.name} was starting: ${failed.failureCase?.message ?? 'unknown error'}`);
  }

  protected override async stopping(): Promise<void> {
    for (const s of [...this.services].reverse()) await s.stop();
  }
}

export function group(name: string, services: Service[]): Service {
  return new ServiceGroup(name, services);
}

/**
 * Clients of the metrics-generators, one per ring member: remote ones over Connect with a deadline of
 * `timeoutMs` per call, this process's own (`all`) called directly.
 */
function generatorClients(ctx: AppContext, timeoutMs: number): (inst: InstanceDesc) => GeneratorClient {
  const rc = get<RingConfig>(ctx, keys.generatorRingConfig);
  const clients = new Map<string, GeneratorClient>();
  return (inst) => {
    const local = ctx.provided.get(keys.generator) as GeneratorApi | undefined;
    const key = local && inst.id === rc.instanceId ? 'in-process' : inst.addr;
    let c = clients.get(key);
    if (!c) {
      c =
        key === 'in-process'
          ? inProcessGeneratorClient(local!)
          : remoteGeneratorClient({ address: inst.addr, timeoutMs, maxMessageBytes: ctx.config.server.grpc_server_max_send_msg_size });
      clients.set(key, c);
    }
    return c;
  };
}

/** The distributor's forwarder to metrics-generators, each call with metrics_generator_client.remote_timeout. */
function generatorForwarder(ctx: AppContext): GeneratorForwarder {
  return new GeneratorForwarder({
    ring: get(ctx, keys.generatorRing),
    client: generatorClients(ctx, ctx.config.metrics_generator_client.remote_timeout),
    logger: ctx.logger,
    registry: ctx.registry,
  });
}

export function staveModules(): ModuleManager<AppContext> {
  const m = new ModuleManager<AppContext>();
  m.register({
    name: 'server',
    deps: [],
    init: (ctx) => {
      return new ServerService(ctx.http, ctx.grpc);
    },
  });

  m.register({
    name: 'overrides',
    deps: [],
    init: (ctx) => {
      const o = Overrides.fromConfig(ctx.config.overrides);
      ctx.provided.set(keys.overrides, o);
      const file = ctx.config.overrides.per_tenant_override_config;
      if (!file) return undefined;
      let timer: NodeJS.Timeout | undefined;
      return new BasicService('overrides', {
        starting: async () => {
          await o.loadPerTenantFile(file, ctx.logger);
          timer = setInterval(() => {
            o.loadPerTenantFile(file, ctx.logger).catch((err: unknown) => ctx.logger.warn('per-tenant overrides not reloaded', { file, err: String(err) }));
          }, ctx.config.overrides.per_tenant_override_period);
          timer.unref();
        },
        stopping: async () => clearInterval(timer),
      });
    },
  });

  m.register({
    name: 'store',
    deps: [],
    init: (ctx) => {
      const store = createObjectStore(objectStoreOptions(ctx.config), { logger: ctx.logger.child({ component: 'backend' }), registry: ctx.registry });
      ctx.provided.set(keys.store, store);
      return new BasicService('store', { stopping: () => store.close() });
    },
  });

  // The tenants' blocklists, polled every `storage.trace.blocklist_poll`: the querier opens blocks from
  // it, and the query-frontend cuts searches into jobs over it (as Tempo's frontend reads its own blocklist).
  // One per process, so a single binary polls once and registers its metrics once.
  m.register({
    name: 'blocklist',
    deps: ['server', 'store'],
    init: (ctx) => {
      const trace = ctx.config.storage.trace;
      const blocklist = new Blocklist(get(ctx, keys.store), trace.blocklist_poll, ctx.logger.child({ component: 'blocklist' }), {
        registry: ctx.registry,
        fallback: trace.blocklist_poll_fallback,
        staleTenantIndexMs: trace.blocklist_poll_stale_tenant_index,
        cache: blockCache(ctx),
      });
      ctx.provided.set(keys.blocklist, blocklist);
      return blocklist;
    },
  });

  // Ring state lives in a KV store: in-process for `all` (one process, RF 1), gossiped by memberlist for
  // every other target (`ingester.lifecycler.ring.kvstore.store`, Tempo's default memberlist).
  m.register({
    name: 'kv',
    deps: ['server'],
    init: (ctx) => {
      const stores: { inmemory: KVStore; memberlist?: MemberlistKV } = { inmemory: new InMemoryKV() };
      ctx.provided.set(keys.kv, stores);
      if (ctx.target === 'all') return undefined;
      const ml = new MemberlistKV(
        memberlistKVOptions(ctx.config.memberlist, { logger: ctx.logger.child({ component: 'memberlist' }), registry: ctx.registry }),
      );
      stores.memberlist = ml;
      ctx.http.router.handle(['GET', 'POST'], '/memberlist', pageHandler(memberlistPage(ml)));
      return ml;
    },
  });

  m.register({
    name: 'ring',
    deps: ['server', 'kv'],
    init: (ctx) => {
      const rc = ringConfigFor(ctx, 'ingester');
      ctx.provided.set(keys.ringConfig, rc);
      const ring = readRing(ctx, rc);
      ctx.provided.set(keys.ring, ring);
      const clients = new IngesterClientPool(
        () => ring.instances().map((i) => i.addr),
        (address) =>
          remoteIngesterClient({
            address,
            timeoutMs: ctx.config.ingester_client.remote_timeout,
            maxMessageBytes: ctx.config.server.grpc_server_max_send_msg_size,
          }),
      );
      const remote = (inst: InstanceDesc): IngesterClient => clients.get(inst.addr);
      // Queriers read ingesters over Connect in every target, this process's own ingester included (over
      // loopback), exactly as they would across machines.
      ctx.provided.set(keys.ingesterReaders, remote);
      // The distributor's pushes to this process's own ingester skip the loopback: the call is the same
      // IngesterClient interface, acknowledged only after the WAL sync either way, and it is the hot path
      // of a single binary (one less copy and encode of every span).
      ctx.provided.set(keys.ingesters, (inst: InstanceDesc): IngesterClient => {
        const local = ctx.provided.get(keys.ingester) as Ingester | undefined;
        if (local && inst.id === rc.instanceId) return local;
        return remote(inst);
      });
      return ring;
    },
  });

  m.register({
    name: 'ingester',
    deps: ['server', 'store', 'overrides', 'ring'],
    userVisible: true,
    init: (ctx) => {
      const cfg = ctx.config;
      // A CPU kept for the event loop where pushes land in the WAL, lifted by the ingester when its block
      // building needs the whole machine (docs/configuration.md).
      const cpu = cfg.server.reserve_event_loop_cpu ? new EventLoopCpu({ logger: ctx.logger.child({ component: 'event-loop-cpu' }) }) : undefined;
      const ing = new Ingester({
        walPath: cfg.storage.trace.wal.path,
        store: get(ctx, keys.store),
        overrides: get(ctx, keys.overrides),
        logger: ctx.logger,
        registry: ctx.registry,
        maxBlockDurationMs: cfg.ingester.max_block_duration,
        maxBlockBytes: cfg.ingester.max_block_bytes,
        traceIdlePeriodMs: cfg.ingester.trace_idle_period,
        completeBlockTimeoutMs: cfg.ingester.complete_block_timeout,
        flushCheckPeriodMs: cfg.ingester.flush_check_period,
        concurrentFlushes: cfg.ingester.concurrent_flushes,
        flushOpTimeoutMs: cfg.ingester.flush_op_timeout,
        flushAllOnShutdown: cfg.ingester.flush_all_on_shutdown,
        budget: {
          maxLiveTracesBytes: cfg.ingester.max_live_traces_bytes,
          maxWalBacklogBytes: cfg.ingester.max_wal_backlog_bytes,
          maxBlockBuildingBytes: cfg.ingester.max_block_building_bytes,
        },
        block: {
          bloomFalsePositive: cfg.storage.trace.block.bloom_filter_false_positive,
          bloomShardSizeBytes: cfg.storage.trace.block.bloom_filter_shard_size_bytes,
          rowGroupSizeBytes: cfg.storage.trace.block.row_group_size_bytes,
        },
        blockCache: blockCache(ctx),
        workMemory: workMemory(ctx),
        cpu,
      });
      ctx.provided.set(keys.ingester, ing);
      ctx.grpc.register((router) => {
        router.service(Pusher, { pushBytes: (req) => ing.pushBytes(req) });
        router.service(QuerierService, {
          findTraceByID: (req) => ing.findTraceByID(req),
          search: (req) => ing.search(req),
          searchTags: (req) => ing.searchTags(req),
        });
      });
      // Distributors push over bare gRPC (grpc-unary.ts); Connect and gRPC-Web pushes take the route above.
      ctx.grpc.registerUnaryBytes(
        PUSH_BYTES_PATH,
        pushBytesUnaryHandler((req) => ing.pushBytes(req)),
      );
      // Cuts and flushes every block; past flush_op_timeout answers 504 naming it (the flushes go on).
      ctx.http.router.handle(['GET', 'POST'], '/flush', async (_req, res) => {
        await ing.flushAll();
        res.writeHead(204).end();
      });
      // The ingester joins its ring (ACTIVE) only once the WAL is replayed; on stop it drains while LEAVING.
      const lifecycle = ringMembership(ctx, get<RingConfig>(ctx, keys.ringConfig), { beforeUnregister: () => ing.drain() });
      // As Tempo's: acknowledged at once, then leave the ring, flush everything whatever
      // flush_all_on_shutdown says, and stop: here the whole process stops, exit 0.
      ctx.http.router.handle(['GET', 'POST'], '/shutdown', (_req, res) => {
        ing.flushOnShutdown = true;
        lifecycle.lifecycler()?.setUnregisterOnShutdown(true);
        sendText(res, 200, 'shutdown job acknowledged\n');
        ctx.requestShutdown('/shutdown');
      });
      return group('ingester', cpu ? [cpu, ing, lifecycle] : [ing, lifecycle]);
    },
  });

  m.register({
    name: 'distributor',
    deps: ['server', 'overrides', 'ring', 'kv', 'metrics-generator-ring'],
    userVisible: true,
    init: (ctx) => {
      // The distributor ring counts the healthy distributors that share a `global` rate limit.
      const rc = ringConfigFor(ctx, 'distributor');
      const distributors = readRing(ctx, rc);
      const generators = generatorForwarder(ctx);
      const d = new Distributor({
        multitenancy: ctx.config.multitenancy_enabled || ctx.config.auth_enabled === true,
        ring: get(ctx, keys.ring),
        ingester: get(ctx, keys.ingesters),
        overrides: get(ctx, keys.overrides),
        healthyDistributors: () => distributors.healthyInstancesCount(),
        retryAfterOnResourceExhaustedMs: ctx.config.distributor.retry_after_on_resource_exhausted,
        generators,
        logger: ctx.logger,
        registry: ctx.registry,
      });
      return group('distributor', [distributors, ringMembership(ctx, rc), generators, d, ...receiverServices(ctx, d)]);
    },
  });

  m.register({
    name: 'querier',
    deps: ['server', 'store', 'ring', 'blocklist'],
    userVisible: true,
    init: (ctx) => {
      const cfg = ctx.config.querier;
      const blocklist = get<Blocklist>(ctx, keys.blocklist);
      const q = new Querier({
        ring: get(ctx, keys.ring),
        ingester: get(ctx, keys.ingesterReaders),
        blocklist,
        queryRelevantIngesters: cfg.query_relevant_ingesters,
      });
      const maxMessageBytes = ctx.config.server.grpc_server_max_send_msg_size;
      const single = ctx.target === 'all' || ctx.target === 'scalable-single-binary';
      const worker = new FrontendWorker({
        frontendAddress: cfg.frontend_worker.frontend_address,
        // In a single binary with no frontend_address, the querier pulls from its own process's frontend,
        // through the same Frontend.Process stream on an in-process transport.
        selfAddress: single ? () => SELF_FRONTEND : undefined,
        transport: (address) => (address === SELF_FRONTEND ? get<ReturnType<typeof inProcessFrontendTransport>>(ctx, keys.frontendTransport) : undefined),
        querierId: `${os.hostname()}-${process.pid}`,
        parallelism: cfg.frontend_worker.parallelism,
        maxConcurrent: cfg.max_concurrent_queries,
        matchMaxConcurrent: cfg.frontend_worker.match_max_concurrent,
        resolveIntervalMs: cfg.frontend_worker.dns_lookup_duration,
        resolve: (entry) => resolveJoinMembers([entry], { defaultPort: ctx.config.server.grpc_listen_port }),
        maxMessageBytes,
        run: jobRunner(q, { traceByIDTimeoutMs: cfg.trace_by_id.query_timeout, searchTimeoutMs: cfg.search.query_timeout }),
        logger: ctx.logger.child({ component: 'frontend-worker' }),
        registry: ctx.registry,
      });
      return group('querier', [q, worker]);
    },
  });

  m.register({
    name: 'query-frontend',
    // The generator ring: the explorer's service-graph page asks every metrics-generator in it.
    deps: ['server', 'blocklist', 'metrics-generator-ring'],
    userVisible: true,
    init: (ctx) => {
      const cfg = ctx.config.query_frontend;
      const blocklist = get<Blocklist>(ctx, keys.blocklist);
      const queue = new RequestQueue({
        maxOutstandingPerTenant: cfg.max_outstanding_per_tenant,
        maxRetries: cfg.max_retries,
        maxBatchSize: cfg.max_batch_size,
        registry: ctx.registry,
      });
      const log = ctx.logger.child({ component: 'query-frontend' });
      ctx.grpc.register((router) => router.service(Frontend, { process: frontendProcessHandler(queue, log) }));
      ctx.provided.set(keys.frontendTransport, inProcessFrontendTransport(queue, log));
      const frontend = new QueryFrontend({
        http: ctx.http,
        apiPrefix: ctx.config.http_api_prefix,
        multitenancy: ctx.config.multitenancy_enabled || ctx.config.auth_enabled === true,
        multiTenantQueries: cfg.multi_tenant_queries_enabled,
        queue,
        queryShards: cfg.trace_by_id.query_shards,
        timeoutMs: ctx.config.querier.trace_by_id.query_timeout,
        hedgeAtMs: cfg.trace_by_id.hedge_requests_at,
        hedgeUpTo: cfg.trace_by_id.hedge_requests_up_to,
        search: {
          defaultLimit: cfg.search.default_result_limit,
          maxLimit: cfg.search.max_result_limit,
          maxDurationMs: cfg.search.max_duration,
          maxSpansPerSpanSet: cfg.search.max_spans_per_span_set,
          timeoutMs: ctx.config.querier.search.query_timeout,
          blocks: (tenant) => blocklist.blocks(tenant),
          concurrentJobs: cfg.search.concurrent_jobs,
          sharding: {
            queryBackendAfterMs: cfg.search.query_backend_after,
            queryIngestersUntilMs: cfg.search.query_ingesters_until,
            targetBytesPerJob: cfg.search.target_bytes_per_job,
            ingesterShards: cfg.search.ingester_shards,
          },
        },
        registry: ctx.registry,
      });
      // The explorer pages at `/`, beside the API they call, and the service graph they read from the
      // metrics-generators (this process's own called directly in `all`).
      mountExplorer(ctx.http.router, { apiPrefix: ctx.config.http_api_prefix });
      const generators = generatorClients(ctx, ctx.config.querier.search.query_timeout);
      mountServiceGraphApi(ctx.http.router, {
        apiPrefix: ctx.config.http_api_prefix,
        multitenancy: ctx.config.multitenancy_enabled || ctx.config.auth_enabled === true,
        generators: () => {
          try {
            return get<Ring>(ctx, keys.generatorRing).getAll().instances;
          } catch (err) {
            // An empty ring: no generator runs (the page says so).
            if (err instanceof RingUnavailableError) return [];
            throw err;
          }
        },
        ask: (g, tenant) => generators(g).serviceGraph(tenant),
      });
      return group('query-frontend', [frontend, new BasicService('request-queue', { stopping: async () => queue.stop() })]);
    },
  });

  // The compactor: compaction, retention and the tenant index, each job owned by one compactor of the
  // compactor ring. Cycles start once this instance is ACTIVE and the ring has settled
  // (compactor.ring.wait_stability_*), in the background, so readiness does not wait for them.
  m.register({
    name: 'compactor',
    deps: ['server', 'kv', 'store', 'overrides'],
    userVisible: true,
    init: (ctx) => {
      const rc = ringConfigFor(ctx, 'compactor');
      const ring = readRing(ctx, rc);
      const ownership = new JobOwnership({ ring, instanceId: rc.instanceId });
      const overrides = get<Overrides>(ctx, keys.overrides);
      const compactor = new Compactor({
        store: get(ctx, keys.store),
        config: compactorConfig(ctx.config),
        owns: (key) => ownership.owns(key),
        blockRetentionFor: (tenant) => overrides.forTenant(tenant).compaction.block_retention,
        write: blockWriteOptions(ctx.config),
        merger: gatedMerger(new MergeWorker(objectStoreOptions(ctx.config)), workMemory(ctx), ctx.config.storage.trace.block.row_group_size_bytes),
        ready: async (signal) => {
          await waitInstanceState(ring, rc.instanceId, 'ACTIVE', rc.waitActiveInstanceTimeoutMs, signal);
          await waitRingStability(ring, { minMs: rc.waitStabilityMinMs, maxMs: rc.waitStabilityMaxMs, signal });
        },
        logger: ctx.logger.child({ component: 'compactor' }),
        registry: ctx.registry,
      });
      return group('compactor', [ring, ringMembership(ctx, rc), compactor]);
    },
  });

  // The metrics-generator ring: read by distributors (which generator owns a trace) and joined by
  // metrics-generators; its page is served by whichever of them runs here.
  m.register({
    name: 'metrics-generator-ring',
    deps: ['server', 'kv'],
    init: (ctx) => {
      const rc = ringConfigFor(ctx, 'metrics-generator');
      ctx.provided.set(keys.generatorRingConfig, rc);
      const ring = readRing(ctx, rc);
      ctx.provided.set(keys.generatorRing, ring);
      return ring;
    },
  });

  // The metrics-generator: span-metrics and service-graphs per tenant (metrics_generator_processors), fed
  // by distributors over MetricsGenerator.PushSpans; every collection its series go to Prometheus remote
  // write (metrics_generator.storage). It joins its ring once it can take spans; on stop it leaves the
  // ring, stops generating, then gives remote write its flush deadline.
  m.register({
    name: 'metrics-generator',
    deps: ['server', 'overrides', 'metrics-generator-ring'],
    userVisible: true,
    init: (ctx) => {
      const multitenancy = ctx.config.multitenancy_enabled || ctx.config.auth_enabled === true;
      const remoteWrite = remoteWriterOptions(ctx.config.metrics_generator.storage, multitenancy);
      const opts = {
        config: generatorConfig(ctx.config),
        // __metrics_gen_instance: the ring instance ID (the host name unless set), so generators on one host stay apart.
        instanceLabel: get<RingConfig>(ctx, keys.generatorRingConfig).instanceId,
        overrides: generatorOverrides(get(ctx, keys.overrides)),
        registry: ctx.registry,
        logger: ctx.logger,
      };
      const membership = ringMembership(ctx, get<RingConfig>(ctx, keys.generatorRingConfig));
      // On its own thread, with remote write, off the event loop that serves pushes, at the process's
      // priority (docs/metrics-generator.md, "Cost on the write path").
      if (generatorWorkerAvailable()) {
        const sharesWritePath = ctx.target === 'all' || ctx.target === 'scalable-single-binary';
        const host = new GeneratorHost({ ...opts, remoteWrite, sharesWritePath });
        ctx.provided.set(keys.generator, host);
        ctx.grpc.register((router) => router.service(MetricsGenerator, generatorHandlers(host)));
        return group('metrics-generator', [host, membership]);
      }
      // Running from sources, where the compiled worker script is absent: both on the event loop.
      const writer = new RemoteWriter({ ...remoteWrite, registry: ctx.registry, logger: ctx.logger.child({ component: 'remote-write' }) });
      const g = new Generator({ ...opts, appender: writer });
      ctx.provided.set(keys.generator, g);
      ctx.grpc.register((router) => router.service(MetricsGenerator, generatorHandlers(g)));
      return group('metrics-generator', [writer, g, membership]);
    },
  });
  m.register({ name: 'all', deps: [...COMPONENTS], userVisible: true });
  // `all` joined to other processes by gossip: the rings use memberlist instead of the in-process store.
  m.register({ name: 'scalable-single-binary', deps: [...COMPONENTS], userVisible: true });
  return m;
}
