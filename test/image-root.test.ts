// The container image's contents, proven where no container runtime runs: scripts/image-root.sh (what
// `make image-root` and the Dockerfile's build stage run; the final stage copies its folder) assembles the
// folder into a temp directory outside the repository, so no workspace node_modules can be reached from
// it. Its `bin/stave -target=all` (the image's entry point) starts from that folder alone with its data
// elsewhere, takes a trace over OTLP and gives it back by ID; the folder holds no devDependency, and the
// run writes nothing into it (the image runs with a read-only root filesystem).

import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { TraceSchema } from '@stave/proto';
import { configYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { sendRichTrace } from './support/otel';
import { REPO, startStave, type StaveProcess } from './support/stave-process';

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as PackageJson;

/** Every file below `dir` (symlinks not followed) with its size and mtime. */
function snapshot(dir: string, out = new Map<string, string>(), rel = ''): Map<string, string> {
  for (const name of readdirSync(path.join(dir, rel))) {
    const p = path.join(rel, name);
    const st = lstatSync(path.join(dir, p));
    out.set(p, `${st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) snapshot(dir, out, p);
  }
  return out;
}

/** The packages installed under a pnpm node_modules layout: each .pnpm entry holds one real package directory. */
function installedPackages(root: string): PackageJson[] {
  const store = path.join(root, 'node_modules', '.pnpm');
  const found: PackageJson[] = [];
  for (const entry of readdirSync(store)) {
    const nm = path.join(store, entry, 'node_modules');
    if (!existsSync(nm)) continue;
    const dirs = readdirSync(nm).flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(nm, n)).map((m) => path.join(n, m)) : [n]));
    for (const d of dirs) {
      const full = path.join(nm, d);
      if (lstatSync(full).isDirectory() && existsSync(path.join(full, 'package.json'))) found.push(readJson(path.join(full, 'package.json')));
    }
  }
  return found;
}

/** Packages that only build, lint or test Stave: every workspace package's devDependencies, and what test/ and bench/ use. */
function notForTheImage(): Set<string> {
  const manifests = [
    'package.json',
    'test/package.json',
    'bench/package.json',
    ...['libs', 'services'].flatMap((d) => readdirSync(path.join(REPO, d)).map((n) => path.join(d, n, 'package.json'))),
  ].filter((f) => existsSync(path.join(REPO, f)));
  const names = new Set<string>();
  for (const f of manifests) {
    const pkg = readJson(path.join(REPO, f));
    for (const n of Object.keys(pkg.devDependencies ?? {})) names.add(n);
    if (f.startsWith('test/') || f.startsWith('bench/')) for (const n of Object.keys(pkg.dependencies ?? {})) names.add(n);
  }
  for (const n of [...names]) if (n.startsWith('@stave/')) names.delete(n);
  return names;
}

function bytesBelow(dir: string): number {
  let n = 0;
  for (const [, v] of snapshot(dir)) n += Number(v.split(' ')[0]);
  return n;
}

describe('the container image root (make image-root)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stave-image-root-'));
  const root = path.join(tmp, 'app');
  let stave: StaveProcess | undefined;
  afterAll(async () => {
    if (stave) {
      await stave.stop();
      stave.cleanup();
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('holds production dependencies only, starts -target=all from the folder alone, and reads a trace back', async () => {
    await promisify(execFile)(path.join(REPO, 'scripts', 'image-root.sh'), [root], { cwd: REPO, timeout: 120_000 });

    // What the image holds: the entry point, built JavaScript, and production dependencies only.
    expect(lstatSync(path.join(root, 'bin', 'stave')).mode & 0o111).toBeTruthy();
    expect(existsSync(path.join(root, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(path.join(root, 'dist', 'build-info.json'))).toBe(true);
    expect(existsSync(path.join(root, 'src'))).toBe(false);
    expect(readJson(path.join(root, 'package.json')).devDependencies ?? {}).toEqual({});
    const installed = installedPackages(root);
    const names = new Set(installed.map((p) => p.name));
    for (const n of ['@stave/server', '@stave/ingester', '@stave/block', '@stave/ring', '@aws-sdk/client-s3', 'prom-client']) expect(names.has(n)).toBe(true);
    // A package that only builds or tests Stave is present only where a production package depends on it
    // (e.g. @opentelemetry/api, which cloud SDKs use); the tools themselves are absent.
    const neededByProduction = new Set(
      installed.flatMap((p) => [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.optionalDependencies ?? {}), ...Object.keys(p.peerDependencies ?? {})]),
    );
    expect([...notForTheImage()].filter((n) => names.has(n) && !neededByProduction.has(n))).toEqual([]);
    for (const tool of ['typescript', 'jest', 'eslint', 'prettier', '@swc/core', '@bufbuild/buf', '@duckdb/node-api', 'fast-check'])
      expect(names.has(tool)).toBe(false);
    const stavePackages = installed.filter((p) => p.name.startsWith('@stave/')).map((p) => p.name);
    for (const n of stavePackages) {
      const dir = path.join(
        root,
        'node_modules',
        '.pnpm',
        readdirSync(path.join(root, 'node_modules', '.pnpm')).find((e) => e.startsWith(`${n.replace('/', '+')}@`))!,
      );
      const files = [...snapshot(path.join(dir, 'node_modules', n)).keys()];
      expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('.test.js') || f.startsWith('src'))).toEqual([]);
    }
    // Nothing above the folder can lend it modules (Node looks in every parent's node_modules).
    for (let d = tmp; d !== path.dirname(d); d = path.dirname(d)) expect(existsSync(path.join(d, 'node_modules'))).toBe(false);
    // The bundle stays small enough to ship (130 MB when written; most of it the cloud SDKs).
    expect(bytesBelow(root)).toBeLessThan(200 * 1024 * 1024);

    const before = snapshot(root);
    const env = { NODE_PATH: '', NODE_OPTIONS: '' };
    stave = startStave({ bin: path.join(root, 'bin', 'stave'), configYaml: configYaml(OTLP_HTTP_RECEIVER), args: ['-target=all'], env });
    await stave.ready(60_000);
    const buildinfo = (await (await fetch(await stave.url('/api/status/buildinfo'))).json()) as { version: string };
    expect(buildinfo.version).toBeTruthy();

    const otlp = await stave.receiverPort(/otlp.*http/);
    const sent = await sendRichTrace(new OTLPTraceExporter({ url: `http://127.0.0.1:${otlp}/v1/traces` }), 'image-root');
    const res = await fetch(await stave.url(`/api/traces/${sent.traceId}`), { headers: { accept: 'application/protobuf' } });
    expect(res.status).toBe(200);
    const trace = fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
    const spanIds = trace.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => Buffer.from(s.spanId).toString('hex'))));
    expect(spanIds.sort()).toEqual([...sent.spanIds].sort());

    // After /flush the trace comes from a block written under the data directory, not the app folder.
    expect((await fetch(await stave.url('/flush'), { method: 'POST' })).status).toBe(204);
    expect((await stave.stop()).code).toBe(0);
    expect(readdirSync(path.join(stave.dataDir, 'blocks')).length).toBeGreaterThan(0);
    expect(snapshot(root)).toEqual(before);
  }, 180_000);
});
