# Stave: `make run` starts the whole system on local disk; `make test` runs every test.
# Everything a fresh machine lacks is installed by these targets (pnpm from npm; Debian packages when a
# test needs them).

SHELL := /bin/bash
PNPM_VERSION := 12.4.2
PNPM := pnpm
BIN := node_modules/.bin

.PHONY: run fleet image-root build test chaos lint format typecheck generate bench bench-blocks bench-compaction bench-flush bench-explorer bench-search bench-metrics-generator clean deps tools system-deps deploy-manifests

deps: node_modules/.pnpm-stamp

# Debian packages that tests start (scripts/debian-packages.txt); installed only when missing.
system-deps:
	@scripts/system-deps.sh

tools:
	@command -v pnpm >/dev/null 2>&1 && [ "$$(pnpm --version)" = "$(PNPM_VERSION)" ] || npm i -g pnpm@$(PNPM_VERSION)

node_modules/.pnpm-stamp: package.json pnpm-lock.yaml pnpm-workspace.yaml $(wildcard libs/*/package.json services/*/package.json test/package.json bench/package.json)
	@$(MAKE) --no-print-directory tools
	$(PNPM) install --frozen-lockfile
	@touch $@

# The explorer pages: type-checked, then bundled by esbuild into libs/explorer/dist/ui (bundle size printed).
build: deps
	$(BIN)/tsc -b tsconfig.json
	$(BIN)/tsc -p libs/explorer/ui/tsconfig.json
	node libs/explorer/scripts/build-ui.mjs
	@node scripts/build-info.js > services/stave/dist/build-info.json

# The benchmarks outside the main build (each `make bench-*` compiles its own): type-checked by `make test`
# too, so that a change to a library cannot leave one of them unbuildable.
BENCH_PACKAGES := bench/block bench/blocks bench/backend bench/compaction bench/explorer bench/flush bench/metrics-generator bench/search

typecheck: deps
	$(BIN)/tsc -b tsconfig.json $(BENCH_PACKAGES)

generate: deps
	$(BIN)/buf generate

lint: deps
	$(BIN)/prettier --check --log-level warn .
	$(BIN)/eslint --max-warnings 0 .

format: deps
	$(BIN)/prettier --write --log-level warn .

run: build
	bin/stave -target=all $(ARGS)

# The microservices topology as separate processes on loopback (scripts/fleet/src/main.ts): the frontend's
# API on :3200, the receivers on their default ports, logs in .tmp/fleet/logs/; Ctrl-C stops it cleanly.
# `make fleet ARGS='--help'` lists its options.
fleet: build
	node scripts/fleet/dist/main.js $(ARGS)

# The folder the container image runs from (the Dockerfile's final stage copies exactly this): the stave
# CLI with production dependencies only. test/image-root.test.ts starts it alone and reads a trace back.
IMAGE_ROOT ?= .tmp/image-root
image-root: build
	scripts/image-root.sh $(IMAGE_ROOT)

# Lint and type checks first, then the whole jest suite; its last line is `N passed, N failed`.
# OTel's HTTP exporters load their transport with a dynamic import(), which jest runs only with vm modules.
# On 2 cores jest runs every test file inside its main process (in band): --forceExit ends it once the run is
# complete even if a test left a handle open (one full run on 2026-11-29 never exited after its summary).
test: build typecheck lint system-deps
	@rm -f .tmp/test-count.txt
	@NODE_OPTIONS=--experimental-vm-modules $(BIN)/jest --ci --forceExit; status=$$?; \
	  cat .tmp/test-count.txt 2>/dev/null || echo "0 passed, 1 failed"; exit $$status

# The whole reliability battery (docs/reliability.md): the chaos tier of `make test`, the longer scenarios and
# the seeded soak (CHAOS_SOAK_MINUTES, default 20). One seed for every suite: CHAOS_SEED=<n> replays a run.
# --forceExit as in `make test`: one run printed its summary and never exited.
chaos: build system-deps
	@seed=$${CHAOS_SEED:-$$(( (RANDOM << 15) | RANDOM ))}; start=$$(date +%s); echo "make chaos: seed $$seed (replay with CHAOS_SEED=$$seed)"; \
	  CHAOS_SEED=$$seed CHAOS_FULL=1 NODE_OPTIONS=--experimental-vm-modules $(BIN)/jest --ci --forceExit -c test/chaos/jest.chaos.config.js; status=$$?; \
	  echo "make chaos: seed $$seed, $$(( $$(date +%s) - start )) s, exit $$status"; exit $$status

bench: build
	node bench/dist/run.js $(ARGS)

# Trace by ID over 100 flushed blocks vs one block, local disk and s3rver (bench/blocks/src/run.ts).
bench-blocks: build
	$(BIN)/tsc -b bench/blocks
	node bench/blocks/dist/run.js $(ARGS)

# Compaction of 20 overlapping blocks (~1.75M spans) by bin/stave -target=compactor (bench/compaction/src/run.ts).
bench-compaction: build
	$(BIN)/tsc -b bench/compaction
	node bench/compaction/dist/run.js $(ARGS)

# Block search on 100,000 traces (~1.75M spans) in one block: needle, top-20 and tag-values latency, B/span (bench/search/src/run.ts).
bench-search: build
	$(BIN)/tsc -b bench/search
	node bench/search/dist/run.js $(ARGS)

# Push p99 of the ingest load with the metrics-generator's processors off and on, alternating runs
# (bench/metrics-generator/src/run.ts).
bench-metrics-generator: build
	$(BIN)/tsc -b bench/metrics-generator
	node bench/metrics-generator/dist/run.js $(ARGS)

# Block building alone: the ingester's builder on the WAL of ~1.75M spans of the bench's workload (bench/flush/src/run.ts).
bench-flush: build
	$(BIN)/tsc -b bench/flush
	node bench/flush/dist/run.js $(ARGS)

# The explorer's trace view on a 20,000-span trace in headless Chromium, and the bundle size (bench/explorer/src/run.ts).
bench-explorer: build system-deps
	$(BIN)/tsc -b bench/explorer
	node bench/explorer/dist/run.js $(ARGS)

# Plain Kubernetes manifests in deploy/kubernetes, rendered from helm/stave (Go's text/template + sprig, built
# from Debian's Go packages; test/helm/deploy.test.ts checks they equal a fresh render).
deploy-manifests: system-deps
	deploy/kubernetes/generate.sh

clean:
	rm -rf libs/*/dist services/*/dist test/dist bench/dist bench/blocks/dist bench/compaction/dist bench/flush/dist bench/explorer/dist bench/search/dist bench/metrics-generator/dist scripts/fleet/dist
