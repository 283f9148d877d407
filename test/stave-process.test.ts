// The e2e tests' process helper: a Stave that dies before it listens fails the test at once, whether it
// exits with a code or is killed by a signal, instead of after the port poll's 30 s.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStave } from './support/stave-process';

let dir: string;
beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'stave-helper-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An executable that stands in for bin/stave and ends as `body` says, before logging anything. */
function fakeStave(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho "starting" >&2\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

test.each([
  ['killed by a signal', 'kill -9 $$', /SIGKILL/],
  ['exiting with a code', 'exit 3', /exited \(3\)/],
])('httpPort fails at once for a process %s before it listens', async (_what, body, why) => {
  const p = startStave({ bin: fakeStave(`stave-${body.replace(/\W/g, '')}`, body) });
  try {
    const err = await p.httpPort().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(why);
    // The death itself, with what the process wrote, not the port poll giving up after its 30 s.
    expect(err?.message).not.toMatch(/timed out/);
    expect(err?.message).toMatch(/starting/);
  } finally {
    p.cleanup();
  }
});
