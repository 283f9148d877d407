#!/usr/bin/env node
// The compactor deployable: the stave CLI fixed to -target=compactor.
import { runCli } from '@stave/cli';

runCli(process.argv.slice(2), { fixedTarget: 'compactor' }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
