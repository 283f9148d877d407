// `make chaos`: the chaos tier of `make test` (test/chaos/*.test.ts) plus the scenarios too long for it
// (test/chaos/*.chaos.ts: REL-09, REL-10, REL-07, REL-20 and the REL-19 soak in extended.chaos.ts; REL-12
// and REL-13 in store.chaos.ts), one file at a time, with CHAOS_FULL=1 (full-length outages, every
// acknowledged trace checked instead of a sample).
const base = require('../../jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  rootDir: '../..',
  testMatch: ['<rootDir>/test/chaos/**/*.test.ts', '<rootDir>/test/chaos/**/*.chaos.ts'],
  transform: { '^.+\\.ts$': base.transform['^.+\\.ts$'] },
  reporters: ['default'],
  maxWorkers: 1,
};
