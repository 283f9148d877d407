// Go-style command-line flags, as Tempo takes them: `-name=value`, `--name=value`, `-name value`, and
// bare boolean flags. Flags other than the CLI's own set config keys by YAML path
// (`-server.http-listen-port=3201` sets server.http_listen_port).

export interface CliFlags {
  target?: string;
  configFile?: string;
  expandEnv: boolean;
  verify: boolean;
  version: boolean;
  help: boolean;
  overrides: Array<[string, string]>;
}

const BOOLEAN = new Set(['config.verify', 'config.expand-env', 'version', 'help', 'h']);

export class FlagError extends Error {}

function parseBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new FlagError(`flag -${name}: invalid boolean value "${v}"`);
}

export function parseFlags(argv: readonly string[]): CliFlags {
  const out: CliFlags = { expandEnv: false, verify: false, version: false, help: false, overrides: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') throw new FlagError(`unexpected argument "${arg}" (flags look like -name=value)`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (name === '') throw new FlagError(`bad flag syntax: ${arg}`);
    if (value === undefined && !BOOLEAN.has(name)) {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    switch (name) {
      case 'target':
        out.target = value!;
        break;
      case 'config.file':
        out.configFile = value!;
        break;
      case 'config.expand-env':
        out.expandEnv = value === undefined ? true : parseBool(name, value);
        break;
      case 'config.verify':
        out.verify = value === undefined ? true : parseBool(name, value);
        break;
      case 'version':
        out.version = value === undefined ? true : parseBool(name, value);
        break;
      case 'help':
      case 'h':
        out.help = true;
        break;
      default:
        out.overrides.push([name, value!]);
    }
  }
  return out;
}
