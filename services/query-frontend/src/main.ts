#!/usr/bin/env node
// The query-frontend deployable: the stave CLI fixed to -target=query-frontend.
import { runCli } from '@stave/cli';

runCli(process.argv.slice(2), { fixedTarget: 'query-frontend' }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
