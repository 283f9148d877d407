// One jest run over the whole workspace. TypeScript runs through @swc/jest (no type checking here:
// `make lint` / `tsc -b` do that), and workspace packages resolve to their sources so unit tests need
// no build. Tests under test/ drive the built `bin/stave`, so `make test` builds first.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  testMatch: ['<rootDir>/{libs,services,test,bench}/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // Scratch output (e.g. `make image-root`'s copy of the stave package) is not part of the workspace.
  modulePathIgnorePatterns: ['<rootDir>/.tmp/'],
  moduleNameMapper: {
    '^@stave/cli$': '<rootDir>/services/stave/src/index.ts',
    '^@stave/bench$': '<rootDir>/bench/src/index.ts',
    '^@stave/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
    '^@stave/([a-z-]+)/testing$': '<rootDir>/libs/$1/src/testing.ts',
    '^@stave/block/otlp-transcode$': '<rootDir>/libs/block/src/otlp-transcode.ts',
  },
  reporters: ['default', '<rootDir>/test/support/count-reporter.js'],
  testTimeout: 60000,
};
