#!/usr/bin/env bash
# Assembles the folder the container image runs from (the Dockerfile's final stage copies exactly this):
# the `stave` CLI package with its production dependencies only (`pnpm deploy --prod`), the built dist of
# every workspace library it uses, and the `bin/stave` entry point. Sources, tests, type declarations and
# TypeScript build info are left out. `make build` first (make image-root does).
set -euo pipefail
out=${1:-.tmp/image-root}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ -f services/stave/dist/main.js ] || { echo "stave is not built: run 'make build' first" >&2; exit 1; }
rm -rf "$out"
# Copies, not hard links into pnpm's store: the folder must stand alone (a container layer, a tarball).
pnpm --filter @stave/cli deploy --prod --prefer-offline --package-import-method=copy "$out" >/dev/null
# pnpm deploy copies whole workspace packages: keep what runs.
find "$out" \( -name src -o -name '*.tsbuildinfo' -o -name tsconfig.json \) -prune -path '*/node_modules/@stave/*' -exec rm -rf {} +
find "$out" -maxdepth 1 \( -name src -o -name tsconfig.json -o -name pnpm-lock.yaml -o -name pnpm-workspace.yaml \) -exec rm -rf {} +
find "$out" -path '*/dist/*' \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' -o -name '*.test.d.ts.map' \) -delete
find "$out" -path '*/dist/*' \( -name '*.d.ts' -o -name '*.d.ts.map' \) -delete
mkdir -p "$out/bin"
# The entry point is the repository's own launcher: it finds dist/main.js beside it.
cp bin/stave "$out/bin/stave"
chmod 755 "$out/bin/stave"
echo "image root: $out ($(du -sh "$out" | cut -f1))"
