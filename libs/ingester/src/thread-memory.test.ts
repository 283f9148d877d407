// collectGarbage on the threads it is meant for (a worker: the module, transpiled, runs in one) and the
// main thread (where it must do nothing).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { collectGarbage } from './thread-memory';

/** Runs `body` in a worker thread, after thread-memory.ts (as CommonJS) defined `collectGarbage` there. */
function inWorker<T>(body: string): Promise<T> {
  const mod = ts.transpileModule(readFileSync(path.join(__dirname, 'thread-memory.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const code = `const exports = {}; ${mod};
    require('node:worker_threads').parentPort.postMessage((() => { ${body} })());`;
  const w = new Worker(code, { eval: true });
  return new Promise<T>((resolve, reject) => {
    w.once('message', (m: T) => void w.terminate().then(() => resolve(m)));
    w.once('error', reject);
  });
}

describe('collectGarbage', () => {
  it('on a worker thread, frees the ArrayBuffers nothing refers to any more, and leaves gc unexposed', async () => {
    const r = await inWorker<{ before: number; after: number; again: number; gcSeen: string[] }>(`
      // Old enough to survive scavenges: only a full collection frees it.
      let held = [];
      for (let i = 0; i < 32; i++) held.push(new ArrayBuffer(1024 * 1024));
      for (let i = 0; i < 3; i++) new Array(1e6).fill(i);
      held = undefined;
      const before = process.memoryUsage().arrayBuffers;
      collectGarbage();
      const after = process.memoryUsage().arrayBuffers;
      collectGarbage();
      const again = process.memoryUsage().arrayBuffers;
      const vm = require('node:vm');
      return { before, after, again, gcSeen: [typeof globalThis.gc, vm.runInNewContext('typeof gc')] };
    `);
    expect(r.before).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    expect(r.after).toBeLessThan(1024 * 1024);
    expect(r.again).toBeLessThan(1024 * 1024);
    expect(r.gcSeen).toEqual(['undefined', 'undefined']);
  });

  it('on the main thread, does nothing (and exposes nothing)', () => {
    collectGarbage();
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
