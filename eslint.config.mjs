// Lint: typescript-eslint's type-checked rules where they catch real bugs (floating promises above all:
// an unawaited promise is a lost error or a lost write).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const groundMessage = 'low-level packages import @stave/core, not the process runtime or the components; take plain options instead of StaveConfig';
const groundPaths = ['@stave/server', '@stave/cli', '@stave/distributor', '@stave/ingester', '@stave/query', '@stave/receivers'].map((name) => ({
  name,
  message: groundMessage,
}));
const groundPatterns = [{ group: ['@stave/server/*', '**/server/src', '**/server/src/*'], message: groundMessage }];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'libs/proto/src/gen/**', 'data/**', 'bench/out/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The ground does not depend on the house: the data model, block format, backends and ring use
    // @stave/core (errors, tenant IDs, logs, lifecycle) and take plain options, never the HTTP process
    // runtime, StaveConfig or the components built on them (services/stave/src/options.ts builds their
    // options from the config).
    files: [
      'libs/core/**/*.ts',
      'libs/model/**/*.ts',
      'libs/block/**/*.ts',
      'libs/backend/**/*.ts',
      'libs/ring/**/*.ts',
      'libs/traceql/**/*.ts',
      'libs/compactor/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': ['error', { paths: groundPaths, patterns: groundPatterns }],
    },
  },
  {
    // ... and @stave/core has no HTTP server and no config in it at all.
    files: ['libs/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...groundPaths,
            ...['node:http', 'node:http2', 'node:https', 'http', 'http2', 'https', '@connectrpc/connect-node', 'yaml'].map((name) => ({
              name,
              message: '@stave/core has no HTTP and no config: that belongs to @stave/server',
            })),
          ],
          patterns: groundPatterns,
        },
      ],
    },
  },
);
