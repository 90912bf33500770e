# Two entry points for a new machine: `make dev` (serve locally) and `make test` (everything).
SHELL := /bin/bash
PORT ?= 8787
PERSIST ?= .wrangler/state
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/version = "\(.*\)"/\1/p}' Cargo.lock)
CARGO_BIN := $(HOME)/.cargo/bin
export WASM_BINDGEN_BIN := $(CARGO_BIN)/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export WRANGLER_SEND_METRICS := false
WRANGLER := node_modules/.bin/wrangler
# Installs from a registry go through scripts/retry: a dropped connection is not a failed build.
RETRY := scripts/retry
NPM_NET := --fetch-retries=5 --fetch-retry-mintimeout=5000 --fetch-retry-maxtimeout=60000

.PHONY: setup test-setup lint-setup build dev test lint fmt bench fuzz token-seed clean

## Installs what is missing to build and serve: wasm target, worker-build, wasm-bindgen CLI,
## wrangler and binaryen.
setup: node_modules/.installed
	@rustup target list --installed | grep -q wasm32-unknown-unknown || $(RETRY) rustup target add wasm32-unknown-unknown
	@command -v $(CARGO_BIN)/worker-build >/dev/null && $(CARGO_BIN)/worker-build --version | grep -q 0.8.7 \
		|| $(RETRY) cargo install worker-build --version 0.8.7 --locked
	@$(WASM_BINDGEN_BIN) --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" \
		|| $(RETRY) cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

## What the tests add: the published CLIs, socket.io-client and happy-wire, schemathesis.
test-setup: setup tests/cli/node_modules/.installed tests/cli-legacy/node_modules/.installed \
	tests/js/node_modules/.installed .venv/.installed

node_modules/.installed: package.json package-lock.json
	$(RETRY) npm ci $(NPM_NET) --no-fund --no-audit
	@touch $@

# The published Happy CLIs (tests/cli_daemon.rs) and socket.io-client (tests/realtime.rs), pinned
# by their package-lock.json. `npm ci` refuses the CLI's lock: some optional per-platform
# packages of its dependencies are missing from the registry, so no lock can list them and
# `npm ci` calls it out of sync; `npm install --no-save` installs the same locked tree.
tests/cli/node_modules/.installed: tests/cli/package.json tests/cli/package-lock.json
	$(RETRY) npm install $(NPM_NET) --prefix tests/cli --ignore-scripts --no-save --no-fund --no-audit
	@touch $@

tests/cli-legacy/node_modules/.installed: tests/cli-legacy/package.json tests/cli-legacy/package-lock.json
	$(RETRY) npm ci $(NPM_NET) --prefix tests/cli-legacy --ignore-scripts --no-fund --no-audit
	@touch $@

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	$(RETRY) npm ci $(NPM_NET) --prefix tests/js --ignore-scripts --no-fund --no-audit
	@touch $@

# schemathesis for the OpenAPI conformance test.
.venv/.installed:
	python3 -m venv .venv
	$(RETRY) .venv/bin/pip install --quiet schemathesis==4.32.5
	@touch $@

## Release build of the worker into build/.
build: setup
	$(CARGO_BIN)/worker-build --release

## A local .dev.vars with a fresh master secret, unless one exists.
.dev.vars:
	@sed "s/^HAPPY_MASTER_SECRET=.*/HAPPY_MASTER_SECRET=$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')/" .dev.vars.example > .dev.vars
	@echo "created .dev.vars with a new HAPPY_MASTER_SECRET"

## Serves on http://127.0.0.1:$(PORT) with local D1, R2 and the Durable Object.
dev: build .dev.vars
	CI=1 $(WRANGLER) d1 migrations apply DB --local --persist-to $(PERSIST)
	$(WRANGLER) dev --ip 127.0.0.1 --port $(PORT) --persist-to $(PERSIST)

## Every test: native unit tests, then the integration tests against `wrangler dev`.
test: build test-setup
	cargo test

lint-setup:
	@rustup target list --installed | grep -q wasm32-unknown-unknown || $(RETRY) rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q clippy || $(RETRY) rustup component add clippy rustfmt

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	cargo fmt --check --manifest-path bench/Cargo.toml
	cargo clippy --release --manifest-path bench/Cargo.toml -- -D warnings
	cargo fmt --check --manifest-path bench/rust-floor/Cargo.toml
	cargo clippy --release --target wasm32-unknown-unknown --manifest-path bench/rust-floor/Cargo.toml -- -D warnings

fmt:
	cargo fmt

bench: build bench/rust-floor/build/index.js
	# 1,000 sockets need more descriptors than the default 1,024 (client and workerd both).
	[ "$$(ulimit -n)" = unlimited ] || [ "$$(ulimit -n)" -ge 4096 ] || ulimit -n 4096; cargo run --release --manifest-path bench/Cargo.toml -- --spawn $(BENCH_ARGS)

# The bench's Rust floor (bench/src/cold.rs), built as the worker is.
bench/rust-floor/build/index.js: bench/rust-floor/Cargo.toml bench/rust-floor/src/lib.rs | setup
	cd bench/rust-floor && $(CARGO_BIN)/worker-build --release

## cargo-fuzz targets (5 minutes each) and a long schemathesis run.
FUZZ_SECONDS ?= 300
fuzz: build test-setup
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.1 --locked
	cd fuzz && for t in $$(cargo +nightly fuzz list); do cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
	SCHEMATHESIS_EXAMPLES=300 cargo test --test openapi_conformance

## The derived token seeds of HAPPY_MASTER_SECRET (from the environment or .dev.vars), for
## `wrangler secret put HAPPY_TOKEN_SEED` / `HAPPY_GITHUB_TOKEN_SEED`.
token-seed:
	@set -a; [ -z "$$HAPPY_MASTER_SECRET" ] && [ -f .dev.vars ] && . ./.dev.vars; set +a; \
		cargo run --quiet --release --example token_seed

clean:
	rm -rf build target .wrangler
