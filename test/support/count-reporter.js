// Ends every jest run with the plain line CI reads: `N passed, N failed` (", N skipped" when any were
// skipped). Skipped tests are never counted as passed. The line is also written to .tmp/test-count.txt
// so `make test` can print it last, after jest's own summary (which jest writes to stderr).
const fs = require('node:fs');
const path = require('node:path');

class CountReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : '');
    process.stdout.write(`\n${line}\n`);
    const dir = path.join(this.rootDir, '.tmp');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'test-count.txt'), `${line}\n`);
  }
}
module.exports = CountReporter;
