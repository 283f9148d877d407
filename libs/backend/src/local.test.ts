// LocalStore against the shared conformance suite, and through the factory (metrics + cache on top).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createObjectStore, type ManagedObjectStore } from './factory';
import { LOCAL_SYNC_EVERY_BYTES, LocalStore } from './local';
import { describeObjectStoreConformance } from './testing/conformance';
import { storageOptions } from './testing/options';

const root = mkdtempSync(path.join(os.tmpdir(), 'stave-local-conf-'));
let n = 0;
const managed: ManagedObjectStore[] = [];

afterAll(async () => {
  for (const s of managed) await s.close();
  rmSync(root, { recursive: true, force: true });
});

describeObjectStoreConformance('local', { create: async () => new LocalStore(path.join(root, `plain-${n++}`)) });

describeObjectStoreConformance('local via createObjectStore (metrics, object cache)', {
  create: async () => {
    const cfg = storageOptions();
    const s = createObjectStore({ ...cfg, backend: 'local', local: { path: path.join(root, `managed-${n++}`) } });
    managed.push(s);
    return s;
  },
});

describe('LocalStore syncs large objects as they are written', () => {
  // Writes are split at every LOCAL_SYNC_EVERY_BYTES to sync there: chunks that straddle those bounds, and a
  // whole buffer several times their size, must come back byte for byte.
  const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

  it('a stream of chunks straddling the sync bounds, and one buffer of several bounds', async () => {
    const store = new LocalStore(path.join(root, `sync-${n++}`));
    const parts = [bytes(LOCAL_SYNC_EVERY_BYTES - 7, 1), bytes(333_333, 2), bytes(2 * LOCAL_SYNC_EVERY_BYTES + 5, 3), bytes(1, 4)];
    await store.write(
      't/chunks',
      (async function* () {
        yield* parts;
      })(),
    );
    expect(Buffer.from(await store.read('t/chunks')).equals(Buffer.concat(parts))).toBe(true);
    const whole = bytes(3 * LOCAL_SYNC_EVERY_BYTES + 12_345, 5);
    await store.write('t/whole', whole);
    expect(Buffer.from(await store.read('t/whole')).equals(whole)).toBe(true);
  });
});
