// bin/stave, the launcher that `make run`, the fleet scripts and the container image start: which glibc
// malloc settings and V8 heap flag it gives node for the target the process will run. The launcher itself runs, copied into
// the container image's layout (bin/stave beside dist/main.js, as scripts/image-root.sh assembles it), with
// a dist/main.js that reports the environment and arguments it was started with instead of starting Stave.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './support/stave-process';

const run = promisify(execFile);

interface Started {
  arena: string | null;
  mmapThreshold: string | null;
  /** The V8 flag that caps the old generation's growth, when node was given it. */
  heapGrowing: string | null;
  /** Every flag node was started with. */
  execArgv: string[];
  args: string[];
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'stave-launcher-'));
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'dist'));
  copyFileSync(path.join(REPO, 'bin/stave'), path.join(dir, 'bin/stave'));
  writeFileSync(
    path.join(dir, 'dist/main.js'),
    'process.stdout.write(JSON.stringify({ arena: process.env.MALLOC_ARENA_MAX ?? null, mmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null, heapGrowing: process.execArgv.find((a) => a.startsWith("--heap-growing-percent")) ?? null, execArgv: process.execArgv, args: process.argv.slice(2) }));\n',
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function launch(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const base = { ...process.env };
  delete base.MALLOC_ARENA_MAX;
  delete base.MALLOC_MMAP_THRESHOLD_;
  delete base.STAVE_NODE_FLAGS;
  const { stdout } = await run(path.join(dir, 'bin/stave'), args, { env: { ...base, ...env } });
  return JSON.parse(stdout) as Started;
}

function configFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('every target but the compactor gets the 128 KiB mmap threshold; all get two arenas; arguments pass through unchanged', async () => {
  for (const args of [[], ['-target=all'], ['-target=ingester'], ['--target', 'scalable-single-binary'], ['-target=compactor-x']]) {
    const started = await launch(args);
    expect(started).toMatchObject({ arena: '2', mmapThreshold: '131072', args });
  }
});

test('only a single binary caps its isolates’ old-generation growth', async () => {
  const cap = '--heap-growing-percent=75';
  expect((await launch([])).heapGrowing).toBe(cap);
  expect((await launch(['-target=all'])).heapGrowing).toBe(cap);
  expect((await launch(['-target=ingester', '-target=all'])).heapGrowing).toBe(cap);
  for (const args of [['-target=ingester'], ['--target', 'scalable-single-binary'], ['-target=compactor'], ['-target=all', '-target=querier']]) {
    expect((await launch(args)).heapGrowing).toBeNull();
  }
  const ingester = configFile('ingester-only.yaml', 'target: ingester\n');
  expect((await launch([`-config.file=${ingester}`])).heapGrowing).toBeNull();
  expect((await launch([`-config.file=${ingester}`, '-target=all'])).heapGrowing).toBe(cap);
});

test('a compactor named on the command line keeps glibc’s adaptive threshold, in each flag form', async () => {
  for (const args of [['-target=compactor'], ['--target=compactor'], ['-target', 'compactor'], ['-target=all', '-target=compactor']]) {
    const started = await launch(args);
    expect(started).toMatchObject({ arena: '2', mmapThreshold: null, heapGrowing: null, args });
  }
  // The last flag wins, as in the CLI.
  expect((await launch(['-target=compactor', '-target=ingester'])).mmapThreshold).toBe('131072');
});

test('a compactor named only by the config file’s top-level target is a compactor too', async () => {
  const compactor = configFile('compactor.yaml', '# a comment\nserver:\n  http_listen_port: 3200\ntarget: "compactor" # quoted\n');
  expect((await launch([`-config.file=${compactor}`])).mmapThreshold).toBeNull();
  expect((await launch(['-config.file', compactor])).mmapThreshold).toBeNull();
  // A nested `target:` key is not the process's target.
  const nested = configFile('nested.yaml', 'compactor:\n  target: compactor\n');
  expect((await launch([`-config.file=${nested}`])).mmapThreshold).toBe('131072');
  const ingester = configFile('ingester.yaml', 'target: ingester\n');
  expect((await launch([`-config.file=${ingester}`])).mmapThreshold).toBe('131072');
  // The command line's target overrides the file's.
  expect((await launch([`-config.file=${compactor}`, '-target=all'])).mmapThreshold).toBe('131072');
});

test('settings already in the environment are kept', async () => {
  expect(await launch(['-target=all'], { MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' })).toMatchObject({
    arena: '4',
    mmapThreshold: '65536',
    heapGrowing: '--heap-growing-percent=75',
    args: ['-target=all'],
  });
  expect((await launch(['-target=compactor'], { MALLOC_MMAP_THRESHOLD_: '65536' })).mmapThreshold).toBe('65536');
});

test('STAVE_NODE_FLAGS adds node flags after the launcher’s own, and nothing without it', async () => {
  const plain = await launch(['-target=all']);
  const started = await launch(['-target=all'], { STAVE_NODE_FLAGS: '--max-old-space-size=300 --stack-size=900' });
  expect(started.execArgv).toEqual([...plain.execArgv, '--max-old-space-size=300', '--stack-size=900']);
  expect(started.execArgv).toContain('--heap-growing-percent=75');
  expect(started.args).toEqual(['-target=all']);
  expect(await launch(['-target=all'], { STAVE_NODE_FLAGS: '' })).toEqual(plain);
});
