#!/usr/bin/env node
// Entry point of the `stave` binary (bin/stave).
import { setFlagsFromString } from 'node:v8';
import { runCli } from './cli';

// bin/stave gives the main thread a larger young generation (docs/limits.md, "Memory of one process").
// V8 applies heap flags to every isolate created later too, over each worker thread's own
// `resourceLimits`: set them back to V8's defaults (0) before any worker starts, so that only the main
// thread, which holds each push's objects across its WAL sync, gets the larger one.
setFlagsFromString('--min-semi-space-size=0');
setFlagsFromString('--max-semi-space-size=0');

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
