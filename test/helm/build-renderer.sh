#!/usr/bin/env bash
# Builds the chart renderer (test/helm/render) to $1 (default .tmp/helm-render), offline, in GOPATH mode on
# Debian's packages: golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v2-dev (make
# system-deps installs them). No module download happens: GOPROXY=off, GOTOOLCHAIN=local.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/.tmp/helm-render}
gopath=/usr/share/gocode
if ! command -v go >/dev/null 2>&1; then
  echo "build-renderer: no go on PATH; run 'make system-deps' (installs golang-go and the Go packages)" >&2
  exit 1
fi
src=$root/test/helm/render/main.go
# Debian ships sprig v3 under github.com/Masterminds/sprig (GOPATH mode resolves its /v3 imports); should a
# release lay it out under .../sprig/v3 instead, build a copy that imports that path.
if [ ! -f "$gopath/src/github.com/Masterminds/sprig/functions.go" ] && [ -f "$gopath/src/github.com/Masterminds/sprig/v3/functions.go" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed 's#"github.com/Masterminds/sprig"#"github.com/Masterminds/sprig/v3"#' "$src" >"$tmp/main.go"
  src=$tmp/main.go
fi
mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH=$gopath GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
export GOCACHE=${GOCACHE:-$root/.tmp/go-build}
go build -o "$out" "$src"
