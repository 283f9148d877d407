import { FlagError, parseFlags } from './flags';

describe('parseFlags', () => {
  it('reads Go-style flags', () => {
    expect(parseFlags(['-target=ingester', '--config.file', 'a.yaml', '-config.verify', '-config.expand-env=true', '-server.http-listen-port=0'])).toEqual({
      target: 'ingester',
      configFile: 'a.yaml',
      verify: true,
      expandEnv: true,
      version: false,
      help: false,
      overrides: [['server.http-listen-port', '0']],
    });
  });

  it.each([
    [['-target'], 'flag needs an argument: -target'],
    [['stray'], 'unexpected argument "stray"'],
    [['-config.verify=maybe'], 'invalid boolean value "maybe"'],
  ])('%j fails with %s', (argv, msg) => {
    expect(() => parseFlags(argv)).toThrow(FlagError);
    expect(() => parseFlags(argv)).toThrow(msg);
  });
});
