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

.PHONY: dev test build setup tools lint unit blackbox fuzz fuzz-bounded seed clean deploy deploy-check

dev: build
	npx wrangler d1 migrations apply postbridge --local
	node scripts/seed.mjs
	npx wrangler dev --ip 127.0.0.1 --port 8787 $(DEV_VARS)

test: build lint unit blackbox fuzz-bounded deploy-check

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

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

unit:
	cargo test

# Every black-box file starts its own Miniflare against the one artefact in build/.
blackbox:
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
