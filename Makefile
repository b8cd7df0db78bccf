# Two commands: `make dev` serves the API locally with demo data; `make test` runs every test.
# Both install what is missing first (wasm target, worker-build, wasm-bindgen-cli at the
# version in Cargo.lock, npm packages; for `make test`, Schemathesis and mastodon-mock in .venv), so a fresh
# machine needs only rustup, cargo, node and python3.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Wrangler would try to send usage metrics on every command.
export WRANGLER_SEND_METRICS := false

WORKER_BUILD_VERSION := 0.8.7
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)

# worker-build would download these; point it at local ones (see ../shared/TOOLCHAIN.md).
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export ESBUILD_BIN := $(CURDIR)/node_modules/.bin/esbuild
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt

# Rate limits from the environment, when set: `RATE_LIMIT_PER_MINUTE=5 make dev`; and
# OUTBOUND_ALLOW_LOOPBACK=1 to publish to platforms on this machine (`make pds`).
DEV_VARS := $(foreach v,RATE_LIMIT_PER_MINUTE RATE_LIMIT_PER_15_MINUTES OUTBOUND_ALLOW_LOOPBACK,$(if $(value $(v)),--var $(v):$(value $(v))))

.PHONY: dev test build setup tools lint unit wasm-test blackbox fuzz fuzz-bounded seed clean deploy deploy-check

dev: build
	npx wrangler d1 migrations apply postbridge --local
	node scripts/seed.mjs
	npx wrangler dev --ip 127.0.0.1 --port 8787 $(DEV_VARS)

test: build lint unit wasm-test blackbox fuzz-bounded deploy-check

setup: tools node_modules/.installed

tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@worker-build --version 2>/dev/null | grep -q "$(WORKER_BUILD_VERSION)" || cargo install worker-build --version $(WORKER_BUILD_VERSION)
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

build: setup
	worker-build --release
	node scripts/strip_wasm_names.mjs build/index_bg.wasm

# The dashboard (issue 14): dashboard/build.mjs bundles dashboard/src with esbuild into
# dashboard/dist, the static assets of wrangler.toml's `[assets]` (not committed; rebuilt here
# when a source changes, before `make dev` and `make test` need it).
DASHBOARD_SOURCES := $(shell find dashboard/src -type f) dashboard/build.mjs
dashboard/dist/index.html: $(DASHBOARD_SOURCES) node_modules/.installed
	node dashboard/build.mjs
build: dashboard/dist/index.html

# Browser tests (issue 14): Debian's chromium, installed when missing, driven by playwright-core
# (no browser download) against the worker served on loopback by Miniflare.
.PHONY: chromium browser
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

browser: build chromium
	node --test tests/browser/*.test.mjs
test: browser

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings

unit:
	cargo test

# The MCP server's second client (issue 12): PyPI's MCP SDK, pinned, in the same .venv;
# tests/mcp.test.mjs runs tests/mcp_client.py with it.
MCP_PY_VERSION := 2.3.0
MCP_PY := .venv/.mcp-$(MCP_PY_VERSION)

$(MCP_PY):
	python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check mcp==$(MCP_PY_VERSION)
	touch $@

# The code that only runs in wasm (src/wasm_tests.rs: Web Crypto, JS dates, D1 row decoding),
# compiled for wasm32 and run under Node by wasm-bindgen-test-runner, which comes with
# wasm-bindgen-cli (`tools`). No debug info: it only slows the first build of the dependencies.
wasm-test: setup
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CARGO_PROFILE_TEST_DEBUG=0 \
		cargo test --target wasm32-unknown-unknown --lib

# Every black-box file starts its own Miniflare against the one artefact in build/.
blackbox: $(MCP_PY)
	node --test --test-concurrency=2 tests/*.test.mjs

# Fuzzing (issue 6): Schemathesis, from PyPI at a pinned version, in .venv; scripts/fuzz.mjs
# serves the built worker and runs it in two passes (API key, then session; see the script).
# `make test` runs the bounded run: deterministic (the same cases every run), 25 examples per
# operation, every phase. `make fuzz` is the long one: FUZZ_EXAMPLES per operation, a random
# seed printed at the end of each pass (FUZZ_SEED=<it> reuses it), phases from FUZZ_PHASES.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS := .venv/.schemathesis-$(SCHEMATHESIS_VERSION)
FUZZ_EXAMPLES ?= 300
FUZZ_PHASES ?= examples,coverage,fuzzing,stateful
FUZZ_SEED ?=

$(SCHEMATHESIS):
	python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	touch $@

# The Mastodon API mock of the publishing tests (scripts/platforms/mastodon.mjs), from PyPI at a
# pinned version, its dependencies pinned by the constraints file, into the same .venv.
MASTODON_MOCK_VERSION := 0.6.1
MASTODON_MOCK := .venv/.mastodon-mock-$(MASTODON_MOCK_VERSION)

$(MASTODON_MOCK): scripts/platforms/mastodon-mock.constraints.txt
	test -x .venv/bin/pip || python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check mastodon-mock==$(MASTODON_MOCK_VERSION) -c scripts/platforms/mastodon-mock.constraints.txt
	touch $@

# The black-box suite starts it (tests/platforms.test.mjs and the publishing tests).
blackbox: $(MASTODON_MOCK)

fuzz-bounded: build $(SCHEMATHESIS)
	node scripts/fuzz.mjs --examples 25 --deterministic

fuzz: build $(SCHEMATHESIS)
	node scripts/fuzz.mjs --examples $(FUZZ_EXAMPLES) --phases $(FUZZ_PHASES) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

clean:
	rm -rf build dist .wrangler .schemathesis .hypothesis

# The deploy path (issue 15, README "Deploy"). `deploy-check` is offline and part of `make test`:
# [env.production] binds everything, holds no development secret, and a dry-run deploy builds a
# bundle under the Workers size limits (the gzip size is printed). `deploy` needs a Cloudflare
# login (`npx wrangler login` or CLOUDFLARE_API_TOKEN): it refuses placeholder ids and
# development or missing secrets, sets any of CREDENTIALS_KEY, MEDIA_CAPABILITY_SECRET,
# R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY given in the environment, applies the migrations
# remotely, deploys, and smoke-tests DEPLOY_URL when set.
deploy-check: build
	node scripts/deploy.mjs check

deploy: build
	node scripts/deploy.mjs deploy

# The benchmark of issue 5 (not part of `make test`): the release worker and the minimal worker
# of bench/minimal (own target dir, so the product's build is untouched), served on 127.0.0.1
# in Miniflare and driven with wrk; prints the table and budget marks and writes BENCH.md.
# Rate limits, once they exist, are set out of the way.
.PHONY: bench
bench: build
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	@grep -A1 '^name = "wasm-bindgen"$$' bench/minimal/Cargo.lock | grep -q '"$(WASM_BINDGEN_VERSION)"' || \
		cargo update --manifest-path bench/minimal/Cargo.toml -p wasm-bindgen --precise $(WASM_BINDGEN_VERSION)
	cd bench/minimal && CARGO_TARGET_DIR=$(CURDIR)/bench/minimal/target worker-build --release
	RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_PER_15_MINUTES=1000000 node bench/run.mjs
	node bench/publish.mjs

# A real Bluesky PDS on 127.0.0.1:2583 (PDS_PORT=… to move it) with a demo account, for the
# README walkthrough; prints the handle and app password; Ctrl-C stops it (its data is temporary).
.PHONY: pds
pds: node_modules/.installed
	node scripts/platforms/pds.mjs --port $${PDS_PORT:-2583}
