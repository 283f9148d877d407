// Object-store emulators for tests, each a child process on a free loopback port: s3rver (S3) and
// Azurite (Azure Blob), both npm packages (devDependencies of @stave/backend). A child process keeps
// their memory out of the test's own RSS (the large-object case measures it) and lets a test stop and
// restart an emulator on the same port to play an outage. `stop()` ends the process and removes its
// data; it is safe to call twice.

import { spawn, type ChildProcess } from 'node:child_process';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root, whether this runs from test/support (jest) or from test/dist/support (built, for bench/). */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'pnpm-workspace.yaml'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${__dirname}`);
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const BACKEND_DIR = path.join(ROOT, 'libs/backend');
const SUPPORT_DIR = path.join(ROOT, 'test/support');

function binOf(pkg: string, rel: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`, { paths: [BACKEND_DIR] })), rel);
}

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** s3rver's fixed credentials. */
export const S3RVER_KEY = 'S3RVER';

export class EmulatorProcess {
  private child: ChildProcess | undefined;
  private output = '';
  port = 0;

  constructor(
    readonly name: string,
    private readonly argv: (port: number) => string[],
    private readonly ready: RegExp,
    readonly dataDir: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts (again): on the same port once one was assigned. Resolves when the emulator says it listens. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) return;
    this.output = '';
    const child = spawn(process.execPath, this.argv(this.port), {
      cwd: this.dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.child = child;
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${this.name} did not start within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      const onData = (b: Buffer): void => {
        this.output += b.toString();
        const m = this.ready.exec(this.output);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      const fail = (err: Error): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(err);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => fail(new Error(`${this.name} exited with ${code} before it was ready:\n${this.output}`)));
    }).catch((err: unknown) => {
      this.child = undefined;
      throw err;
    });
    child.removeAllListeners('exit');
    // Keep draining its output so the pipe never fills and stalls it.
    child.stdout!.on('data', () => undefined);
    child.stderr!.on('data', () => undefined);
    this.port = port;
  }

  /** Stops the process (data on disk stays for `start()`). */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  /** Stops it and removes its data. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** s3rver (with the S3 conformance fixes of s3rver-main.js) and the given buckets, on disk in a temporary directory. */
export async function startS3rver(buckets: readonly string[]): Promise<EmulatorProcess & { endpoint: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-s3rver-'));
  const pkg = path.dirname(binOf('s3rver', 'package.json'));
  const p = new EmulatorProcess(
    's3rver',
    // `<bucket>.s3.localhost` is virtual-host addressing (the SDK builds it from the endpoint's host).
    (port) => [path.join(SUPPORT_DIR, 's3rver-main.js'), pkg, path.join(dir, 'data'), String(port), 'localhost', ...buckets],
    /S3rver listening on [\d.]+:(\d+)/,
    dir,
  );
  await p.start();
  return Object.defineProperty(p, 'endpoint', { get: () => `http://127.0.0.1:${p.port}` }) as EmulatorProcess & { endpoint: string };
}

/**
 * Azurite's blob service. In memory by default (`--inMemoryPersistence`); `onDisk` keeps blobs in a
 * temporary directory instead, so they survive a kill and restart. Telemetry is off: it would call out.
 */
export async function startAzurite(opts: { onDisk?: boolean } = {}): Promise<EmulatorProcess & { endpoint: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-azurite-'));
  const bin = binOf('azurite', 'dist/src/blob/main.js');
  const p = new EmulatorProcess(
    'azurite',
    (port) => [
      bin,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      ...(opts.onDisk ? ['--location', path.join(dir, 'data')] : ['--inMemoryPersistence']),
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
    ],
    /successfully listens on http:\/\/[\d.]+:(\d+)/,
    dir,
  );
  await p.start();
  return Object.defineProperty(p, 'endpoint', { get: () => `http://127.0.0.1:${p.port}/${AZURITE_ACCOUNT}` }) as EmulatorProcess & { endpoint: string };
}

/** Creates a container in Azurite (Stave does not create buckets or containers itself, as Tempo does not). */
export async function createAzuriteContainer(azurite: { endpoint: string }, name: string): Promise<void> {
  const service = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  await service.getContainerClient(name).createIfNotExists();
}
