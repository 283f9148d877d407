// LocalStore against the shared conformance suite, and through the factory (metrics + cache on top).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createObjectStore, type ManagedObjectStore } from './factory';
import { LocalStore } from './local';
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
