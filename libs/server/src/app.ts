// The application: config + logger + metrics registry + the two servers, and the module graph started
// for a target. The entry point owns signals and calls `shutdown`; nothing else exits the process.

import { collectDefaultMetrics, Registry } from 'prom-client';
import { stringify } from 'yaml';
import { configToYaml, defaultConfig } from './config/load';
import type { StaveConfig } from './config/stave-config';
import { ConnectServer } from './connect-server';
import { HttpServer, sendJson, sendText } from './http-server';
import { BasicService, Logger, State } from '@stave/core';
import { type ModuleManager, type RunningModules } from './modules';

export interface BuildInfo {
  version: string;
  revision: string;
  branch: string;
  buildUser: string;
  buildDate: string;
}

/** What every module's init receives. Modules add what they build for later modules to use. */
export interface AppContext {
  readonly config: StaveConfig;
  readonly target: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly http: HttpServer;
  readonly grpc: ConnectServer;
  readonly buildInfo: BuildInfo;
  /** Values modules publish for modules that depend on them (the store, the ring, ...). */
  readonly provided: Map<string, unknown>;
  /**
   * Extra readiness conditions beyond "every module is Running" (an ingester that has not yet joined its
   * ring, say): each returns why it is not ready, or undefined.
   */
  readonly readiness: Array<() => string | undefined>;
  /**
   * Asks the entry point to shut the whole process down cleanly (exit 0), as SIGTERM would: used by
   * `/shutdown`. A module never exits the process itself.
   */
  readonly requestShutdown: (reason: string) => void;
}

export interface AppOptions {
  config?: StaveConfig;
  target: string;
  buildInfo: BuildInfo;
  logger?: Logger;
}

/** The `server` module: both servers, started first and stopped last. */
export class ServerService extends BasicService {
  constructor(
    private readonly http: HttpServer,
    private readonly grpc: ConnectServer,
  ) {
    super('server');
  }
  protected override async starting(): Promise<void> {
    await this.http.start();
    try {
      await this.grpc.start();
    } catch (err) {
      await this.http.stop();
      throw err;
    }
  }
  protected override async stopping(): Promise<void> {
    await this.grpc.stop();
    await this.http.stop();
  }
}

export class App {
  readonly ctx: AppContext;
  private modules: RunningModules | undefined;
  private shuttingDown = false;
  private shutdownPromise: Promise<void> | undefined;
  private readonly shutdownListeners: Array<(reason: string) => void> = [];
  private shutdownRequested: string | undefined;

  constructor(
    private readonly manager: ModuleManager<AppContext>,
    opts: AppOptions,
  ) {
    const config = opts.config ?? defaultConfig();
    const logger = opts.logger ?? new Logger(config.server.log_level, config.server.log_format);
    const registry = new Registry();
    if (config.server.register_instrumentation) collectDefaultMetrics({ register: registry });
    const s = config.server;
    this.ctx = {
      config,
      target: opts.target,
      logger,
      registry,
      buildInfo: opts.buildInfo,
      provided: new Map(),
      readiness: [],
      requestShutdown: (reason) => {
        this.shutdownRequested ??= reason;
        for (const l of this.shutdownListeners) l(reason);
      },
      http: new HttpServer({
        name: 'http',
        address: s.http_listen_address,
        port: s.http_listen_port,
        readTimeoutMs: s.http_server_read_timeout,
        writeTimeoutMs: s.http_server_write_timeout,
        idleTimeoutMs: s.http_server_idle_timeout,
        pathPrefix: s.http_path_prefix,
        registry,
        logger: logger.child({ component: 'server' }),
      }),
      grpc: new ConnectServer({
        name: 'grpc',
        address: s.grpc_listen_address,
        port: s.grpc_listen_port,
        maxRecvBytes: s.grpc_server_max_recv_msg_size,
        maxSendBytes: s.grpc_server_max_send_msg_size,
        maxConcurrentStreams: s.grpc_server_max_concurrent_streams,
        logger: logger.child({ component: 'server' }),
      }),
    };
    this.registerStandardRoutes();
  }

  /** Ready when every module of the target is Running and no shutdown has begun. */
  isReady(): { ready: boolean; notRunning: Array<{ name: string; state: State }>; reasons: string[] } {
    if (this.shuttingDown) return { ready: false, notRunning: [{ name: 'app', state: State.Stopping }], reasons: [] };
    if (!this.modules) return { ready: false, notRunning: [{ name: 'app', state: State.Starting }], reasons: [] };
    const notRunning = this.modules.notRunning();
    const reasons = notRunning.length === 0 ? this.ctx.readiness.map((check) => check()).filter((r): r is string => r !== undefined) : [];
    return { ready: notRunning.length === 0 && reasons.length === 0, notRunning, reasons };
  }

  /** Builds and starts the target's modules. Rejects if any fails to start. */
  async start(): Promise<void> {
    const log = this.ctx.logger;
    this.modules = await this.manager.init([this.ctx.target], this.ctx);
    this.modules.onFailure((name, err) => {
      log.error('module failed', { module: name, err });
    });
    log.info('starting stave', { target: this.ctx.target, version: this.ctx.buildInfo.version });
    await this.modules.start();
    log.info('stave started', { target: this.ctx.target });
  }

  /** Fires when a module fails while running (the entry point then exits non-zero). */
  onModuleFailure(listener: (name: string, err: Error) => void): void {
    if (!this.modules) throw new Error('app not started');
    this.modules.onFailure(listener);
  }

  /** Fires when a module asks for the process to shut down (`/shutdown`); the entry point then stops it. */
  onShutdownRequest(listener: (reason: string) => void): void {
    this.shutdownListeners.push(listener);
    if (this.shutdownRequested !== undefined) listener(this.shutdownRequested);
  }

  /**
   * Graceful shutdown, in STYLE.md's order: readiness goes false at once, then modules stop in reverse
   * dependency order (ring entries leave, in-flight work finishes, state is persisted), servers last.
   * Resolves false if the grace period ran out first.
   */
  shutdown(graceMs = this.ctx.config.server.graceful_shutdown_timeout): Promise<boolean> {
    this.shuttingDown = true;
    this.shutdownPromise ??= (this.modules?.stop() ?? Promise.resolve()).then(() => this.ctx.logger.info('stave stopped'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        this.ctx.http.closeAllConnections();
        this.ctx.grpc.destroySessions();
        resolve(false);
      }, graceMs);
    });
    return Promise.race([this.shutdownPromise.then(() => true), timeout]).finally(() => clearTimeout(timer));
  }

  private registerStandardRoutes(): void {
    const { http, registry, buildInfo } = this.ctx;
    const r = http.router;
    const api = this.ctx.config.http_api_prefix.replace(/\/$/, '');
    r.handle('GET', '/ready', (_req, res) => {
      const { ready, notRunning, reasons } = this.isReady();
      if (ready) return sendText(res, 200, 'ready\n');
      if (notRunning.length > 0) {
        return sendText(res, 503, `Some services are not Running:\n${notRunning.map((n) => `${n.name}: ${n.state}`).join('\n')}\n`);
      }
      sendText(res, 503, `${reasons.join('\n')}\n`);
    });
    r.handle('GET', '/metrics', async (_req, res) => {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
    });
    r.handle('GET', `${api}/api/echo`, (_req, res) => sendText(res, 200, 'echo'));
    r.handle('GET', `${api}/api/status/buildinfo`, (_req, res) => sendJson(res, 200, { ...buildInfo, goVersion: '', nodeVersion: process.version }));
    r.handle('GET', '/status/version', (_req, res) =>
      sendText(
        res,
        200,
        `stave, version ${buildInfo.version} (branch: ${buildInfo.branch}, revision: ${buildInfo.revision})\n  build date: ${buildInfo.buildDate}\n  node version: ${process.version}\n`,
      ),
    );
    r.handle('GET', '/status/services', (_req, res) => {
      const states = this.modules?.states() ?? [];
      sendText(res, 200, states.map((s) => `${s.name}: ${s.state}${s.failure ? ` (${s.failure})` : ''}`).join('\n') + '\n');
    });
    r.handle('GET', '/status/config', (_req, res, _p, url) => {
      const mode = url.searchParams.get('mode');
      const current = configToYaml(this.ctx.config) as Record<string, unknown>;
      let body: unknown = current;
      if (mode === 'defaults') body = configToYaml(defaultConfig());
      else if (mode === 'diff') body = diff(configToYaml(defaultConfig()), current) ?? {};
      else if (mode !== null) return sendText(res, 400, `unknown mode "${mode}"; use defaults or diff\n`);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(stringify(body));
    });
  }
}

/** The parts of `b` that differ from `a` (for /status/config?mode=diff). */
function diff(a: unknown, b: unknown): unknown {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(b)) {
      const d = diff((a as Record<string, unknown>)[k], v);
      if (d !== undefined) out[k] = d;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? undefined : b;
}
