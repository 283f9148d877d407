// `stave query ...` and `stave blocks ...`: wiring only. The query commands need nothing but the API URL;
// the blocks commands load the config file (and -<key>=<value> flags) the way a running stave does and
// open the object store of storage.trace. The commands themselves live in @stave/explorer.

import { createObjectStore } from '@stave/backend';
import { runBlocksCommand, runQueryCommand, type CommandIO } from '@stave/explorer';
import { ConfigError, loadConfig, nopLogger, SINGLE_TENANT } from '@stave/server';
import { FlagError, parseFlags } from './flags';
import { objectStoreOptions } from './options';

export const COMMANDS = ['query', 'blocks'] as const;

/** Single-dash flags with a dotted name (`-config.file=x`, `-storage.trace.backend local`) are config flags. */
function splitConfigFlags(argv: readonly string[]): { config: string[]; rest: string[] } {
  const config: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^-([a-z0-9_-]+\.[a-z0-9_.-]+)(=.*)?$/i.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    config.push(a);
    if (m[2] === undefined && m[1] !== 'config.expand-env' && i + 1 < argv.length) config.push(argv[++i]!);
  }
  return { config, rest };
}

export async function runCommand(
  name: (typeof COMMANDS)[number],
  argv: readonly string[],
  io: CommandIO,
  env: Record<string, string | undefined>,
): Promise<number> {
  if (name === 'query') return runQueryCommand(argv, io);
  const { config: configArgs, rest } = splitConfigFlags(argv);
  let loaded;
  try {
    const flags = parseFlags(configArgs);
    loaded = await loadConfig({ ...(flags.configFile ? { file: flags.configFile } : {}), expandEnv: flags.expandEnv, env, overrides: flags.overrides });
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof FlagError)) throw e;
    io.err(`${e.message}\n`);
    return 1;
  }
  const { config } = loaded;
  const store = createObjectStore(objectStoreOptions(config), { logger: nopLogger });
  try {
    const multitenant = config.multitenancy_enabled || config.auth_enabled === true;
    return await runBlocksCommand(rest, store, multitenant ? undefined : SINGLE_TENANT, io);
  } finally {
    await store.close();
  }
}
