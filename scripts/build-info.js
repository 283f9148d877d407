// Prints the build info served at /api/status/buildinfo: revision and branch from git when there is one.
const { execSync } = require('node:child_process');
const git = (args) => {
  try {
    return execSync(`git ${args}`, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
};
process.stdout.write(
  JSON.stringify({
    // A container build has no .git (see .dockerignore): it passes these in (Dockerfile build args).
    revision: process.env.STAVE_REVISION || git('rev-parse --short HEAD'),
    branch: process.env.STAVE_BRANCH || git('rev-parse --abbrev-ref HEAD'),
    buildUser: process.env.USER ?? '',
    buildDate: new Date().toISOString(),
  }) + '\n',
);
