#!/usr/bin/env bash
# Builds the chart renderer (test/helm/render) to $1 (default .tmp/helm-render), offline, in GOPATH mode on
# Debian's packages: golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev (make
# system-deps installs them). No module download happens: GOPROXY=off, GOTOOLCHAIN=local.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/.tmp/helm-render}
if ! command -v go >/dev/null 2>&1; then
  echo "build-renderer: no go on PATH; run 'make system-deps' (installs golang-go and the Go packages)" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
export GOCACHE=${GOCACHE:-$root/.tmp/go-build}
go build -o "$out" "$root/test/helm/render/main.go"
