// The `stave` command: flags → config → target → run until SIGTERM/SIGINT. This is the one place that
// installs signal handlers and decides the process exit code.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  App,
  ConfigError,
  Logger,
  State,
  UnknownTargetError,
  loadConfig,
  type AppContext,
  type BuildInfo,
  type ModuleManager,
  type StaveConfig,
} from '@stave/server';
import { FlagError, parseFlags } from './flags';
import { unsupportedNode } from './node-version';
import { COMMANDS, runCommand } from './commands';
import { staveModules } from './modules';

export interface CliOptions {
  /** Set by a component's own deployable: it runs exactly this target. */
  fixedTarget?: string;
  env?: Record<string, string | undefined>;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Tests: the Node.js version to check (default: this process's). */
  nodeVersion?: string;
  /** Test hook: sees the loaded config and returns the one to run (the config-keys test records reads). */
  wrapConfig?: (config: StaveConfig) => StaveConfig;
  /** The module graph (tests run small graphs of their own); Stave's by default. */
  modules?: ModuleManager<AppContext>;
}

const USAGE = `Usage: stave [flags]
       stave query trace|search ...   read traces from a Tempo-compatible HTTP API (stave query --help)
       stave blocks list|inspect ...  the backend's blocks, from a config file (stave blocks --help)
  -target=<module>          module to run (default all); see below
  -config.file=<path>       YAML config file, with Tempo's key names
  -config.expand-env=true   expand \${VAR} and \${VAR:-default} in the config file
  -config.verify            validate the config (and target), print problems, exit
  -version                  print the version and exit
  -<yaml.path>=<value>      set any config key, e.g. -server.http-listen-port=3201
`;

export function readBuildInfo(): BuildInfo {
  const info: BuildInfo = { version: '0.0.0', revision: 'unknown', branch: 'unknown', buildUser: '', buildDate: '' };
  try {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    info.version = pkg.version ?? info.version;
  } catch {
    // Running from sources: keep the defaults.
  }
  try {
    Object.assign(info, JSON.parse(readFileSync(path.join(__dirname, 'build-info.json'), 'utf8')));
  } catch {
    // Written by `make build`; absent in unit tests.
  }
  return info;
}

const DEFAULT_RECEIVERS: Array<[string, string]> = [
  ['distributor.receivers.otlp.protocols.grpc.endpoint', '0.0.0.0:4317'],
  ['distributor.receivers.otlp.protocols.http.endpoint', '0.0.0.0:4318'],
  ['distributor.receivers.jaeger.protocols.grpc.endpoint', '0.0.0.0:14250'],
  ['distributor.receivers.jaeger.protocols.thrift_http.endpoint', '0.0.0.0:14268'],
  ['distributor.receivers.jaeger.protocols.thrift_compact.endpoint', '0.0.0.0:6831'],
  ['distributor.receivers.jaeger.protocols.thrift_binary.endpoint', '0.0.0.0:6832'],
  ['distributor.receivers.zipkin.endpoint', '0.0.0.0:9411'],
];

/** Runs the CLI; resolves with the process exit code once the process should exit. */
export async function runCli(argv: readonly string[], opts: CliOptions = {}): Promise<number> {
  const out = opts.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = opts.stderr ?? ((t: string) => void process.stderr.write(t));
  const tooOld = unsupportedNode(opts.nodeVersion);
  if (tooOld) {
    err(`${tooOld}\n`);
    return 1;
  }
  const command = COMMANDS.find((c) => c === argv[0]);
  if (command && !opts.fixedTarget) {
    return runCommand(
      command,
      argv.slice(1),
      { out, err, errIsTTY: opts.stderr ? false : process.stderr.isTTY === true, columns: process.stderr.columns },
      opts.env ?? process.env,
    );
  }
  const modules = opts.modules ?? staveModules();

  let flags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    err(`${e.message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    out(`${USAGE}\nTargets: ${modules.userTargets().join(', ')}\n`);
    return 0;
  }
  const buildInfo = readBuildInfo();
  if (flags.version) {
    out(`stave, version ${buildInfo.version} (revision: ${buildInfo.revision})\n`);
    return 0;
  }

  let loaded;
  try {
    loaded = await loadConfig({
      ...(flags.configFile ? { file: flags.configFile } : {}),
      expandEnv: flags.expandEnv,
      env: opts.env ?? process.env,
      // With no config file every receiver listens on its default port, so `stave` alone takes spans
      // from any sender. With a file, only the receivers it lists run, as in Tempo.
      overrides: [...(flags.configFile ? [] : DEFAULT_RECEIVERS), ...flags.overrides],
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`${e.message}\n`);
    return 1;
  }
  const { warnings } = loaded;
  const config = opts.wrapConfig ? opts.wrapConfig(loaded.config) : loaded.config;
  if (opts.fixedTarget && flags.target !== undefined && flags.target !== opts.fixedTarget) {
    err(`this deployable runs only -target=${opts.fixedTarget}, not "${flags.target}"\n`);
    return 1;
  }
  // A component's deployable runs its component whatever the shared config file's `target` says.
  const target = opts.fixedTarget ?? flags.target ?? config.target;
  try {
    modules.resolve([target]);
  } catch (e) {
    if (!(e instanceof UnknownTargetError)) throw e;
    err(`${e.message}\n`);
    return 1;
  }

  const logger = new Logger(config.server.log_level, config.server.log_format);
  for (const w of warnings) logger.warn('config', { key: w.path, problem: w.message });
  if (flags.verify) {
    out(`config is valid${flags.configFile ? `: ${flags.configFile}` : ''} (target ${target}${warnings.length ? `, ${warnings.length} warnings` : ''})\n`);
    return 0;
  }

  const app = new App(modules, { config, target, buildInfo, logger });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const finish = (code: number): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('unhandledRejection', onRejection);
      resolve(code);
    };
    const stop = (reason: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      logger.info('shutting down', { reason });
      app.shutdown().then(
        (clean) => {
          if (!clean) logger.error('graceful shutdown timed out', { timeout_ms: config.server.graceful_shutdown_timeout });
          finish(clean ? code : 1);
        },
        (e: unknown) => {
          logger.error('shutdown failed', { err: e instanceof Error ? e.message : String(e) });
          finish(1);
        },
      );
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn('second signal; exiting now', { signal: sig });
        finish(1);
        return;
      }
      stop(sig, 0);
    };
    // A promise rejected with no handler is a bug whose effects are unknown: stop, and say so.
    const onRejection = (reason: unknown): void => {
      logger.error('unhandled promise rejection; stopping', { err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
      stop('unhandled promise rejection', 1);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('unhandledRejection', onRejection);
    // `/shutdown` on an ingester: the same clean path as SIGTERM, exit 0.
    app.onShutdownRequest((reason) => stop(reason, 0));
    app.start().then(
      () => {
        app.onModuleFailure((name, e) => stop(`module ${name} failed: ${e.message}`, 1));
        // A module that failed while a later one was starting (logged by the app) stops the process too.
        const failed = app.isReady().notRunning.find((m) => m.state === State.Failed);
        if (failed) stop(`module ${failed.name} failed`, 1);
      },
      (e: unknown) => {
        logger.error('failed to start', { err: e instanceof Error ? e.message : String(e) });
        stop('start failed', 1);
      },
    );
  });
}
