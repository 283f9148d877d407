import { runCli } from './cli';
import { MIN_NODE_VERSION, unsupportedNode } from './node-version';

describe('the Node.js version check', () => {
  it.each([
    ['20.14.0', false],
    ['20.14.99', false],
    ['18.20.4', false],
    ['v20.15.0', true],
    ['20.15.0', true],
    ['20.19.5', true],
    ['22.3.0', true],
    ['24.0.0-pre', true],
  ])('Node %s supported: %s', (version, ok) => {
    expect(unsupportedNode(version) === undefined).toBe(ok);
  });

  it('names the minimum, the reason and the version found', () => {
    expect(unsupportedNode('20.14.0')).toBe(
      `stave needs Node.js ${MIN_NODE_VERSION} or newer (zlib.crc32, used for WAL checksums, arrived in 20.15); this is Node.js 20.14.0`,
    );
  });

  it('this process runs a supported Node (the test suite itself would fail on WAL writes otherwise)', () => {
    expect(unsupportedNode()).toBeUndefined();
  });

  it('the CLI exits 1 before doing anything on an older Node, and runs on a supported one', async () => {
    const errs: string[] = [];
    const outs: string[] = [];
    const io = { stderr: (t: string) => void errs.push(t), stdout: (t: string) => void outs.push(t) };
    expect(await runCli(['-version'], { ...io, nodeVersion: '20.14.1' })).toBe(1);
    expect(errs.join('')).toMatch(/^stave needs Node\.js 20\.15\.0 or newer .*this is Node\.js 20\.14\.1\n$/);
    expect(outs).toEqual([]);
    expect(await runCli(['-version'], { ...io, nodeVersion: '20.15.0' })).toBe(0);
    expect(outs.join('')).toMatch(/^stave, version /);
  });
});
