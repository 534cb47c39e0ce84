# One entry point for humans and CI. `make run` installs everything and runs statuslist;
# `make test` is what .ci/run executes.
PY ?= python3
PIP := $(PY) -m pip

.PHONY: install run nginx postgres chromium wrk fuzz-tools test test-rust test-python lint bench loadtest fuzz fmt clean

install:  ## Python deps + the native extension (release build) into the current interpreter
	$(PIP) install --disable-pip-version-check -q -e '.[dev]'

run: install  ## serve on http://127.0.0.1:8080 from ./statuslist-data (dev setup on first start)
	statuslist serve

nginx:  ## nginx, njs and the offload's native module, for the CDN/offload tests and the GET benchmark
	bash deploy/nginx/ensure-nginx.sh
	sh deploy/nginx/build-module.sh

postgres:  ## PostgreSQL server binaries, for the storage contract and multi-instance tests
	sh deploy/ensure-postgres.sh

chromium:  ## headless Chromium, which renders the HTML load-test report in tests/loadtest
	sh deploy/ensure-chromium.sh

wrk:  ## the native HTTP load generator, for benchmarks/put_wrk.py and get_wrk.py
	sh deploy/ensure-wrk.sh

fuzz-tools:  ## cargo-fuzz (stable toolchain), for tests/fuzz and `make fuzz`
	sh deploy/ensure-fuzz.sh

test: install nginx postgres chromium fuzz-tools test-rust lint test-python

test-rust:
	cargo test --locked -p statuslist-core

lint:
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo fmt --manifest-path rust/fuzz/Cargo.toml --check
	$(PY) -m ruff check python tests benchmarks
	$(PY) -m ruff format --check python tests benchmarks
	$(PY) -m mypy
	$(PY) -m mypy.stubtest statuslist._native

test-python:
	$(PY) -m pytest -q

bench: install nginx postgres wrk
	$(PY) -m pytest benchmarks -q --benchmark-only --benchmark-columns=median,min,max,rounds
	$(PY) -m benchmarks.put_wrk
	$(PY) -m benchmarks.get_wrk

loadtest: install  ## the issue #5 acceptance scenario against a fresh spawned server
	statuslist loadtest --spawn --entries 10M --revocations 200k --fetchers 50 --duration 60 --json loadtest.json

fuzz: install fuzz-tools  ## a campaign: every target in turn for FUZZ_SECONDS (rust/fuzz/README.md)
	sh deploy/fuzz-campaign.sh $(FUZZ_SECONDS)

fmt:
	cargo fmt --all
	cargo fmt --manifest-path rust/fuzz/Cargo.toml
	$(PY) -m ruff format python tests benchmarks
	$(PY) -m ruff check --fix python tests benchmarks

clean:
	cargo clean
	rm -rf rust/fuzz/target
	rm -f python/statuslist/_native*.so
