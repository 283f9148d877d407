#!/usr/bin/env node
// The metrics-generator deployable: the stave CLI fixed to -target=metrics-generator.
import { runCli } from '@stave/cli';

runCli(process.argv.slice(2), { fixedTarget: 'metrics-generator' }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
