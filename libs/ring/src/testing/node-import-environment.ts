// A Jest environment that hands tests Node's own module loader (`globalThis.__nodeImport`), outside Jest's
// module registry. Why: @kubernetes/client-node is an ES module, and Jest on Node 20 cannot load ES modules
// (it needs --experimental-vm-modules, or Node 24.9+). The Kubernetes discovery takes a `loadClient` hook;
// its test passes one built on this, so the real client runs against the API double. Only tests use it.

import { TestEnvironment } from 'jest-environment-node';

export default class NodeImportEnvironment extends TestEnvironment {
  override async setup(): Promise<void> {
    await super.setup();
    // This file is compiled by Jest's transform to CommonJS: `import()` becomes Node's real require, which
    // loads ES modules on Node >= 20.19.
    this.global.__nodeImport = (specifier: string) => import(specifier);
  }
}
