#!/usr/bin/env node
// The ingester deployable: the stave CLI fixed to -target=ingester.
import { runCli } from '@stave/cli';

runCli(process.argv.slice(2), { fixedTarget: 'ingester' }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
